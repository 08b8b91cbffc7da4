package sdk

import (
	"sync/atomic"

	"github.com/kappa-stream/kappa/internal/arena"
)

// lease is a polled batch's loan of an arena slot (Batch.Release).
type lease struct {
	arena    *arena.Arena
	slot     arena.Span
	released atomic.Bool
}

// release returns the slot once, however often it is called; a nil lease
// has nothing to return.
func (l *lease) release() {
	if l != nil && l.released.CompareAndSwap(false, true) {
		l.arena.Release(l.slot)
	}
}
