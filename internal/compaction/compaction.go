// Package compaction is the database-free half of a sink's compaction
// (sdk.Compactor): which batch records make a span, the checks a span's
// transaction runs on what it locked and read, and the pass that merges
// spans until none is left, the budget is spent or every span raced.
// mysql-sink and postgres-sink read and write the rows in their own SQL
// and share this logic, so that both plan and refuse alike.
//
// For one partition, a span [a, b) of consecutive batch records becomes, in
// one transaction, one aggregate row per (window[, dimensions]) carrying
// [a, b) with the summed count (and sum), and one batch record for [a, b)
// with the summed counters and the number of batches it stands for.
package compaction

import (
	"context"
	"errors"
	"fmt"
	"math"
	"slices"
	"time"

	"github.com/kappa-stream/kappa/internal/auditreport"
	"github.com/kappa-stream/kappa/sdk"
)

const (
	// LevelFactor is how many spans of one level a periodic pass merges
	// into one of the next: a record standing for N batches is at level
	// floor(log16 N). Merging only spans of similar size keeps a large
	// settled span from being rewritten with every small new one; each
	// row is rewritten about log16(batches) times in its life.
	LevelFactor = 16
	// MaxSpanBatches and MaxSpanRows bound one span's transaction, so that
	// none holds its locks for long. A span whose rows exceed MaxSpanRows
	// is split in two and retried; one of fewer than 4 records is reported.
	MaxSpanBatches = 256
	MaxSpanRows    = 200_000
)

var (
	// ErrRaced: the span's records changed between planning and locking;
	// another compactor got there first.
	ErrRaced = errors.New("span changed since it was planned")
	// ErrTooLarge: the span holds more than its sink's row bound.
	ErrTooLarge = errors.New("span has too many aggregate rows for one transaction")
)

// Record is one row of the batches table, as compaction plans with it.
type Record struct {
	Start, End, Batches int64
	CommittedAt         time.Time
}

// Span is a run of one partition's consecutive batch records to merge.
type Span struct {
	Stream    string
	Partition int32
	Records   []Record
}

func (sp Span) Start() int64 { return sp.Records[0].Start }
func (sp Span) End() int64   { return sp.Records[len(sp.Records)-1].End }

func (sp Span) String() string {
	return fmt.Sprintf("partition %d span [%d, %d) of %d batch records", sp.Partition, sp.Start(), sp.End(), len(sp.Records))
}

// Level is floor(log16 batches).
func Level(batches int64) int {
	l := 0
	for batches >= LevelFactor {
		batches /= LevelFactor
		l++
	}
	return l
}

// OverflowError says that a span's merged count for one window would not
// fit the aggregate table's count column (of SQL type Column); the span is
// left unmerged.
type OverflowError struct {
	Partition  int32
	Start, End int64
	Window     time.Time
	Count      int64
	Column     string
}

func (e *OverflowError) Error() string {
	return fmt.Sprintf("partition %d span [%d, %d): window %s would count %d, more than the %s count column holds (%d); the span stays as committed, its rows exact, and compaction leaves it alone",
		e.Partition, e.Start, e.End, e.Window.UTC().Format(time.DateTime), e.Count, e.Column, math.MaxInt32)
}

// Partition names one partition of one stream.
type Partition struct {
	Stream    string
	Partition int32
}

// OneStream refuses positions of more than one stream: the aggregate table
// has no stream column (the 2016 layout), so rows of two streams in one
// table cannot be told apart.
func OneStream(positions map[Partition]int64, pipeline, table string) error {
	streams := map[string]bool{}
	for k := range positions {
		streams[k.Stream] = true
	}
	if len(streams) > 1 {
		return auditreport.ManyStreams(pipeline, len(streams), table)
	}
	return nil
}

// Planner groups batch records, added in (stream, partition, start) order,
// into spans: those below each partition's position only (a span's
// transaction would refuse the others); all of them, MaxSpanBatches at a
// time, when full; otherwise only LevelFactor consecutive records of one
// level at a time.
type Planner struct {
	positions map[Partition]int64
	full      bool
	spans     []Span
	run       Span // consecutive records of one partition
}

// NewPlanner plans against positions, each partition's next offset.
func NewPlanner(positions map[Partition]int64, full bool) *Planner {
	return &Planner{positions: positions, full: full}
}

