package pgsink

import (
	"context"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/kappa-stream/kappa/internal/compaction"
	"github.com/kappa-stream/kappa/sdk"
)

// Compaction rolls settled history up, as mysql-sink's does
// (internal/compaction plans the spans and checks the fence). For one
// partition, a span [a, b) of consecutive batch records becomes, in one
// transaction, one aggregate row per (window[, dimensions]) carrying
// [a, b) with the summed count (and sum), and one batch record for [a, b)
// with the summed counters and the number of batches it stands for. Sums per (partition,
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

// maxSpanRows is a variable only so that a test can lower it.
var maxSpanRows int64 = compaction.MaxSpanRows

// OverflowError says that a span's merged count for one window would not
// fit the aggregate table's integer column; the span is left unmerged.
type OverflowError = compaction.OverflowError

// compactBeforeCommit, when set by a test, runs inside a span's
// transaction right before COMMIT.
var compactBeforeCommit func(sp compaction.Span)

// Compact merges settled spans; see sdk.Compactor, compaction.Pass and the
// comment above.
func (s *Sink) Compact(ctx context.Context, req sdk.CompactRequest) (sdk.CompactResult, error) {
	if s.db == nil {
		return sdk.CompactResult{}, errNotOpen
	}
	began := time.Now()
	if err := s.expireDeadLetters(ctx); err != nil {
		return sdk.CompactResult{}, err
	}
	return compaction.Pass{
		Plugin: "postgres-sink",
		Plan: func(ctx context.Context, cutoff time.Time, full bool) ([]compaction.Span, error) {
			s.gen.mu.RLock() // a swap rebinds the statements
			defer s.gen.mu.RUnlock()
			return s.planSpans(ctx, cutoff, full)
		},
		Merge: s.compactSpan,
		Busy: func(err error) bool {
			return isPgError(err, codeDeadlockDetected) || isPgError(err, codeLockNotAvailable) || isPgError(err, codeSerializationFailure)
		},
	}.Run(ctx, req, began)
}

// planSpans reads the positions and the batch records committed before
// cutoff and plans their spans (compaction.Planner).
func (s *Sink) planSpans(ctx context.Context, cutoff time.Time, full bool) ([]compaction.Span, error) {
	positions := map[compaction.Partition]int64{}
	var k compaction.Partition
	var next int64
	_, err := forEach(ctx, s.db, `SELECT "stream", "partition_id", "next_offset" FROM `+s.stmts.offsets()+` WHERE "pipeline" = $1`,
		[]any{s.pipeline}, []any{&k.Stream, &k.Partition, &next}, func() error {
			positions[k] = next
			return nil
		})
	if err != nil {
		return nil, fmt.Errorf("read positions from %s: %w", s.stmts.offsetsTable, err)
	}
	if err := compaction.OneStream(positions, s.pipeline, s.stmts.aggregateTable); err != nil {
		return nil, err // as in Audit
	}
	plan := compaction.NewPlanner(positions, full)
	var r compaction.Record
	_, err = forEach(ctx, s.db, `SELECT "stream", "partition_id", "start_offset", "end_offset", "batches", "committed_at" FROM `+s.stmts.batches()+
		` WHERE "pipeline" = $1 AND "committed_at" <= $2 ORDER BY "stream", "partition_id", "start_offset"`,
		[]any{s.pipeline, cutoff}, []any{&k.Stream, &k.Partition, &r.Start, &r.End, &r.Batches, &r.CommittedAt}, func() error {
			plan.Add(k, r)
			return nil
		})
	if err != nil {
		return nil, fmt.Errorf("read batch records from %s: %w", s.stmts.batchesTable, err)
	}
	return plan.Spans(), nil
}

