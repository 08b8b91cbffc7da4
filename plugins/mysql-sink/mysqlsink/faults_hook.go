//go:build kappa_faults

package mysqlsink

import "github.com/kappa-stream/kappa/internal/faulthook"

// The test-only fault hook (internal/faulthook), compiled in only with the
// build tag kappa_faults, which only the end-to-end harness's builds use.

var faults = faulthook.OnFirstUse("mysql-sink")

// testFault kills the process at a fault point with the probability set
// for it; faults.go lists the points in faulthook's order.
func testFault(at faultPoint) { faults.At(faulthook.Point(at)) }