// Add takes the next batch record of partition k.
func (p *Planner) Add(k Partition, r Record) {
	if next, ok := p.positions[k]; !ok || r.End > next {
		return // not settled
	}
	if len(p.run.Records) > 0 && (p.run.Stream != k.Stream || p.run.Partition != k.Partition || p.run.End() != r.Start) {
		p.flush()
	}
	p.run.Stream, p.run.Partition = k.Stream, k.Partition
	p.run.Records = append(p.run.Records, r)
}

// Spans returns the spans planned from every record added.
func (p *Planner) Spans() []Span {
	if len(p.run.Records) > 0 {
		p.flush()
	}
	return p.spans
}

func (p *Planner) flush() {
	p.spans = append(p.spans, group(p.run, p.full)...)
	p.run.Records = nil
}

// group splits a run of consecutive records into the spans to merge.
func group(run Span, full bool) []Span {
	var spans []Span
	add := func(records []Record) {
		if len(records) >= 2 {
			spans = append(spans, Span{Stream: run.Stream, Partition: run.Partition, Records: records})
		}
	}
	if full {
		for chunk := range slices.Chunk(run.Records, MaxSpanBatches) {
			add(chunk)
		}
		return spans
	}
	for i := 0; i < len(run.Records); {
		l := Level(run.Records[i].Batches)
		j := i
		for j < len(run.Records) && j-i < LevelFactor && Level(run.Records[j].Batches) == l {
			j++
		}
		if j-i == LevelFactor {
			add(run.Records[i:j])
		}
		i = j
	}
	return spans
}

// Locked sums the batch records a span's transaction locked, in offset
// order: what the span's one batch record will say.
type Locked struct {
	Records     []Record
	Stats       sdk.RangeStats
	Batches     int64
	CommittedAt time.Time // the latest record's
}

// Add takes the next locked record and its counters.
func (l *Locked) Add(r Record, c sdk.RangeStats) {
	l.Records = append(l.Records, r)
	l.Stats.Records += c.Records
	l.Stats.Facts += c.Facts
	l.Stats.Skipped += c.Skipped
	l.Stats.Rejected += c.Rejected
	l.Stats.Lost += c.Lost
	l.Batches += r.Batches
	if r.CommittedAt.After(l.CommittedAt) {
		l.CommittedAt = r.CommittedAt
	}
}

// Check is the span's fence: the locked records must be exactly the
// planned ones and tile [a, b), and the partition's position next must not
// be below b (positions only move forward, so one seen at or past b stays
// there); otherwise ErrRaced.
func (l *Locked) Check(sp Span, next int64) error {
	if !slices.EqualFunc(l.Records, sp.Records, func(x, y Record) bool {
		return x.Start == y.Start && x.End == y.End && x.Batches == y.Batches
	}) {
		return ErrRaced
	}
	for i := 1; i < len(l.Records); i++ {
		if l.Records[i].Start != l.Records[i-1].End {
			return ErrRaced // cannot happen once equal to a tiling plan; kept as the fence's statement
		}
	}
	if next < sp.End() {
		return fmt.Errorf("position %d is below the span's end %d: %w", next, sp.End(), ErrRaced)
	}
	return nil
}

// CheckMerged checks the rows merged per window[, dimensions] of a span
// before they replace the rowsBefore rows they were read from: at most
// maxRows of these (else ErrTooLarge), counting the facts the locked
// records say (merging would hide the mismatch the audit reports), each
// count fitting the count column (of SQL type column).
func (l *Locked) CheckMerged(sp Span, merged []sdk.Row, rowsBefore, maxRows int64, column string) error {
	var counted int64
	for _, r := range merged {
		counted += r.Count
	}
	switch {
	case rowsBefore > maxRows:
		return fmt.Errorf("%d rows: %w", rowsBefore, ErrTooLarge)
	case counted != l.Stats.Facts:
		return fmt.Errorf("its aggregate rows count %d but its batch records %d facts; run kappa-runtime audit", counted, l.Stats.Facts)
	}
	for _, r := range merged {
		if r.Count > math.MaxInt32 {
			return &OverflowError{Partition: sp.Partition, Start: sp.Start(), End: sp.End(), Window: r.Window, Count: r.Count, Column: column}
		}
	}
	return nil
}