// compactSpan merges sp in one transaction and adds what it did to res.
func (s *Sink) compactSpan(ctx context.Context, sp compaction.Span, res *sdk.CompactResult) (err error) {
	s.gen.mu.RLock() // a swap of the generation's table waits
	defer s.gen.mu.RUnlock()
	a, b := sp.Start(), sp.End()
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
	var locked compaction.Locked
	var r compaction.Record
	var c sdk.RangeStats
	_, err = forEach(ctx, tx, `SELECT "start_offset", "end_offset", "records", "facts", "skipped", "rejected", "lost", "batches", "committed_at" FROM `+
		s.stmts.batches()+` WHERE "pipeline" = $1 AND "stream" = $2 AND "partition_id" = $3 AND "start_offset" >= $4 AND "start_offset" < $5`+
		` ORDER BY "start_offset" FOR UPDATE`, []any{s.pipeline, sp.Stream, sp.Partition, a, b},
		[]any{&r.Start, &r.End, &c.Records, &c.Facts, &c.Skipped, &c.Rejected, &c.Lost, &r.Batches, &r.CommittedAt}, func() error {
			locked.Add(r, c)
			return nil
		})
	if err != nil {
		return fmt.Errorf("lock batch records in %s: %w", s.stmts.batchesTable, err)
	}
	var next int64
	if err := tx.QueryRow(ctx, s.stmts.readPosition, s.pipeline, sp.Stream, sp.Partition).Scan(&next); err != nil {
		return fmt.Errorf("read position: %w", err)
	}
	if err := locked.Check(sp, next); err != nil {
		return err
	}

	// The rows that carry the span's ranges, merged per window[, dims].
	starts, ends := make([]int64, len(sp.Records)), make([]int64, len(sp.Records))
	for i, r := range sp.Records {
		starts[i], ends[i] = r.Start, r.End
	}
	ranges := `"partition_id" = $1 AND ("start_offset", "end_offset") IN (SELECT * FROM unnest($2::bigint[], $3::bigint[]))`
	groupBy := quoteIdents(append([]string{colTimestamp}, s.stmts.dimensions...))
	sel := "SELECT " + groupBy + `, sum("count"), count(*)`
	if s.sums {
		sel += `, sum("sum")`
	}
	var merged []sdk.Row
	var rowsBefore int64
	rows, err := tx.Query(ctx, sel+" FROM "+s.stmts.aggregate()+" WHERE "+ranges+" GROUP BY "+groupBy, sp.Partition, starts, ends)
	if err != nil {
		return fmt.Errorf("read aggregate rows of %s: %w", s.stmts.aggregateTable, err)
	}
	merged, err = pgx.CollectRows(rows, func(row pgx.CollectableRow) (sdk.Row, error) {
		m := compaction.NewMergedRow(sp, len(s.stmts.dimensions), s.sums)
		err := row.Scan(m.Dest()...)
		rowsBefore += m.Rows
		return m.Row, err
	})
	if err != nil {
		return fmt.Errorf("read aggregate rows of %s: %w", s.stmts.aggregateTable, err)
	}
	if err := locked.CheckMerged(sp, merged, rowsBefore, maxSpanRows, "integer"); err != nil {
		return err
	}

	tag, err := tx.Exec(ctx, "DELETE FROM "+s.stmts.aggregate()+" WHERE "+ranges, sp.Partition, starts, ends)
	if err != nil {
		return fmt.Errorf("delete aggregate rows from %s: %w", s.stmts.aggregateTable, err)
	}
	if tag.RowsAffected() != rowsBefore {
		return fmt.Errorf("deleted %d aggregate rows of %d read: %w", tag.RowsAffected(), rowsBefore, compaction.ErrRaced)
	}
	if len(merged) > 0 {
		if _, err := tx.Exec(ctx, s.stmts.insertRows, s.rowArgs(merged)...); err != nil {
			return fmt.Errorf("insert %d merged rows into %s: %w", len(merged), s.stmts.aggregateTable, err)
		}
	}
	tag, err = tx.Exec(ctx, "DELETE FROM "+s.stmts.batches()+
		` WHERE "pipeline" = $1 AND "stream" = $2 AND "partition_id" = $3 AND "start_offset" >= $4 AND "start_offset" < $5`,
		s.pipeline, sp.Stream, sp.Partition, a, b)
	if err != nil {
		return fmt.Errorf("delete batch records from %s: %w", s.stmts.batchesTable, err)
	}
	if tag.RowsAffected() != int64(len(locked.Records)) {
		return fmt.Errorf("deleted %d batch records of %d locked: %w", tag.RowsAffected(), len(locked.Records), compaction.ErrRaced)
	}
	if _, err := tx.Exec(ctx, "INSERT INTO "+s.stmts.batches()+
		` ("pipeline", "stream", "partition_id", "start_offset", "end_offset", "records", "facts", "skipped", "rejected", "lost", "committed_at", "batches")`+
		` VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12)`,
		s.pipeline, sp.Stream, sp.Partition, a, b, locked.Stats.Records, locked.Stats.Facts, locked.Stats.Skipped, locked.Stats.Rejected, locked.Stats.Lost, locked.CommittedAt, locked.Batches); err != nil {
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
	res.Batches += int64(len(locked.Records))
	res.RowsBefore += rowsBefore
	res.RowsAfter += int64(len(merged))
	return nil
}
