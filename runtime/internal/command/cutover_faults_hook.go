//go:build kappa_faults

package command

import (
	"fmt"
	"os"
	"syscall"
)

// cutoverFault kills the runtime with SIGKILL right after the cutover step
// named by KAPPA_TEST_CUTOVER_KILL (freeze, catch_up, swap, live) was
// recorded, so that the end-to-end tests can restart a reprocess at every
// step. Only in builds with the tag kappa_faults (the e2e harness's).
func cutoverFault(step string) {
	if os.Getenv("KAPPA_TEST_CUTOVER_KILL") != step {
		return
	}
	fmt.Fprintf(os.Stderr, "test fault hook: SIGKILL after cutover step %s\n", step)
	syscall.Kill(os.Getpid(), syscall.SIGKILL)
	select {}
}
