package engine

import (
	"context"
	"errors"
	"maps"
	"slices"
	"sync"

	"github.com/kappa-stream/kappa/internal/pluginclient"
	"github.com/kappa-stream/kappa/sdk"
)

// Telling the source what was committed (sdk.CommitObserver): after each
// commit its positions wait in tellSource; whichever goroutine may call
// the source next delivers them — the poller before its next Poll, or
// Run's goroutine when no poller runs — so that Source calls never
// overlap. Positions of several commits merge (the latest wins); a failed
// delivery is logged and retried with the next one: nothing depends on it,
// the sink's positions stay the truth.
type tellSource struct {
	mu sync.Mutex
	// pending holds the positions not yet delivered.
	pending map[int32]int64
	// off is set once the source said it does not observe commits.
	off bool
}

// committedPositions queues the positions a commit reached.
func (e *Engine) committedPositions(ranges []sdk.RangeStats) {
	if _, ok := e.source.(sdk.CommitObserver); !ok {
		return
	}
	t := &e.tell
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.off {
		return
	}
	if t.pending == nil {
		t.pending = make(map[int32]int64, len(ranges))
	}
	for _, r := range ranges {
		t.pending[r.Partition] = r.End
	}
}

// tellCommitted delivers the queued positions, if any. The caller must be
// the only goroutine calling the source at the time.
func (e *Engine) tellCommitted(ctx context.Context) {
	o, ok := e.source.(sdk.CommitObserver)
	if !ok {
		return
	}
	t := &e.tell
	t.mu.Lock()
	pending := t.pending
	t.pending = nil
	t.mu.Unlock()
	if len(pending) == 0 {
		return
	}
	positions := make([]sdk.Position, 0, len(pending))
	for _, p := range slices.Sorted(maps.Keys(pending)) {
		positions = append(positions, sdk.Position{Partition: p, NextOffset: pending[p], StreamID: e.cfg.StreamID})
	}
	callCtx, cancel := context.WithTimeout(ctx, e.cfg.PollTimeout)
	defer cancel()
	err := o.Committed(callCtx, positions)
	switch {
	case err == nil:
	case errors.Is(err, pluginclient.ErrCommittedUnsupported):
		t.mu.Lock()
		t.off = true
		t.mu.Unlock()
	default:
		// Told again with the next delivery, unless a later commit moved
		// the partition on: a poller stopped mid-call (a drain's end)
		// must not lose the last positions.
		t.mu.Lock()
		if t.pending == nil {
			t.pending = make(map[int32]int64, len(pending))
		}
		for p, next := range pending {
			if _, newer := t.pending[p]; !newer {
				t.pending[p] = next
			}
		}
		t.mu.Unlock()
		if ctx.Err() == nil {
			e.cfg.Logger.Warn("could not tell the source what was committed; told again after the next commit (the sink's positions stay the truth)",
				"partitions", len(positions), "err", err)
		}
	}
}
