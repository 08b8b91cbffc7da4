package engine

import (
	"cmp"
	"encoding/binary"
	"fmt"
	"slices"
	"time"

	"github.com/kappa-stream/kappa/sdk"
)

// windowStart returns the start of the UTC-aligned window holding t, which
// must lie within sdk.CheckEventTime's range (process screens every fact).
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
	dims      string // dimsKey of the dimension values
}

type rowValue struct {
	count int64
	sum   float64
	dims  []string
	// firstOffset is the offset of the row's first record, for a sink's
	// message should it refuse the row.
	firstOffset int64
}

// aggregator sums the facts of one batch per (partition, window, dims).
type aggregator struct {
	window time.Duration
	ndims  int
	rows   map[rowKey]*rowValue
	key    []byte // dimsKey's scratch
}

func newAggregator(window time.Duration, ndims int) *aggregator {
	return &aggregator{window: window, ndims: ndims, rows: make(map[rowKey]*rowValue)}
}

// add counts fact f of the record at offset in partition and returns its
// row's sum so far.
func (a *aggregator) add(partition int32, offset int64, f sdk.Fact) (sum float64, err error) {
	if len(f.Dims) != a.ndims {
		return 0, fmt.Errorf("fact of record %d has %d dimension values, the pipeline declares %d", f.Record, len(f.Dims), a.ndims)
	}
	k := rowKey{partition: partition, window: windowStart(f.Time, a.window).UnixNano()}
	k.dims = a.dimsKey(f.Dims)
	v := a.rows[k]
	if v == nil {
		v = &rowValue{dims: f.Dims, firstOffset: offset}
		a.rows[k] = v
	}
	v.count++
	v.sum += f.Value
	return v.sum, nil
}

// dimsKey returns a key that two lists of dimension values share only when
// they are equal: "" without dimensions, the value itself with one, and
// each value prefixed by its length with more. Values may hold any byte,
// so joining them with a separator would merge ["a","b\x00c"] and
// ["a\x00b","c"].
func (a *aggregator) dimsKey(dims []string) string {
	switch len(dims) {
	case 0:
		return ""
	case 1:
		return dims[0]
	}
	a.key = a.key[:0]
	for _, d := range dims {
		a.key = binary.AppendUvarint(a.key, uint64(len(d)))
		a.key = append(a.key, d...)
	}
	return string(a.key)
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
			FirstOffset: v.firstOffset,
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
