package engine

import (
	"cmp"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/kappa-stream/kappa/sdk"
)

// windowStart returns the start of the UTC-aligned window holding t.
// Windows are aligned to the Unix epoch, which is aligned to UTC midnight,
// so a window that divides a day starts on UTC minute/hour/day boundaries.
func windowStart(t time.Time, window time.Duration) time.Time {
	n := t.UnixNano()
	w := int64(window)
	start := n - n%w
	if n%w < 0 {
		start -= w
	}
	return time.Unix(0, start).UTC()
}

type rowKey struct {
	partition int32
	window    int64
	dims      string // dimension values joined by \x00; "" without dimensions
}

type rowValue struct {
	count int64
	sum   float64
	dims  []string
}

// aggregator sums the facts of one batch per (partition, window, dims).
type aggregator struct {
	window time.Duration
	ndims  int
	rows   map[rowKey]*rowValue
}

func newAggregator(window time.Duration, ndims int) *aggregator {
	return &aggregator{window: window, ndims: ndims, rows: make(map[rowKey]*rowValue)}
}

func (a *aggregator) add(partition int32, f sdk.Fact) error {
	if len(f.Dims) != a.ndims {
		return fmt.Errorf("fact of record %d has %d dimension values, the pipeline declares %d", f.Record, len(f.Dims), a.ndims)
	}
	k := rowKey{partition: partition, window: windowStart(f.Time, a.window).UnixNano()}
	if a.ndims > 0 {
		k.dims = strings.Join(f.Dims, "\x00")
	}
	v := a.rows[k]
	if v == nil {
		v = &rowValue{dims: f.Dims}
		a.rows[k] = v
	}
	v.count++
	v.sum += f.Value
	return nil
}

// result returns the rows sorted by partition, window and dimensions, each
// carrying its partition's range.
func (a *aggregator) result(ranges map[int32]sdk.OffsetRange) []sdk.Row {
	rows := make([]sdk.Row, 0, len(a.rows))
	for k, v := range a.rows {
		rows = append(rows, sdk.Row{
			OffsetRange: ranges[k.partition],
			Window:      time.Unix(0, k.window).UTC(),
			Dims:        v.dims,
			Count:       v.count,
			Sum:         v.sum,
		})
	}
	slices.SortFunc(rows, func(x, y sdk.Row) int {
		return cmp.Or(
			cmp.Compare(x.Partition, y.Partition),
			x.Window.Compare(y.Window),
			slices.Compare(x.Dims, y.Dims),
		)
	})
	return rows
}
