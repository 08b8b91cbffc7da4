package sdk

import (
	"context"
	"time"
)

// Compactor is implemented by a sink that can roll up settled history: for
// a partition, a span [a, b) of consecutive committed ranges becomes one
// aggregate row per (window[, dimensions]) carrying [a, b), and one batch
// record with the summed counters, so that rows grow with windows rather
// than with batches. Sums per (partition, window, dimensions) never change
// and an audit stays clean. It is optional: a sink without it is simply not
// compacted.
type Compactor interface {
	// Compact merges spans of ranges committed at least req.OlderThan ago,
	// each span in one transaction that is all or nothing, until nothing is
	// left to merge or req.Budget is spent (it starts no span after that).
	// It may run while the same pipeline commits: a span only covers
	// ranges below every partition's committed position, and a span that
	// another compactor or commit changed meanwhile is skipped (Raced), not
	// an error.
	Compact(ctx context.Context, req CompactRequest) (CompactResult, error)
}

// CompactRequest bounds one Compact call.
type CompactRequest struct {
	// OlderThan: only ranges committed at least this long ago are merged;
	// 0 merges everything committed.
	OlderThan time.Duration
	// Budget is how long the call may keep starting spans; 0 means no
	// bound (a full pass of `kappa-runtime compact`).
	Budget time.Duration
	// Full merges every partition's settled ranges into one span; without
	// it only spans of similar size are merged (levels), so that a large
	// settled span is not rewritten with every small new one.
	Full bool
}

// CompactResult says what one Compact call did.
type CompactResult struct {
	// Spans is how many spans were merged, replacing Batches batch
	// records and RowsBefore aggregate rows by Spans batch records and
	// RowsAfter aggregate rows.
	Spans, Batches, RowsBefore, RowsAfter int64
	// Raced counts spans left alone because their ranges changed between
	// planning and locking (another compactor merged them first).
	Raced int64
	// Done is true when the call stopped because nothing was left to merge
	// rather than because the budget was spent.
	Done bool
}
