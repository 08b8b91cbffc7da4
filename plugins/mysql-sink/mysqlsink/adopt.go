package mysqlsink

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/kappa-stream/kappa/sdk"
)

// Adoption takes over a table another program wrote, the 2016 job's above
// all: it resumed from `SELECT partition_id, max(end_offset) ... GROUP BY
// partition_id`, and so does the pipeline after an adoption. Every
// partition's rows are recorded as one batch record marked adopted
// (colAdopted): their counters are unknown, the audit accepts the range
// without checking them, and compaction leaves it alone, since its rows
// carry the old program's ranges rather than its own.

var _ sdk.Adopter = (*Sink)(nil)

// colAdopted marks a batch record standing for rows adopted from before
// Kappa (1), not committed by the pipeline (0).
const colAdopted = "adopted"

// maxOverlapsNamed bounds how many overlapping ranges a refusal names.
const maxOverlapsNamed = 5

// Adopt checks and, with req.Record, records the table's rows as this
// pipeline's progress in one transaction; see sdk.Adopter.
func (s *Sink) Adopt(ctx context.Context, req sdk.AdoptRequest) (res sdk.Adoption, err error) {
	if s.db == nil {
		return res, errNotOpen
	}
	res.Table = s.database + "." + s.stmts.aggregateTable
	tx, err := s.db.BeginTx(ctx, nil) // READ COMMITTED, the session's level
	if err != nil {
		return res, fmt.Errorf("mysql-sink: adopt: begin: %w", err)
	}
	defer func() {
		if !res.Recorded {
			_ = tx.Rollback() // only read, or refused
		}
	}()
	refuse := func(format string, args ...any) { res.Refusals = append(res.Refusals, fmt.Sprintf(format, args...)) }

	var owner string
	var claimedAt time.Time
	err = tx.QueryRowContext(ctx, "SELECT `pipeline`, `claimed_at` FROM "+quoteIdent(s.tablesTable)+" WHERE `table_name` = ? FOR UPDATE",
		s.stmts.aggregateTable).Scan(&owner, &claimedAt)
	if err != nil && !errors.Is(err, sql.ErrNoRows) {
		return res, fmt.Errorf("mysql-sink: adopt: read the owner of table %s from %s: %w", res.Table, s.tablesTable, err)
	}
	if owner != "" && owner != s.pipeline {
		refuse("table %s belongs to pipeline %q (claimed %s): only a table no pipeline claimed can be adopted",
			res.Table, owner, claimedAt.UTC().Format(time.DateTime+" UTC"))
	}
	if err := s.refuseProgress(ctx, tx, refuse); err != nil {
		return res, fmt.Errorf("mysql-sink: adopt: %w", err)
	}
	if err := s.readAdoptable(ctx, tx, &res, refuse); err != nil {
		return res, fmt.Errorf("mysql-sink: adopt: read %s: %w", res.Table, err)
	}
	if len(res.Partitions) == 0 {
		refuse("table %s holds no rows: there is nothing to adopt; run the pipeline, which starts every partition at its start:", res.Table)
	}
	checkLogEnds(req, res.Partitions, refuse)
	if len(res.Refusals) > 0 || !req.Record {
		return res, nil
	}

	now := time.Now().UTC()
	for _, p := range res.Partitions {
		if _, err := tx.ExecContext(ctx, s.stmts.insertPosition, s.pipeline, req.Stream, p.Partition, p.End, req.StreamID, now); err != nil {
			return res, fmt.Errorf("mysql-sink: adopt: record partition %d's position %d in %s: %w", p.Partition, p.End, s.stmts.offsetsTable, err)
		}
		_, err := tx.ExecContext(ctx, "INSERT INTO "+quoteIdent(s.stmts.batchesTable)+
			" (`pipeline`, `stream`, `partition_id`, `start_offset`, `end_offset`, `records`, `facts`, `skipped`, `rejected`, `lost`, `committed_at`, "+
			quoteIdent(colBatches)+", "+quoteIdent(colAdopted)+") VALUES (?, ?, ?, ?, ?, 0, 0, 0, 0, 0, ?, ?, 1)",
			s.pipeline, req.Stream, p.Partition, p.Start, p.End, now, p.Ranges)
		if err != nil {
			return res, fmt.Errorf("mysql-sink: adopt: record partition %d's range [%d, %d) in %s: %w", p.Partition, p.Start, p.End, s.stmts.batchesTable, err)
		}
	}
	if owner == "" {
		_, err := tx.ExecContext(ctx, "INSERT INTO "+quoteIdent(s.tablesTable)+" (`table_name`, `pipeline`, `claimed_at`) VALUES (?, ?, ?)",
			s.stmts.aggregateTable, s.pipeline, now)
		if err != nil {
			return res, fmt.Errorf("mysql-sink: adopt: claim table %s in %s: %w", res.Table, s.tablesTable, err)
		}
	}
	if err := tx.Commit(); err != nil {
		return res, fmt.Errorf("mysql-sink: adopt: commit (outcome unknown: run adopt again, which refuses if it was recorded): %w", err)
	}
	res.Recorded = true
	return res, nil
}

