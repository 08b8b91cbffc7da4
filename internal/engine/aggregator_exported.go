package engine

import (
	"time"

	"github.com/kappa-stream/kappa/sdk"
)

// Aggregator sums facts per (partition, UTC window, dimension values)
// exactly as the engine does for one batch. It is exported so that the
// benchmark harness measures the same aggregation without plugins.
type Aggregator struct{ agg *aggregator }

// NewAggregator returns an empty aggregator for windows of the given length
// and facts carrying ndims dimension values.
func NewAggregator(window time.Duration, ndims int) *Aggregator {
	return &Aggregator{agg: newAggregator(window, ndims)}
}

// Add counts fact f, read from partition p. It fails when f carries another
// number of dimension values than the aggregator was made for. The rows'
// FirstOffset is unknown (-1): Add is not given the records' offsets.
func (a *Aggregator) Add(p int32, f sdk.Fact) error {
	_, err := a.agg.add(p, -1, f)
	return err
}

// Rows returns the aggregate rows sorted by partition, window and
// dimensions, each carrying its partition's range from ranges.
func (a *Aggregator) Rows(ranges map[int32]sdk.OffsetRange) []sdk.Row { return a.agg.result(ranges) }
