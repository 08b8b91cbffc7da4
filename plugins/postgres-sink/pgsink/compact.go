package pgsink

import (
	"context"
	"errors"
	"fmt"
	"math"
	"slices"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/kappa-stream/kappa/sdk"
)

// Compaction rolls settled history up, as mysql-sink's does (its
// compact.go explains the levels and the fence). For one partition, a span
// [a, b) of consecutive batch records becomes, in one transaction, one
// aggregate row per (window[, dimensions]) carrying [a, b) with the summed
// count (and sum), and one batch record for [a, b) with the summed
// counters and the number of batches it stands for. Sums per (partition,
// window, dimensions) never change, a reader's single statement sees the
// table before or after a span (PostgreSQL's snapshots), and the audit
// still finds every range's facts in the rows that carry it. Dead letters
// are never touched.
//
// The span's transaction locks its batch records (FOR UPDATE) and checks
// that they are exactly the ones planned and tile [a, b); a rival
// compactor that merged any of them first makes it give up (raced). It
// reads the position without a lock: positions only move forward. At
// PostgreSQL's READ COMMITTED no gap or predicate locks are taken, so a
// commit above b never waits for a span.

var _ sdk.Compactor = (*Sink)(nil)

const (
	// levelFactor is how many spans of one level a periodic pass merges
	// into one of the next (mysql-sink's compact.go says why 16).
	levelFactor = 16
	// maxSpanBatches bounds one span's transaction.
	maxSpanBatches = 256
)

// maxSpanRows is a variable only so that a test can lower it.
var maxSpanRows int64 = 200_000

// batchRecord is one row of the batches table, as compaction plans with it.
type batchRecord struct {
	start, end, batches int64
	committedAt         time.Time
}

// span is a run of one partition's consecutive batch records to merge.
type span struct {
	stream    string
	partition int32
	records   []batchRecord
}

func (sp span) start() int64 { return sp.records[0].start }
func (sp span) end() int64   { return sp.records[len(sp.records)-1].end }

func (sp span) String() string {
	return fmt.Sprintf("partition %d span [%d, %d) of %d batch records", sp.partition, sp.start(), sp.end(), len(sp.records))
}

// level is floor(log16 batches).
func level(batches int64) int {
	l := 0
	for batches >= levelFactor {
		batches /= levelFactor
		l++
	}
	return l
}

var (
	// errSpanRaced: the span's records changed between planning and
	// locking; another compactor got there first.
	errSpanRaced = errors.New("span changed since it was planned")
	// errSpanTooLarge: the span holds more than maxSpanRows rows.
	errSpanTooLarge = errors.New("span has too many aggregate rows for one transaction")
)

// OverflowError says that a span's merged count for one window would not
// fit the aggregate table's integer column; the span is left unmerged.
type OverflowError struct {
	Partition  int32
	Start, End int64
	Window     time.Time
	Count      int64
}

func (e *OverflowError) Error() string {
	return fmt.Sprintf("partition %d span [%d, %d): window %s would count %d, more than the integer count column holds (%d); the span stays as committed, its rows exact, and compaction leaves it alone",
		e.Partition, e.Start, e.End, e.Window.UTC().Format(time.DateTime), e.Count, math.MaxInt32)
}

// compactBeforeCommit, when set by a test, runs inside a span's
// transaction right before COMMIT.
var compactBeforeCommit func(sp span)