// refuseProgress refuses a pipeline that has positions or batch records
// already: it was adopted before, or it has run.
func (s *Sink) refuseProgress(ctx context.Context, tx *sql.Tx, refuse func(string, ...any)) error {
	var positions []string
	err := query(ctx, tx, "SELECT `stream`, `partition_id`, `next_offset` FROM "+quoteIdent(s.stmts.offsetsTable)+
		" WHERE `pipeline` = ? ORDER BY `stream`, `partition_id`", []any{s.pipeline}, func(rows *sql.Rows) error {
		var stream string
		var partition int32
		var next int64
		if err := rows.Scan(&stream, &partition, &next); err != nil {
			return err
		}
		positions = append(positions, fmt.Sprintf("%s/%d at %d", stream, partition, next))
		return nil
	})
	if err != nil {
		return fmt.Errorf("read positions from %s: %w", s.stmts.offsetsTable, err)
	}
	var batches int64
	err = tx.QueryRowContext(ctx, "SELECT COUNT(*) FROM "+quoteIdent(s.stmts.batchesTable)+" WHERE `pipeline` = ?", s.pipeline).Scan(&batches)
	if err != nil {
		return fmt.Errorf("read batch records from %s: %w", s.stmts.batchesTable, err)
	}
	switch {
	case len(positions) > 0:
		refuse("pipeline %q already has positions in %s (%s): the table was adopted already, or the pipeline has run; it continues from them as it is",
			s.pipeline, s.stmts.offsetsTable, strings.Join(positions, ", "))
	case batches > 0:
		refuse("pipeline %q already has %d batch records in %s: the pipeline has committed before; adopting now would count their offsets twice",
			s.pipeline, batches, s.stmts.batchesTable)
	}
	return nil
}

// readAdoptable sums the table's rows per partition into res.Partitions,
// refusing ranges that cannot be one program's output.
func (s *Sink) readAdoptable(ctx context.Context, tx *sql.Tx, res *sdk.Adoption, refuse func(string, ...any)) error {
	var overlaps, reversed []string
	var cur *sdk.AdoptedRange
	err := query(ctx, tx, "SELECT `partition_id`, `start_offset`, `end_offset`, COUNT(*), COALESCE(SUM(`count`), 0), MIN(`timestamp`), MAX(`timestamp`) FROM "+
		quoteIdent(s.stmts.aggregateTable)+" GROUP BY `partition_id`, `start_offset`, `end_offset` ORDER BY `partition_id`, `start_offset`, `end_offset`",
		nil, func(rows *sql.Rows) error {
			var r sdk.AdoptedRange
			if err := rows.Scan(&r.Partition, &r.Start, &r.End, &r.Rows, &r.Count, &r.FirstWindow, &r.LastWindow); err != nil {
				return err
			}
			if r.End <= r.Start {
				reversed = append(reversed, fmt.Sprintf("partition %d [%d, %d)", r.Partition, r.Start, r.End))
			}
			if cur == nil || cur.Partition != r.Partition {
				r.Ranges = 1
				res.Partitions = append(res.Partitions, r)
				cur = &res.Partitions[len(res.Partitions)-1]
				return nil
			}
			if r.Start < cur.End {
				overlaps = append(overlaps, fmt.Sprintf("partition %d: [%d, %d) overlaps offsets below %d", r.Partition, r.Start, r.End, cur.End))
			}
			cur.End = max(cur.End, r.End)
			cur.Ranges++
			cur.Rows += r.Rows
			cur.Count += r.Count
			if r.FirstWindow.Before(cur.FirstWindow) {
				cur.FirstWindow = r.FirstWindow
			}
			if r.LastWindow.After(cur.LastWindow) {
				cur.LastWindow = r.LastWindow
			}
			return nil
		})
	if err != nil {
		return err
	}
	if len(overlaps) > 0 {
		refuse("overlapping ranges: %s: one job reads each offset once, so these rows were written by more than one job (or one that re-read), and counts in them may be doubled",
			named(overlaps))
	}
	if len(reversed) > 0 {
		refuse("empty or reversed ranges: %s: no job reading offsets in order writes those", named(reversed))
	}
	return nil
}

// checkLogEnds refuses partitions whose rows reach past the stream's log.
func checkLogEnds(req sdk.AdoptRequest, partitions []sdk.AdoptedRange, refuse func(string, ...any)) {
	ends := map[int32]sdk.Watermark{}
	for _, w := range req.LogEnds {
		ends[w.Partition] = w
	}
	for _, p := range partitions {
		w, ok := ends[p.Partition]
		switch {
		case !ok:
			refuse("partition %d has rows, but stream %s has no partition %d (it has %d): the rows were read from another stream",
				p.Partition, req.Stream, p.Partition, len(req.LogEnds))
		case p.End > w.End:
			refuse("partition %d: its rows reach offset %d (max(end_offset)), past the partition's log end %d: they were read from another stream, or from %s before it was deleted and created again",
				p.Partition, p.End, w.End, req.Stream)
		}
	}
}

// named joins the first few of items and says how many more there are.
func named(items []string) string {
	if len(items) <= maxOverlapsNamed {
		return strings.Join(items, "; ")
	}
	return fmt.Sprintf("%s; and %d more", strings.Join(items[:maxOverlapsNamed], "; "), len(items)-maxOverlapsNamed)
}