// Pass is one sink's compaction: how it plans spans and merges one.
type Pass struct {
	// Plugin names the sink in errors ("mysql-sink").
	Plugin string
	// Plan reads the settled batch records committed before cutoff and
	// plans their spans (a Planner).
	Plan func(ctx context.Context, cutoff time.Time, full bool) ([]Span, error)
	// Merge merges one span in one transaction and adds what it did to res.
	Merge func(ctx context.Context, sp Span, res *sdk.CompactResult) error
	// Busy reports a lock conflict with a concurrent transaction: the span
	// raced, and a later pass tries it again.
	Busy func(err error) bool
}

// Run merges settled spans, planning again after each round, until none is
// left (Done), req.Budget is spent since began, or a round merged nothing
// (everything raced or failed: a later call tries again). A span that fails
// (say, a count that would overflow) is left alone for the rest of the
// call; the others go on, and the call returns the failures joined.
func (p Pass) Run(ctx context.Context, req sdk.CompactRequest, began time.Time) (sdk.CompactResult, error) {
	var res sdk.CompactResult
	type spanKey struct {
		partition  int32
		start, end int64
	}
	failed := map[spanKey]bool{}
	var errs []error
	for {
		spans, err := p.Plan(ctx, time.Now().UTC().Add(-req.OlderThan), req.Full)
		if err != nil {
			return res, fmt.Errorf("%s: compact: %w", p.Plugin, err)
		}
		spans = slices.DeleteFunc(spans, func(sp Span) bool { return failed[spanKey{sp.Partition, sp.Start(), sp.End()}] })
		if len(spans) == 0 {
			res.Done = true
			break
		}
		merged := res.Spans
		for _, sp := range spans {
			if req.Budget > 0 && time.Since(began) >= req.Budget {
				return res, p.joined(errs)
			}
			if err := ctx.Err(); err != nil {
				return res, errors.Join(p.joined(errs), err)
			}
			if err := p.mergeOrSplit(ctx, sp, &res); err != nil {
				failed[spanKey{sp.Partition, sp.Start(), sp.End()}] = true
				errs = append(errs, err)
			}
		}
		if res.Spans == merged {
			break
		}
	}
	return res, p.joined(errs)
}

func (p Pass) joined(errs []error) error {
	if len(errs) == 0 {
		return nil
	}
	return fmt.Errorf("%s: compact: %w", p.Plugin, errors.Join(errs...))
}

// mergeOrSplit merges sp, or its halves when it holds too many rows.
func (p Pass) mergeOrSplit(ctx context.Context, sp Span, res *sdk.CompactResult) error {
	err := p.Merge(ctx, sp, res)
	switch {
	case errors.Is(err, ErrRaced) || (err != nil && p.Busy(err)):
		res.Raced++
		return nil
	case errors.Is(err, ErrTooLarge) && len(sp.Records) >= 4:
		half := len(sp.Records) / 2
		left, right := sp, sp
		left.Records, right.Records = sp.Records[:half], sp.Records[half:]
		return errors.Join(p.mergeOrSplit(ctx, left, res), p.mergeOrSplit(ctx, right, res))
	case err != nil:
		return fmt.Errorf("%s: %w", sp, err)
	}
	return nil
}

// MergedRow is one row of sp merged per window[, dimensions], as a span's
// transaction reads it: scan a row of SELECT window, the dimensions,
// SUM(count), COUNT(*)[, SUM(sum)] into Dest(), then Row is the merged row
// (carrying sp's range) and Rows how many rows it stands for.
type MergedRow struct {
	Row  sdk.Row
	Rows int64
	sums bool
}

// NewMergedRow is a merged row of sp with dims dimensions and, when sums,
// a sum.
func NewMergedRow(sp Span, dims int, sums bool) *MergedRow {
	return &MergedRow{Row: sdk.Row{OffsetRange: sdk.OffsetRange{Partition: sp.Partition, Start: sp.Start(), End: sp.End()}, Dims: make([]string, dims)}, sums: sums}
}

// Dest is where a scan puts the row's columns.
func (m *MergedRow) Dest() []any {
	dest := []any{&m.Row.Window}
	for i := range m.Row.Dims {
		dest = append(dest, &m.Row.Dims[i])
	}
	dest = append(dest, &m.Row.Count, &m.Rows)
	if m.sums {
		dest = append(dest, &m.Row.Sum)
	}
	return dest
}