// Compact merges settled spans; see sdk.Compactor and the comment above.
// A span that fails (say, a count that would overflow) is left alone for
// the rest of the call; the others go on, and the call returns the
// failures joined.
func (s *Sink) Compact(ctx context.Context, req sdk.CompactRequest) (sdk.CompactResult, error) {
	var res sdk.CompactResult
	if s.db == nil {
		return res, errNotOpen
	}
	began := time.Now()
	if err := s.expireDeadLetters(ctx); err != nil {
		return res, err
	}
	type spanKey struct {
		partition  int32
		start, end int64
	}
	failed := map[spanKey]bool{}
	var errs []error
	for {
		s.gen.mu.RLock() // a swap rebinds the statements
		spans, err := s.planSpans(ctx, time.Now().UTC().Add(-req.OlderThan), req.Full)
		s.gen.mu.RUnlock()
		if err != nil {
			return res, fmt.Errorf("postgres-sink: compact: %w", err)
		}
		spans = slices.DeleteFunc(spans, func(sp span) bool { return failed[spanKey{sp.partition, sp.start(), sp.end()}] })
		if len(spans) == 0 {
			res.Done = true
			break
		}
		merged := res.Spans
		for _, sp := range spans {
			if req.Budget > 0 && time.Since(began) >= req.Budget {
				return res, compactErr(errs)
			}
			if err := ctx.Err(); err != nil {
				return res, errors.Join(compactErr(errs), err)
			}
			if err := s.compactOrSplit(ctx, sp, &res); err != nil {
				failed[spanKey{sp.partition, sp.start(), sp.end()}] = true
				errs = append(errs, err)
			}
		}
		if res.Spans == merged {
			break // everything raced or failed: a later call tries again
		}
	}
	return res, compactErr(errs)
}

func compactErr(errs []error) error {
	if len(errs) == 0 {
		return nil
	}
	return fmt.Errorf("postgres-sink: compact: %w", errors.Join(errs...))
}

// compactOrSplit merges sp, or its halves when it holds too many rows.
func (s *Sink) compactOrSplit(ctx context.Context, sp span, res *sdk.CompactResult) error {
	err := s.compactSpan(ctx, sp, res)
	switch {
	case errors.Is(err, errSpanRaced) || isPgError(err, codeDeadlockDetected) || isPgError(err, codeLockNotAvailable) || isPgError(err, codeSerializationFailure):
		res.Raced++
		return nil
	case errors.Is(err, errSpanTooLarge) && len(sp.records) >= 4:
		half := len(sp.records) / 2
		left, right := sp, sp
		left.records, right.records = sp.records[:half], sp.records[half:]
		return errors.Join(s.compactOrSplit(ctx, left, res), s.compactOrSplit(ctx, right, res))
	case err != nil:
		return fmt.Errorf("%s: %w", sp, err)
	}
	return nil
}

// planSpans reads the batch records committed before cutoff, below each
// partition's position, and groups each partition's consecutive ones into
// spans: all of them, maxSpanBatches at a time, when full; otherwise only
// levelFactor consecutive records of one level at a time.
func (s *Sink) planSpans(ctx context.Context, cutoff time.Time, full bool) ([]span, error) {
	type key struct {
		stream    string
		partition int32
	}
	positions := map[key]int64{}
	var k key
	var next int64
	_, err := forEach(ctx, s.db, `SELECT "stream", "partition_id", "next_offset" FROM `+s.stmts.offsets()+` WHERE "pipeline" = $1`,
		[]any{s.pipeline}, []any{&k.stream, &k.partition, &next}, func() error {
			positions[k] = next
			return nil
		})
	if err != nil {
		return nil, fmt.Errorf("read positions from %s: %w", s.stmts.offsetsTable, err)
	}
	streams := map[string]bool{}
	for k := range positions {
		streams[k.stream] = true
	}
	if len(streams) > 1 {
		// As in Audit: rows of two streams in one table cannot be told apart.
		return nil, fmt.Errorf("pipeline %s committed to %d streams into table %s, which has no stream column to tell their rows apart",
			s.pipeline, len(streams), s.stmts.aggregateTable)
	}
	var spans []span
	var run span // consecutive records of one partition
	flush := func() {
		spans = append(spans, group(run, full)...)
		run.records = nil
	}
	var r batchRecord
	_, err = forEach(ctx, s.db, `SELECT "stream", "partition_id", "start_offset", "end_offset", "batches", "committed_at" FROM `+s.stmts.batches()+
		` WHERE "pipeline" = $1 AND "committed_at" <= $2 ORDER BY "stream", "partition_id", "start_offset"`,
		[]any{s.pipeline, cutoff}, []any{&k.stream, &k.partition, &r.start, &r.end, &r.batches, &r.committedAt}, func() error {
			if next, ok := positions[k]; !ok || r.end > next {
				return nil // not settled; the span's transaction would refuse it
			}
			if len(run.records) > 0 && (run.stream != k.stream || run.partition != k.partition || run.end() != r.start) {
				flush()
			}
			run.stream, run.partition = k.stream, k.partition
			run.records = append(run.records, r)
			return nil
		})
	if err != nil {
		return nil, fmt.Errorf("read batch records from %s: %w", s.stmts.batchesTable, err)
	}
	if len(run.records) > 0 {
		flush()
	}
	return spans, nil
}

