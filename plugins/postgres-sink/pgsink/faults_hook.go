//go:build kappa_faults

package pgsink

import (
	"fmt"
	"math/rand/v2"
	"os"
	"strconv"
	"strings"
	"sync"
	"syscall"
)

// The fault hook is for tests only: it lets the chaos test kill the sink
// process exactly at the commit boundary, which random kills from outside
// almost never hit. It is compiled in only with the build tag kappa_faults,
// which only the end-to-end harness's builds use (e2e/harness_test.go); a
// released postgres-sink holds none of it (faults_off.go). Even then it is off
// unless the environment variable KAPPA_TEST_SINK_FAULTS is set, e.g.
//
//	KAPPA_TEST_SINK_FAULTS=before_commit=0.02,after_commit=0.02,seed=7
//
// before_commit is the probability that the process kills itself with
// SIGKILL after the transaction's statements and right before COMMIT;
// after_commit that it does so right after COMMIT succeeded, before the
// runtime learns the outcome. seed seeds the draws (mixed with the pid, so
// that a restarted sink does not repeat its predecessor's draws).
const faultsEnv = "KAPPA_TEST_SINK_FAULTS"

type faultHook struct {
	mu                        sync.Mutex
	rng                       *rand.Rand
	beforeCommit, afterCommit float64
}

// stderr is the process's stderr as it was before go-plugin's Serve
// replaced os.Stderr with a pipe that the runtime discards; the runtime
// logs what arrives on the original one.
var stderr = os.Stderr

var (
	faultsOnce sync.Once
	faults     *faultHook // nil when off
)

// loadFaults reads the hook's settings once; a malformed value is ignored
// with a message on stderr rather than failing a production sink.
func loadFaults() *faultHook {
	faultsOnce.Do(func() {
		spec := os.Getenv(faultsEnv)
		if spec == "" {
			return
		}
		h := &faultHook{}
		seed := uint64(0)
		for _, kv := range strings.Split(spec, ",") {
			k, v, _ := strings.Cut(strings.TrimSpace(kv), "=")
			var err error
			switch k {
			case "before_commit":
				h.beforeCommit, err = strconv.ParseFloat(v, 64)
			case "after_commit":
				h.afterCommit, err = strconv.ParseFloat(v, 64)
			case "seed":
				seed, err = strconv.ParseUint(v, 10, 64)
			default:
				err = fmt.Errorf("unknown key %q", k)
			}
			if err != nil {
				fmt.Fprintf(stderr, "[ERROR] postgres-sink: %s=%q ignored: %v\n", faultsEnv, spec, err)
				return
			}
		}
		h.rng = rand.New(rand.NewPCG(seed, uint64(os.Getpid())))
		faults = h
	})
	return faults
}

// maybeDie kills the process with probability p.
func (h *faultHook) maybeDie(p float64, where string) {
	if h == nil || p <= 0 {
		return
	}
	h.mu.Lock()
	die := h.rng.Float64() < p
	h.mu.Unlock()
	if die {
		// The prefix gives the line a level in the runtime's log.
		fmt.Fprintf(stderr, "[WARN] postgres-sink: test fault hook: SIGKILL %s\n", where)
		syscall.Kill(os.Getpid(), syscall.SIGKILL)
		select {} // the signal is on its way
	}
}

// testFault is called at each fault point of the commit path; it kills
// the process with the probability set for that point.
func testFault(at faultPoint) {
	h := loadFaults()
	if h == nil {
		return
	}
	switch at {
	case beforeCommit:
		h.maybeDie(h.beforeCommit, "before COMMIT")
	case afterCommit:
		h.maybeDie(h.afterCommit, "after COMMIT")
	}
}
