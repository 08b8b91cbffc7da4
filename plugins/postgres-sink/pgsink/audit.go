package pgsink

import (
	"context"
	"fmt"

	"github.com/jackc/pgx/v5"

	"github.com/kappa-stream/kappa/internal/auditreport"
	"github.com/kappa-stream/kappa/sdk"
)

var _ sdk.Auditor = (*Sink)(nil)

// Audit reads, in one REPEATABLE READ snapshot, the pipeline's positions,
// its batches records and the aggregate rows summed per range, so that a
// pipeline can be audited while it runs. The aggregate table has no stream
// column (the 2016 layout), so its rows are attributed to the pipeline's
// only stream; a pipeline that committed to several streams into one
// table cannot be audited.
func (s *Sink) Audit(ctx context.Context) ([]sdk.StreamAudit, error) {
	if s.db == nil {
		return nil, errNotOpen
	}
	pipeline, st := s.bound() // a swap rebinds them (generations.go)
	tx, err := s.db.BeginTx(ctx, pgx.TxOptions{IsoLevel: pgx.RepeatableRead, AccessMode: pgx.ReadOnly})
	if err != nil {
		return nil, fmt.Errorf("postgres-sink: audit: begin: %w", err)
	}
	defer tx.Rollback(context.WithoutCancel(ctx)) // read only: nothing to keep

	var report auditreport.Report
	var stream string
	var p sdk.Position
	_, err = forEach(ctx, tx, `SELECT "stream", "partition_id", "next_offset" FROM `+st.offsets()+
		` WHERE "pipeline" = $1 ORDER BY "stream", "partition_id"`, []any{pipeline},
		[]any{&stream, &p.Partition, &p.NextOffset}, func() error {
			report.Position(stream, p)
			return nil
		})
	if err != nil {
		return nil, fmt.Errorf("postgres-sink: audit: read %s: %w", st.offsetsTable, err)
	}
	var r sdk.RangeStats
	_, err = forEach(ctx, tx, `SELECT "stream", "partition_id", "start_offset", "end_offset", "records", "facts", "skipped", "rejected", "lost" FROM `+
		st.batches()+` WHERE "pipeline" = $1 ORDER BY "stream", "partition_id", "start_offset", "end_offset"`, []any{pipeline},
		[]any{&stream, &r.Partition, &r.Start, &r.End, &r.Records, &r.Facts, &r.Skipped, &r.Rejected, &r.Lost}, func() error {
			report.Batch(stream, r, false)
			return nil
		})
	if err != nil {
		return nil, fmt.Errorf("postgres-sink: audit: read %s: %w", st.batchesTable, err)
	}
	var g sdk.AggregateRange
	_, err = forEach(ctx, tx, `SELECT "partition_id", "start_offset", "end_offset", count(*), COALESCE(sum("count"), 0) FROM `+
		st.aggregate()+` GROUP BY "partition_id", "start_offset", "end_offset" ORDER BY "partition_id", "start_offset", "end_offset"`, nil,
		[]any{&g.Partition, &g.Start, &g.End, &g.Rows, &g.Count}, func() error {
			report.Aggregate(g)
			return nil
		})
	if err != nil {
		return nil, fmt.Errorf("postgres-sink: audit: read %s: %w", st.aggregateTable, err)
	}
	streams, err := report.Streams(pipeline, st.aggregateTable)
	if err != nil {
		return nil, fmt.Errorf("postgres-sink: audit: %w", err)
	}
	return streams, nil
}

// querier is what forEach needs of a pool or a transaction.
type querier interface {
	Query(ctx context.Context, sql string, args ...any) (pgx.Rows, error)
}

// forEach runs a query, scans every row into dest and calls each after
// each row; it returns how many rows it read.
func forEach(ctx context.Context, q querier, sql string, args, dest []any, each func() error) (int, error) {
	rows, err := q.Query(ctx, sql, args...)
	if err != nil {
		return 0, err
	}
	n := 0
	_, err = pgx.ForEachRow(rows, dest, func() error {
		n++
		return each()
	})
	return n, err
}
