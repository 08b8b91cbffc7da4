package pgsink

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/kappa-stream/kappa/sdk"
)

// Table ownership, as in mysql-sink: an aggregate table belongs to one
// pipeline. Its rows carry no pipeline (the 2016 layout) and positions are
// kept per pipeline, so a second pipeline name on the same table would
// read everything again into it and double every count. The tables table
// records each aggregate table's owner, claimed at Open; another pipeline
// is refused. A table nobody claimed is claimed when it is empty, or when
// its first row (in key order) carries a range this pipeline committed.

// TableOwnedError says that the aggregate table belongs to another
// pipeline, or holds rows no pipeline claimed that this one did not write.
type TableOwnedError struct {
	Schema, Table string
	// Pipeline is the one opening the sink.
	Pipeline string
	// Owner is the pipeline that claimed the table, and ClaimedAt when;
	// empty for a table nobody claimed.
	Owner     string
	ClaimedAt time.Time
}

func (e *TableOwnedError) Error() string {
	if e.Owner == "" {
		return fmt.Sprintf("table %s.%s holds rows that pipeline %q did not commit (no range of it matches them), and no pipeline claimed it: "+
			"they were written by another pipeline or program, and counting into it would mix them; "+
			"give this pipeline its own table (sink.config.table)", e.Schema, e.Table, e.Pipeline)
	}
	return fmt.Sprintf("table %s.%s belongs to pipeline %q (claimed %s), not to pipeline %q: "+
		"a second pipeline would count the same records into it again; "+
		"if this is the same pipeline renamed or copied, set `name: %s` in the pipeline file; otherwise give it its own table (sink.config.table)",
		e.Schema, e.Table, e.Owner, e.ClaimedAt.UTC().Format(time.DateTime+" UTC"), e.Pipeline, e.Owner)
}

// claimTable makes the aggregate table the pipeline's, or returns a
// permanent *TableOwnedError.
func claimTable(ctx context.Context, db *pgxpool.Pool, pipeline string, st statements) error {
	// Two attempts: a concurrent claimer may insert between the read and
	// this one's insert; the second read then sees its claim.
	for range 2 {
		var owner string
		var claimedAt time.Time
		err := db.QueryRow(ctx, `SELECT "pipeline", "claimed_at" FROM `+st.tables()+` WHERE "table_name" = $1`, st.aggregateTable).
			Scan(&owner, &claimedAt)
		if err != nil && !errors.Is(err, pgx.ErrNoRows) {
			return fmt.Errorf("read the owner of table %s.%s from %s: %w", st.schema, st.aggregateTable, st.tablesTable, err)
		}
		if owner == pipeline {
			return nil
		}
		if owner != "" {
			return sdk.Permanent(&TableOwnedError{Schema: st.schema, Table: st.aggregateTable, Pipeline: pipeline, Owner: owner, ClaimedAt: claimedAt})
		}
		ours, err := rowsAreOurs(ctx, db, pipeline, st)
		if err != nil {
			return fmt.Errorf("table %s.%s: %w", st.schema, st.aggregateTable, err)
		}
		if !ours {
			return sdk.Permanent(&TableOwnedError{Schema: st.schema, Table: st.aggregateTable, Pipeline: pipeline})
		}
		tag, err := db.Exec(ctx, "INSERT INTO "+st.tables()+` ("table_name", "pipeline", "claimed_at") VALUES ($1, $2, $3) ON CONFLICT DO NOTHING`,
			st.aggregateTable, pipeline, time.Now().UTC())
		if err != nil {
			return fmt.Errorf("claim table %s.%s in %s: %w", st.schema, st.aggregateTable, st.tablesTable, err)
		}
		if tag.RowsAffected() == 1 {
			return nil
		}
	}
	return fmt.Errorf("claim table %s.%s in %s: claimed and unclaimed in turn", st.schema, st.aggregateTable, st.tablesTable)
}

// rowsAreOurs reports whether an unclaimed aggregate table may be claimed
// by pipeline: it is empty, or its first row (in key order) carries a
// range that pipeline committed.
func rowsAreOurs(ctx context.Context, db *pgxpool.Pool, pipeline string, st statements) (bool, error) {
	var partition int32
	var start, end int64
	err := db.QueryRow(ctx, `SELECT "partition_id", "start_offset", "end_offset" FROM `+st.aggregate()+
		` ORDER BY "start_offset", "end_offset", "timestamp", "partition_id" LIMIT 1`).Scan(&partition, &start, &end)
	if errors.Is(err, pgx.ErrNoRows) {
		return true, nil
	}
	if err != nil {
		return false, fmt.Errorf("read its first row: %w", err)
	}
	var one int
	err = db.QueryRow(ctx, `SELECT 1 FROM `+st.batches()+
		` WHERE "pipeline" = $1 AND "partition_id" = $2 AND "start_offset" = $3 AND "end_offset" = $4 LIMIT 1`,
		pipeline, partition, start, end).Scan(&one)
	if errors.Is(err, pgx.ErrNoRows) {
		return false, nil
	}
	if err != nil {
		return false, fmt.Errorf("find its first row's range in %s: %w", st.batchesTable, err)
	}
	return true, nil
}