// group splits a run of consecutive records into the spans to merge.
func group(run span, full bool) []span {
	var spans []span
	add := func(records []batchRecord) {
		if len(records) >= 2 {
			spans = append(spans, span{stream: run.stream, partition: run.partition, records: records})
		}
	}
	if full {
		for chunk := range slices.Chunk(run.records, maxSpanBatches) {
			add(chunk)
		}
		return spans
	}
	for i := 0; i < len(run.records); {
		l := level(run.records[i].batches)
		j := i
		for j < len(run.records) && j-i < levelFactor && level(run.records[j].batches) == l {
			j++
		}
		if j-i == levelFactor {
			add(run.records[i:j])
		}
		i = j
	}
	return spans
}

// compactSpan merges sp in one transaction and adds what it did to res.
func (s *Sink) compactSpan(ctx context.Context, sp span, res *sdk.CompactResult) (err error) {
	s.gen.mu.RLock() // a swap of the generation's table waits
	defer s.gen.mu.RUnlock()
	a, b := sp.start(), sp.end()
	tx, err := s.db.Begin(ctx) // READ COMMITTED, PostgreSQL's default
	if err != nil {
		return fmt.Errorf("begin: %w", err)
	}
	defer func() {
		if err != nil {
			_ = tx.Rollback(context.WithoutCancel(ctx))
		}
	}()

	// Lock the span's batch records: a rival compactor waits here, then
	// finds them changed.
	var total sdk.RangeStats
	var batches int64
	var committedAt time.Time
	var locked []batchRecord
	var r batchRecord
	var c sdk.RangeStats
	_, err = forEach(ctx, tx, `SELECT "start_offset", "end_offset", "records", "facts", "skipped", "rejected", "lost", "batches", "committed_at" FROM `+
		s.stmts.batches()+` WHERE "pipeline" = $1 AND "stream" = $2 AND "partition_id" = $3 AND "start_offset" >= $4 AND "start_offset" < $5`+
		` ORDER BY "start_offset" FOR UPDATE`, []any{s.pipeline, sp.stream, sp.partition, a, b},
		[]any{&r.start, &r.end, &c.Records, &c.Facts, &c.Skipped, &c.Rejected, &c.Lost, &r.batches, &r.committedAt}, func() error {
			locked = append(locked, r)
			total.Records += c.Records
			total.Facts += c.Facts
			total.Skipped += c.Skipped
			total.Rejected += c.Rejected
			total.Lost += c.Lost
			batches += r.batches
			if r.committedAt.After(committedAt) {
				committedAt = r.committedAt
			}
			return nil
		})
	if err != nil {
		return fmt.Errorf("lock batch records in %s: %w", s.stmts.batchesTable, err)
	}
	if !slices.EqualFunc(locked, sp.records, func(x, y batchRecord) bool {
		return x.start == y.start && x.end == y.end && x.batches == y.batches
	}) {
		return errSpanRaced
	}
	var next int64
	if err := tx.QueryRow(ctx, s.stmts.readPosition, s.pipeline, sp.stream, sp.partition).Scan(&next); err != nil {
		return fmt.Errorf("read position: %w", err)
	}
	if next < b {
		return fmt.Errorf("position %d is below the span's end %d: %w", next, b, errSpanRaced)
	}

	// The rows that carry the span's ranges, merged per window[, dims].
	starts, ends := make([]int64, len(sp.records)), make([]int64, len(sp.records))
	for i, r := range sp.records {
		starts[i], ends[i] = r.start, r.end
	}
	ranges := `"partition_id" = $1 AND ("start_offset", "end_offset") IN (SELECT * FROM unnest($2::bigint[], $3::bigint[]))`
	groupBy := quoteIdents(append([]string{colTimestamp}, s.stmts.dimensions...))
	sel := "SELECT " + groupBy + `, sum("count"), count(*)`
	if s.sums {
		sel += `, sum("sum")`
	}
	var merged []sdk.Row
	var rowsBefore, counted int64
	rows, err := tx.Query(ctx, sel+" FROM "+s.stmts.aggregate()+" WHERE "+ranges+" GROUP BY "+groupBy, sp.partition, starts, ends)
	if err != nil {
		return fmt.Errorf("read aggregate rows of %s: %w", s.stmts.aggregateTable, err)
	}
	merged, err = pgx.CollectRows(rows, func(row pgx.CollectableRow) (sdk.Row, error) {
		r := sdk.Row{OffsetRange: sdk.OffsetRange{Partition: sp.partition, Start: a, End: b}, Dims: make([]string, len(s.stmts.dimensions))}
		var n int64
		dest := []any{&r.Window}
		for i := range r.Dims {
			dest = append(dest, &r.Dims[i])
		}
		dest = append(dest, &r.Count, &n)
		if s.sums {
			dest = append(dest, &r.Sum)
		}
		err := row.Scan(dest...)
		rowsBefore += n
		counted += r.Count
		return r, err
	})
	if err != nil {
		return fmt.Errorf("read aggregate rows of %s: %w", s.stmts.aggregateTable, err)
	}
	switch {
	case rowsBefore > maxSpanRows:
		return fmt.Errorf("%d rows: %w", rowsBefore, errSpanTooLarge)
	case counted != total.Facts:
		// Merging would hide the mismatch the audit reports.
		return fmt.Errorf("its aggregate rows count %d but its batch records %d facts; run kappa-runtime audit", counted, total.Facts)
	}
	for _, r := range merged {
		if r.Count > math.MaxInt32 {
			return &OverflowError{Partition: sp.partition, Start: a, End: b, Window: r.Window, Count: r.Count}
		}
	}

	tag, err := tx.Exec(ctx, "DELETE FROM "+s.stmts.aggregate()+" WHERE "+ranges, sp.partition, starts, ends)
	if err != nil {
		return fmt.Errorf("delete aggregate rows from %s: %w", s.stmts.aggregateTable, err)
	}
	if tag.RowsAffected() != rowsBefore {
		return fmt.Errorf("deleted %d aggregate rows of %d read: %w", tag.RowsAffected(), rowsBefore, errSpanRaced)
	}
	if len(merged) > 0 {
		if _, err := tx.Exec(ctx, s.stmts.insertRows, s.rowArgs(merged)...); err != nil {
			return fmt.Errorf("insert %d merged rows into %s: %w", len(merged), s.stmts.aggregateTable, err)
		}
	}
	tag, err = tx.Exec(ctx, "DELETE FROM "+s.stmts.batches()+
		` WHERE "pipeline" = $1 AND "stream" = $2 AND "partition_id" = $3 AND "start_offset" >= $4 AND "start_offset" < $5`,
		s.pipeline, sp.stream, sp.partition, a, b)
	if err != nil {
		return fmt.Errorf("delete batch records from %s: %w", s.stmts.batchesTable, err)
	}
	if tag.RowsAffected() != int64(len(locked)) {
		return fmt.Errorf("deleted %d batch records of %d locked: %w", tag.RowsAffected(), len(locked), errSpanRaced)
	}
	if _, err := tx.Exec(ctx, "INSERT INTO "+s.stmts.batches()+
		` ("pipeline", "stream", "partition_id", "start_offset", "end_offset", "records", "facts", "skipped", "rejected", "lost", "committed_at", "batches")`+
		` VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12)`,
		s.pipeline, sp.stream, sp.partition, a, b, total.Records, total.Facts, total.Skipped, total.Rejected, total.Lost, committedAt, batches); err != nil {
		return fmt.Errorf("insert the span's batch record into %s: %w", s.stmts.batchesTable, err)
	}
	// Last, as a commit's (generations.go): no span of a frozen
	// generation lands after the freeze.
	if err := s.checkGeneration(ctx, tx, nil); err != nil {
		return err
	}
	if compactBeforeCommit != nil {
		compactBeforeCommit(sp)
	}
	if err := tx.Commit(ctx); err != nil {
		return fmt.Errorf("commit: %w", err)
	}
	res.Spans++
	res.Batches += int64(len(locked))
	res.RowsBefore += rowsBefore
	res.RowsAfter += int64(len(merged))
	return nil
}
