package sdk

import "context"

// Auditor is implemented by a sink that can account for everything it
// committed, so that `kappa-runtime audit` can check a pipeline's results
// back to exact offset ranges. It is optional: a sink without it cannot be
// audited, and kappa-runtime audit says so.
type Auditor interface {
	// Audit returns, for every stream the pipeline (the Setup's) committed
	// to, what the sink holds: the committed positions, the per-range
	// counters recorded in each commit's transaction, and the aggregate
	// rows summed per range. It only reads.
	Audit(ctx context.Context) ([]StreamAudit, error)
}

// StreamAudit is what a sink holds about one stream of a pipeline.
type StreamAudit struct {
	Stream    string
	Positions []Position
	// Batches holds one entry per committed range, with the counters the
	// runtime passed in Commit.Ranges.
	Batches []RangeStats
	// Aggregates holds one entry per distinct range found on aggregate
	// rows: how many rows carry it and the sum of their counts.
	Aggregates []AggregateRange
	// Adopted holds the ranges the sink took over from a program before
	// Kappa (Adopter): one per partition, counters unknown. The aggregate
	// rows inside one carry that program's own ranges.
	Adopted []OffsetRange
}

// AggregateRange sums the aggregate rows that carry one offset range.
type AggregateRange struct {
	OffsetRange
	Rows  int64
	Count int64
}
