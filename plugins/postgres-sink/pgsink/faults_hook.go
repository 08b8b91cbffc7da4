//go:build kappa_faults

package pgsink

import (
	"sync"

	"github.com/kappa-stream/kappa/internal/faulthook"
)

// The test-only fault hook (internal/faulthook): compiled in only with the
// build tag kappa_faults, which only the end-to-end harness's builds use; a
// released postgres-sink holds none of it (faults_off.go).

var (
	faultsOnce sync.Once
	faults     *faulthook.Hook // nil when KAPPA_TEST_SINK_FAULTS is unset
)

// testFault is called at each fault point of the commit path; it kills
// the process with the probability set for that point.
func testFault(at faultPoint) {
	faultsOnce.Do(func() { faults = faulthook.Load("postgres-sink") })
	switch at {
	case beforeCommit:
		faults.At(faulthook.BeforeCommit)
	case afterCommit:
		faults.At(faulthook.AfterCommit)
	case afterRename:
		faults.At(faulthook.AfterRename)
	}
}
