package mysqlsink

import (
	"context"
	"database/sql"
	"fmt"

	"github.com/kappa-stream/kappa/internal/auditreport"
	"github.com/kappa-stream/kappa/sdk"
)

var _ sdk.Auditor = (*Sink)(nil)

// Audit reads, in one consistent snapshot, the pipeline's positions, its
// batches records and the aggregate rows summed per range, so that a
// pipeline can be audited while it runs. The aggregate table has no stream
// column (it keeps the 2016 layout), so its rows are attributed to the
// pipeline's only stream; a pipeline that committed to several streams
// into one table cannot be audited.
func (s *Sink) Audit(ctx context.Context) ([]sdk.StreamAudit, error) {
	if s.db == nil {
		return nil, errNotOpen
	}
	s.gen.mu.RLock() // a swap rebinds the pipeline key and statements (generations.go)
	defer s.gen.mu.RUnlock()
	tx, err := s.db.BeginTx(ctx, &sql.TxOptions{Isolation: sql.LevelRepeatableRead, ReadOnly: true})
	if err != nil {
		return nil, fmt.Errorf("mysql-sink: audit: begin: %w", err)
	}
	defer tx.Rollback() // read only: nothing to keep

	var report auditreport.Report
	err = query(ctx, tx, "SELECT `stream`, `partition_id`, `next_offset` FROM "+quoteIdent(s.stmts.offsetsTable)+
		" WHERE `pipeline` = ? ORDER BY `stream`, `partition_id`", []any{s.pipeline}, func(rows *sql.Rows) error {
		var stream string
		var p sdk.Position
		if err := rows.Scan(&stream, &p.Partition, &p.NextOffset); err != nil {
			return err
		}
		report.Position(stream, p)
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("mysql-sink: audit: read %s: %w", s.stmts.offsetsTable, err)
	}
	err = query(ctx, tx, "SELECT `stream`, `partition_id`, `start_offset`, `end_offset`, `records`, `facts`, `skipped`, `rejected`, `lost`, "+quoteIdent(colAdopted)+" FROM "+
		quoteIdent(s.stmts.batchesTable)+" WHERE `pipeline` = ? ORDER BY `stream`, `partition_id`, `start_offset`, `end_offset`",
		[]any{s.pipeline}, func(rows *sql.Rows) error {
			var stream string
			var r sdk.RangeStats
			var adopted bool
			if err := rows.Scan(&stream, &r.Partition, &r.Start, &r.End, &r.Records, &r.Facts, &r.Skipped, &r.Rejected, &r.Lost, &adopted); err != nil {
				return err
			}
			report.Batch(stream, r, adopted)
			return nil
		})
	if err != nil {
		return nil, fmt.Errorf("mysql-sink: audit: read %s: %w", s.stmts.batchesTable, err)
	}
	err = query(ctx, tx, "SELECT `partition_id`, `start_offset`, `end_offset`, COUNT(*), COALESCE(SUM(`count`), 0) FROM "+
		quoteIdent(s.stmts.aggregateTable)+" GROUP BY `partition_id`, `start_offset`, `end_offset` ORDER BY `partition_id`, `start_offset`, `end_offset`",
		nil, func(rows *sql.Rows) error {
			var g sdk.AggregateRange
			if err := rows.Scan(&g.Partition, &g.Start, &g.End, &g.Rows, &g.Count); err != nil {
				return err
			}
			report.Aggregate(g)
			return nil
		})
	if err != nil {
		return nil, fmt.Errorf("mysql-sink: audit: read %s: %w", s.stmts.aggregateTable, err)
	}
	streams, err := report.Streams(s.pipeline, s.stmts.aggregateTable)
	if err != nil {
		return nil, fmt.Errorf("mysql-sink: audit: %w", err)
	}
	return streams, nil
}

// query runs a query in tx and calls scan for every row.
func query(ctx context.Context, tx *sql.Tx, q string, args []any, scan func(*sql.Rows) error) error {
	rows, err := tx.QueryContext(ctx, q, args...)
	if err != nil {
		return err
	}
	defer rows.Close()
	for rows.Next() {
		if err := scan(rows); err != nil {
			return err
		}
	}
	return rows.Err()
}
