package pgsink

import (
	"context"
	"fmt"

	"github.com/kappa-stream/kappa/sdk"
)

var _ sdk.WindowReader = (*Sink)(nil)

// RecentWindows sums the aggregate rows of the n newest windows, newest
// first. The covering index on (timestamp, partition_id[, dims]) INCLUDE
// (count[, sum]) lets it read only those windows, backwards.
func (s *Sink) RecentWindows(ctx context.Context, n int) ([]sdk.WindowTotal, error) {
	if s.db == nil {
		return nil, errNotOpen
	}
	_, st := s.bound() // a swap rebinds the statements (generations.go)
	if n <= 0 {
		return nil, nil
	}
	var windows []sdk.WindowTotal
	var w sdk.WindowTotal
	_, err := forEach(ctx, s.db, `SELECT "timestamp", COALESCE(sum("count"), 0) FROM `+st.aggregate()+
		` GROUP BY "timestamp" ORDER BY "timestamp" DESC LIMIT $1`, []any{n}, []any{&w.Window, &w.Count}, func() error {
		windows = append(windows, w)
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("postgres-sink: recent windows: read %s: %w", st.aggregateTable, err)
	}
	return windows, nil
}
