package mysqlsink

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"log/slog"
	"math"
	"slices"
	"strings"
	"time"

	"github.com/kappa-stream/kappa/sdk"
)

// Compaction rolls settled history up. For one partition, a span [a, b) of
// consecutive batch records becomes, in one transaction, one aggregate row
// per (window[, dimensions]) carrying [a, b) with the summed count (and
// sum), and one batch record for [a, b) with the summed counters and the
// number of batches it stands for. An adopted record (adopt.go) is never
// part of a span: its rows carry another program's ranges and its counters
// are unknown. Sums per (partition, window,
// dimensions) never change, a reader's single statement sees the table
// before or after a span, never between, and the audit still finds every
// range's facts in the rows that carry it.
//
// The span's transaction locks its batch records (FOR UPDATE) and checks
// that they are exactly the ones planned and tile [a, b); a rival compactor
// that merged any of them first makes it give up (raced). It reads the
// position without a lock: positions only move forward, so one seen at or
// past b stays there, and a live commit of the same partition is not held
// up. The session's READ COMMITTED takes no gap locks, so commits inserting
// above b never wait for a span either.

var _ sdk.Compactor = (*Sink)(nil)

const (
	// colBatches is the batches table's count of batches a record stands for.
	colBatches = "batches"
	// timeIndexName is the aggregate table's secondary index on
	// (timestamp, partition_id[, dimensions]), for time-range reads.
	timeIndexName = "kappa_time"

	// levelFactor is how many spans of one level a periodic pass merges
	// into one of the next: a record standing for N batches is at level
	// floor(log16 N). Merging only spans of similar size keeps a large
	// settled span from being rewritten with every small new one; each
	// row is rewritten about log16(batches) times in its life.
	levelFactor = 16
	// maxSpanBatches and maxSpanRows bound one span's transaction, so that
	// none holds its locks for long. A span whose rows exceed maxSpanRows
	// is split in two and retried; one of fewer than 4 records is reported.
	maxSpanBatches = 256
)

// maxSpanRows is a variable only so that a test can lower it.
var maxSpanRows int64 = 200_000

// index is a secondary index of a table the sink creates.
type index struct {
	Name    string
	Columns []string
}

// timeIndex is (timestamp, partition_id[, dimensions]) and then the values,
// so that it covers the readers' queries: the last hour read 10x faster
// than from the table over 480k rows here, and the original query without
// a WHERE 1.8x faster, where the index without the values was slower than
// a scan for an hour's read (it looks every row up in the table).
func timeIndex(dimensions []string, sums bool) index {
	cols := append([]string{colTimestamp, colPartition}, dimensions...)
	cols = append(cols, colCount)
	if sums {
		cols = append(cols, colSum)
	}
	return index{Name: timeIndexName, Columns: cols}
}

// suggestTimeIndex logs the statement that adds the time index to an
// aggregate table that has none, such as the 2016 job's: the table is used
// as it is, but a read of the last hour scans it whole.
func suggestTimeIndex(ctx context.Context, log *slog.Logger, db *sql.DB, database string, s tableSchema) {
	rows, err := db.QueryContext(ctx, `SELECT INDEX_NAME, COLUMN_NAME FROM information_schema.STATISTICS
		WHERE TABLE_SCHEMA = DATABASE() AND TABLE_NAME = ? AND INDEX_NAME <> 'PRIMARY' ORDER BY INDEX_NAME, SEQ_IN_INDEX`, s.Name)
	if err != nil {
		return // only advice
	}
	defer rows.Close()
	leading := map[string][]string{}
	for rows.Next() {
		var name, col string
		if rows.Scan(&name, &col) != nil {
			return
		}
		leading[name] = append(leading[name], strings.ToLower(col))
	}
	if rows.Err() != nil {
		return
	}
	for _, cols := range leading {
		if len(cols) >= 2 && cols[0] == colTimestamp && cols[1] == colPartition {
			return
		}
	}
	want := timeIndex(nil, false)
	for _, ix := range s.Indexes {
		if ix.Name == timeIndexName {
			want = ix
		}
	}
	log.Info("the aggregate table has no index on (timestamp, partition_id): reads of a time range scan the whole table; to add one",
		"table", database+"."+s.Name,
		"statement", fmt.Sprintf("ALTER TABLE %s.%s ADD INDEX %s (%s)", quoteIdent(database), quoteIdent(s.Name), quoteIdent(want.Name), quoteIdents(want.Columns)))
}

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
// fit the aggregate table's int column; the span is left unmerged.
type OverflowError struct {
	Partition  int32
	Start, End int64
	Window     time.Time
	Count      int64
}

