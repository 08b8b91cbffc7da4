package pgsink

// faultPoint names a place on the commit path where the end-to-end chaos
// test may kill the sink (faults_hook.go, built only with the tag
// kappa_faults). Its values are faulthook.Point's, in the same order:
// this file, built into a released sink, must not import faulthook.
type faultPoint int

const (
	beforeCommit faultPoint = iota // after the statements, before COMMIT
	afterCommit                    // after COMMIT succeeded, before the reply
	afterRename                    // after a generation swap's transaction committed
)
