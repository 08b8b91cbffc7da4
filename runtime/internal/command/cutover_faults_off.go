//go:build !kappa_faults

package command

// cutoverFault does nothing in the product; see cutover_faults_hook.go.
func cutoverFault(string) {}