func (e *OverflowError) Error() string {
	return fmt.Sprintf("partition %d span [%d, %d): window %s would count %d, more than the int count column holds (%d); the span stays as committed, its rows exact, and compaction leaves it alone",
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
	if err := s.expireDeadLettersLogged(ctx); err != nil {
		return res, err
	}
	type spanKey struct {
		partition  int32
		start, end int64
	}
	failed := map[spanKey]bool{}
	var errs []error
	for {
		spans, err := s.planSpans(ctx, time.Now().UTC().Add(-req.OlderThan), req.Full)
		if err != nil {
			return res, fmt.Errorf("mysql-sink: compact: %w", err)
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
	return fmt.Errorf("mysql-sink: compact: %w", errors.Join(errs...))
}

// compactOrSplit merges sp, or its halves when it holds too many rows.
func (s *Sink) compactOrSplit(ctx context.Context, sp span, res *sdk.CompactResult) error {
	err := s.compactSpan(ctx, sp, res)
	switch {
	case errors.Is(err, errSpanRaced) || isMySQLError(err, errLockWaitTimeout) || isMySQLError(err, errDeadlock):
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
	rows, err := s.db.QueryContext(ctx, "SELECT `stream`, `partition_id`, `next_offset` FROM "+quoteIdent(s.stmts.offsetsTable)+
		" WHERE `pipeline` = ?", s.pipeline)
	if err != nil {
		return nil, fmt.Errorf("read positions from %s: %w", s.stmts.offsetsTable, err)
	}
	for rows.Next() {
		var k key
		var next int64
		if err := rows.Scan(&k.stream, &k.partition, &next); err != nil {
			rows.Close()
			return nil, fmt.Errorf("read positions from %s: %w", s.stmts.offsetsTable, err)
		}
		positions[k] = next
	}
	if err := errors.Join(rows.Err(), rows.Close()); err != nil {
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

	rows, err = s.db.QueryContext(ctx, "SELECT `stream`, `partition_id`, `start_offset`, `end_offset`, "+quoteIdent(colBatches)+", `committed_at` FROM "+
		quoteIdent(s.stmts.batchesTable)+" WHERE `pipeline` = ? AND `committed_at` <= ? AND "+quoteIdent(colAdopted)+" = 0 ORDER BY `stream`, `partition_id`, `start_offset`",
		s.pipeline, cutoff)
	if err != nil {
		return nil, fmt.Errorf("read batch records from %s: %w", s.stmts.batchesTable, err)
	}
	defer rows.Close()
	var spans []span
	var run span // consecutive records of one partition
	flush := func() {
		spans = append(spans, group(run, full)...)
		run.records = nil
	}
	for rows.Next() {
		var k key
		var r batchRecord
		if err := rows.Scan(&k.stream, &k.partition, &r.start, &r.end, &r.batches, &r.committedAt); err != nil {
			return nil, fmt.Errorf("read batch records from %s: %w", s.stmts.batchesTable, err)
		}
		if next, ok := positions[k]; !ok || r.end > next {
			continue // not settled; the span's transaction would refuse it
		}
		if len(run.records) > 0 && (run.stream != k.stream || run.partition != k.partition || run.end() != r.start) {
			flush()
		}
		run.stream, run.partition = k.stream, k.partition
		run.records = append(run.records, r)
	}
	if err := rows.Err(); err != nil {
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
	a, b := sp.start(), sp.end()
	s.gen.mu.RLock() // a swap of the generation's table waits
	defer s.gen.mu.RUnlock()
	tx, err := s.db.BeginTx(ctx, nil) // READ COMMITTED: the session's level
	if err != nil {
		return fmt.Errorf("begin: %w", err)
	}
	defer func() {
		if err != nil {
			_ = tx.Rollback() // the server discards it anyway when the connection goes
		}
	}()
	// A frozen or retired generation's history is left as it is.
	if err := s.checkGeneration(ctx, tx); err != nil {
		return err
	}

	// Lock the span's batch records: a rival compactor waits here, then
	// finds them changed.
	var total sdk.RangeStats
	var batches int64
	var committedAt time.Time
	var locked []batchRecord
	err = query(ctx, tx, "SELECT `start_offset`, `end_offset`, `records`, `facts`, `skipped`, `rejected`, `lost`, "+quoteIdent(colBatches)+", `committed_at` FROM "+
		quoteIdent(s.stmts.batchesTable)+" WHERE `pipeline` = ? AND `stream` = ? AND `partition_id` = ? AND `start_offset` >= ? AND `start_offset` < ?"+
		" ORDER BY `start_offset` FOR UPDATE", []any{s.pipeline, sp.stream, sp.partition, a, b}, func(rows *sql.Rows) error {
		var r batchRecord
		var c sdk.RangeStats
		if err := rows.Scan(&r.start, &r.end, &c.Records, &c.Facts, &c.Skipped, &c.Rejected, &c.Lost, &r.batches, &r.committedAt); err != nil {
			return err
		}
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
	for i := 1; i < len(locked); i++ {
		if locked[i].start != locked[i-1].end {
			return errSpanRaced // cannot happen once equal to a tiling plan; kept as the fence's statement
		}
	}
	var next int64
	if err := tx.QueryRowContext(ctx, s.stmts.readPosition, s.pipeline, sp.stream, sp.partition).Scan(&next); err != nil {
		return fmt.Errorf("read position: %w", err)
	}
	if next < b {
		return fmt.Errorf("position %d is below the span's end %d: %w", next, b, errSpanRaced)
	}

	// The rows that carry the span's ranges, merged per window[, dims].
	ranges, rangeArgs := s.rangesWhere(sp)
	dims := s.stmts.aggregateColumns[len(s.stmts.aggregateColumns)-s.dimensions:]
	groupBy := quoteIdents(append([]string{colTimestamp}, dims...))
	sel := "SELECT " + groupBy + ", SUM(`count`), COUNT(*)"
	if s.sums {
		sel += ", SUM(`sum`)"
	}
	var merged []sdk.Row
	var rowsBefore, counted int64
	err = query(ctx, tx, sel+" FROM "+quoteIdent(s.stmts.aggregateTable)+" WHERE `partition_id` = ? AND ("+ranges+") GROUP BY "+groupBy,
		append([]any{sp.partition}, rangeArgs...), func(rows *sql.Rows) error {
			r := sdk.Row{OffsetRange: sdk.OffsetRange{Partition: sp.partition, Start: a, End: b}, Dims: make([]string, len(dims))}
			var n int64
			dest := []any{&r.Window}
			for i := range r.Dims {
				dest = append(dest, &r.Dims[i])
			}
			dest = append(dest, &r.Count, &n)
			if s.sums {
				dest = append(dest, &r.Sum)
			}
			if err := rows.Scan(dest...); err != nil {
				return err
			}
			merged = append(merged, r)
			rowsBefore += n
			counted += r.Count
			return nil
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

	del, err := tx.ExecContext(ctx, "DELETE FROM "+quoteIdent(s.stmts.aggregateTable)+" WHERE `partition_id` = ? AND ("+ranges+")",
		append([]any{sp.partition}, rangeArgs...)...)
	if err != nil {
		return fmt.Errorf("delete aggregate rows from %s: %w", s.stmts.aggregateTable, err)
	}
	if n, err := del.RowsAffected(); err != nil || n != rowsBefore {
		return fmt.Errorf("deleted %d aggregate rows of %d read (%v): %w", n, rowsBefore, err, errSpanRaced)
	}
	cols := len(s.stmts.aggregateColumns)
	for chunk := range slices.Chunk(merged, maxRowsPerInsert) {
		args := make([]any, 0, len(chunk)*cols)
		for _, r := range chunk {
			args = append(args, a, b, r.Window.UTC(), r.Partition, r.Count)
			if s.sums {
				args = append(args, r.Sum)
			}
			for _, d := range r.Dims {
				args = append(args, d)
			}
		}
		if _, err := tx.ExecContext(ctx, s.stmts.insertRowsSQL(len(chunk)), args...); err != nil {
			return fmt.Errorf("insert %d merged rows into %s: %w", len(chunk), s.stmts.aggregateTable, err)
		}
	}

	del, err = tx.ExecContext(ctx, "DELETE FROM "+quoteIdent(s.stmts.batchesTable)+
		" WHERE `pipeline` = ? AND `stream` = ? AND `partition_id` = ? AND `start_offset` >= ? AND `start_offset` < ?",
		s.pipeline, sp.stream, sp.partition, a, b)
	if err != nil {
		return fmt.Errorf("delete batch records from %s: %w", s.stmts.batchesTable, err)
	}
	if n, err := del.RowsAffected(); err != nil || n != int64(len(locked)) {
		return fmt.Errorf("deleted %d batch records of %d locked (%v): %w", n, len(locked), err, errSpanRaced)
	}
	columns := append(slices.Clone(s.stmts.batchesColumns), colBatches)
	if _, err := tx.ExecContext(ctx, insertSQL(s.stmts.batchesTable, columns, 1),
		s.pipeline, sp.stream, sp.partition, a, b, total.Records, total.Facts, total.Skipped, total.Rejected, total.Lost,
		committedAt, batches); err != nil {
		return fmt.Errorf("insert the span's batch record into %s: %w", s.stmts.batchesTable, err)
	}
	if compactBeforeCommit != nil {
		compactBeforeCommit(sp)
	}
	if err := tx.Commit(); err != nil {
		return fmt.Errorf("commit: %w", err)
	}
	res.Spans++
	res.Batches += int64(len(locked))
	res.RowsBefore += rowsBefore
	res.RowsAfter += int64(len(merged))
	return nil
}

// rangesWhere matches the aggregate rows of sp's ranges by their primary
// key's leading (start_offset, end_offset): the statements then read and
// lock only rows of these ranges, not every partition's rows within
// [a, b) as a range on start_offset would.
func (s *Sink) rangesWhere(sp span) (string, []any) {
	var b strings.Builder
	args := make([]any, 0, 2*len(sp.records))
	for i, r := range sp.records {
		if i > 0 {
			b.WriteString(" OR ")
		}
		b.WriteString("(`start_offset` = ? AND `end_offset` = ?)")
		args = append(args, r.start, r.end)
	}
	return b.String(), args
}
