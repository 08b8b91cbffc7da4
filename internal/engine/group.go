package engine

import (
	"context"
	"errors"
	"time"

	"github.com/kappa-stream/kappa/sdk"
)

// Consumer groups (Config.Group): the group decides which partitions this
// runtime polls; the sink's fenced positions stay the only truth. When the
// source reports a rebalance (sdk.RebalanceError from Poll), Run treats it
// as no failure and resumes: the commit in flight finishes (a revocation
// lets it; for lost partitions the fence decides), every batch polled but
// not committed is dropped, so none that still carries a partition that
// left can commit afterwards, and the positions are read again before the
// source is sought — Seek is the source's sign that it may let revoked
// partitions go, and it gives newly assigned partitions their committed
// positions. Whatever the group gets wrong, a batch still holding a moved
// partition is fenced whole, or lands first and fences the new owner's
// first batch, which then re-reads.

// groupDrainCheck is how often a group member's drain reads the positions
// every member committed.
const groupDrainCheck = 500 * time.Millisecond

// OwnershipObserver is an Observer that also learns which partitions a
// consumer-group member owns after each rebalance.
type OwnershipObserver interface {
	Owned(partitions []int32)
}

// rebalanced reports whether err is the source's rebalance notice, and
// tells the log and the observer what changed.
func (e *Engine) rebalanced(err error) bool {
	var rb *sdk.RebalanceError
	if !errors.As(err, &rb) {
		return false
	}
	e.cfg.Logger.Info("consumer group rebalanced; settling the commit in flight and re-reading positions",
		"assigned", rb.Assigned, "revoked", rb.Revoked, "lost", rb.Lost, "owned", rb.Owned)
	if o, ok := e.cfg.Observer.(OwnershipObserver); ok {
		o.Owned(rb.Owned)
	}
	return true
}

// groupCaughtUp reports, at most every groupDrainCheck, whether every
// partition's committed position in the sink reached its drain target,
// whoever committed it.
func (e *Engine) groupCaughtUp(ctx context.Context, targets []sdk.Watermark) bool {
	if time.Since(e.lastDrainCheck) < groupDrainCheck {
		return false
	}
	e.lastDrainCheck = time.Now()
	readCtx, cancel := context.WithTimeout(ctx, e.cfg.CommitTimeout)
	positions, err := e.sink.Positions(readCtx, e.stream)
	cancel()
	if err != nil {
		e.cfg.Logger.Warn("drain: read the group's committed positions", "err", err)
		return false
	}
	at := make(map[int32]int64, len(positions))
	for _, p := range positions {
		at[p.Partition] = p.NextOffset
	}
	return e.caughtUp(targets, at)
}
