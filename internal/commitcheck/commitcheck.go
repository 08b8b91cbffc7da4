// Package commitcheck refuses, before anything is sent, a commit that a
// SQL sink's tables cannot hold faithfully: the checks mysql-sink and
// postgres-sink share, with the limits of each one's columns. It also
// holds the error both give a commit their positions fence (FencedError).
package commitcheck

import (
	"cmp"
	"errors"
	"fmt"
	"math"
	"slices"
	"time"
	"unicode/utf8"

	"github.com/kappa-stream/kappa/sdk"
)

// Limits are what a sink's tables hold.
type Limits struct {
	// StreamIDLength bounds a stream ID, in characters.
	StreamIDLength int
	// UTF8 refuses a stream name or ID that is not valid UTF-8.
	UTF8 bool
	// EarliestWindow and LatestWindow bound a window start, which must be
	// a whole second; WindowRange names the bound in messages.
	EarliestWindow, LatestWindow time.Time
	WindowRange                  string
	// CountColumn is the count column's SQL type, which holds an int32.
	CountColumn string
	// Sums says whether the table has a sum column.
	Sums bool
	// Dimensions is how many dimension values a row carries, each valid
	// UTF-8 of at most DimensionLength characters.
	Dimensions, DimensionLength int
	// Dimension, when set, refuses what else a dimension value's column
	// cannot hold.
	Dimension func(value string) error
}

// Check returns the commit's ranges in partition order (writers that lock
// partitions in the same order cannot deadlock each other), or why the
// tables cannot hold the commit.
func Check(c sdk.Commit, l Limits) ([]sdk.RangeStats, error) {
	if len(c.Ranges) == 0 {
		if len(c.Rows) > 0 {
			return nil, fmt.Errorf("%d rows but no ranges", len(c.Rows))
		}
		return nil, nil
	}
	switch {
	case l.UTF8 && (c.Stream == "" || utf8.RuneCountInString(c.Stream) > 255 || !utf8.ValidString(c.Stream)):
		return nil, fmt.Errorf("stream name %q is empty, not UTF-8 or longer than 255 characters", c.Stream)
	case !l.UTF8 && (c.Stream == "" || utf8.RuneCountInString(c.Stream) > 255):
		return nil, fmt.Errorf("stream name %q is empty or longer than 255 characters", c.Stream)
	case l.UTF8 && (utf8.RuneCountInString(c.StreamID) > l.StreamIDLength || !utf8.ValidString(c.StreamID)):
		return nil, fmt.Errorf("stream ID %q is not UTF-8 or longer than %d characters", c.StreamID, l.StreamIDLength)
	case !l.UTF8 && utf8.RuneCountInString(c.StreamID) > l.StreamIDLength:
		return nil, fmt.Errorf("stream ID %q is longer than %d characters", c.StreamID, l.StreamIDLength)
	}
	ranges := slices.Clone(c.Ranges)
	slices.SortFunc(ranges, func(a, b sdk.RangeStats) int { return cmp.Compare(a.Partition, b.Partition) })
	for i, r := range ranges {
		switch {
		case r.Partition < 0:
			return nil, fmt.Errorf("partition %d: negative partition", r.Partition)
		case r.Start < 0 || r.End < r.Start:
			return nil, fmt.Errorf("partition %d: range [%d, %d) is invalid", r.Partition, r.Start, r.End)
		case r.End == r.Start && (r.Records != 0 || r.Lost != 0):
			// An empty range is an anchor (sdk.Source.Poll): it places a
			// partition's first position and holds nothing.
			return nil, fmt.Errorf("partition %d: empty range [%d, %d) with %d records and %d lost", r.Partition, r.Start, r.End, r.Records, r.Lost)
		case i > 0 && ranges[i-1].Partition == r.Partition:
			return nil, fmt.Errorf("partition %d: more than one range", r.Partition)
		}
	}
	for _, row := range c.Rows {
		if err := l.row(row, ranges); err != nil {
			return nil, fmt.Errorf("refused the row of partition %d, range [%d, %d), first record at offset %d, window %s, dimension values %.40q: %w",
				row.Partition, row.Start, row.End, row.FirstOffset, row.Window.UTC().Format(time.RFC3339), row.Dims, err)
		}
	}
	return ranges, nil
}

func (l Limits) row(row sdk.Row, ranges []sdk.RangeStats) error {
	i, found := slices.BinarySearchFunc(ranges, row.Partition, func(r sdk.RangeStats, p int32) int { return cmp.Compare(r.Partition, p) })
	if !found || ranges[i].OffsetRange != row.OffsetRange {
		return fmt.Errorf("range [%d, %d) is not one of the commit's ranges", row.Start, row.End)
	}
	w := row.Window.UTC()
	if w.Before(l.EarliestWindow) || w.After(l.LatestWindow) || w.Nanosecond() != 0 {
		return errors.New("window start is outside " + l.WindowRange + " or not a whole second")
	}
	if row.Count < 0 || row.Count > math.MaxInt32 {
		return fmt.Errorf("count %d does not fit the %s column", row.Count, l.CountColumn)
	}
	// Without `aggregates: [count, sum]` the table has no column for a sum;
	// dropping it silently would lose data.
	if row.Sum != 0 && !l.Sums {
		return fmt.Errorf("sum %v has no column in the aggregate table (declare aggregates: [count, sum])", row.Sum)
	}
	if math.IsNaN(row.Sum) || math.IsInf(row.Sum, 0) {
		return fmt.Errorf("sum %v is not a finite number", row.Sum)
	}
	if len(row.Dims) != l.Dimensions {
		return fmt.Errorf("%d dimension values for %d dimensions", len(row.Dims), l.Dimensions)
	}
	for _, d := range row.Dims {
		// Checked here because a server outside strict mode would truncate
		// the value and merge rows silently.
		if !utf8.ValidString(d) || utf8.RuneCountInString(d) > l.DimensionLength {
			return fmt.Errorf("dimension value %.40q is not UTF-8 of at most %d characters", d, l.DimensionLength)
		}
		if l.Dimension != nil {
			if err := l.Dimension(d); err != nil {
				return err
			}
		}
	}
	return nil
}

// FencedError says that a partition's committed position was not the
// range's Start: another writer moved first. It wraps sdk.ErrFenced.
type FencedError struct {
	Stream    string
	Partition int32
	// Expected is the range's Start; Found is the committed position seen,
	// or -1 when it could not be read.
	Expected int64
	Found    int64
}

func (e *FencedError) Error() string {
	return fmt.Sprintf("%v: stream %s partition %d: expected position %d, found %d",
		sdk.ErrFenced, e.Stream, e.Partition, e.Expected, e.Found)
}

// Unwrap lets errors.Is(err, sdk.ErrFenced) hold.
func (e *FencedError) Unwrap() error { return sdk.ErrFenced }
