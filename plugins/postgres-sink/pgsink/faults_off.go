//go:build !kappa_faults

package pgsink

// testFault does nothing in the product: the fault hook that kills the
// process at the commit boundary exists only in builds with the tag
// kappa_faults (faults_hook.go), which the end-to-end harness makes.
func testFault(faultPoint) {}
