package mysqlsink

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"

	"github.com/kappa-stream/kappa/sdk"
)

// Table ownership: an aggregate table belongs to one pipeline. Its rows
// carry no pipeline (the 2016 layout), and positions are kept per
// pipeline, so a second pipeline name on the same table (a copied or
// renamed pipeline file, whose name defaults to the file's) would read
// everything again into it and double every count. The tables table
// records each aggregate table's owner, claimed at Open; another pipeline
// is refused.
//
// A table nobody claimed yet is claimed when it is empty, or when its rows
// are this pipeline's: the first of them (in key order) carries a range
// this pipeline committed, as a table of a version before ownership shows.
// Rows of anything else (another pipeline, the 2016 job) are refused; the
// way to take over the 2016 job's table is an explicit adoption (adopt.go),
// which claims the table in the transaction that records its progress.

func tablesSchema(table string) tableSchema {
	return tableSchema{
		Name: table,
		Columns: []column{
			{Name: "table_name", Type: "varchar(64) NOT NULL", DataType: "varchar", Length: 64},
			{Name: "pipeline", Type: "varchar(191) NOT NULL", DataType: "varchar", Length: 191},
			{Name: "claimed_at", Type: "datetime(6) NOT NULL", DataType: "datetime"},
		},
		PrimaryKey: []string{"table_name"},
		Charset:    "utf8mb4 COLLATE=utf8mb4_bin",
	}
}

// TableOwnedError says that the aggregate table belongs to another
// pipeline, or holds rows no pipeline claimed that this one did not write.
type TableOwnedError struct {
	Database, Table string
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
			"give this pipeline its own table (sink.config.table); if the 2016 Spark job wrote them, stop it and take the table and its progress over "+
			"with `kappa-runtime adopt PIPELINE.yaml`", e.Database, e.Table, e.Pipeline)
	}
	return fmt.Sprintf("table %s.%s belongs to pipeline %q (claimed %s), not to pipeline %q: "+
		"a second pipeline would count the same records into it again; "+
		"if this is the same pipeline renamed or copied, set `name: %s` in the pipeline file; otherwise give it its own table (sink.config.table)",
		e.Database, e.Table, e.Owner, e.ClaimedAt.UTC().Format(time.DateTime+" UTC"), e.Pipeline, e.Owner)
}

// claimTable makes the aggregate table the pipeline's, or returns a
// permanent *TableOwnedError.
func claimTable(ctx context.Context, db *sql.DB, database, pipeline string, names statements, tables string) error {
	// Two attempts: a concurrent claimer may insert between the read and
	// this one's insert; the second read then sees its claim.
	for range 2 {
		owner, claimedAt, err := readOwner(ctx, db, tables, names.aggregateTable)
		if err != nil {
			return fmt.Errorf("read the owner of table %s.%s from %s: %w", database, names.aggregateTable, tables, err)
		}
		if owner == pipeline {
			return nil
		}
		if owner != "" {
			return sdk.Permanent(&TableOwnedError{Database: database, Table: names.aggregateTable, Pipeline: pipeline, Owner: owner, ClaimedAt: claimedAt})
		}
		ours, err := rowsAreOurs(ctx, db, pipeline, names)
		if err != nil {
			return fmt.Errorf("table %s.%s: %w", database, names.aggregateTable, err)
		}
		if !ours {
			return sdk.Permanent(&TableOwnedError{Database: database, Table: names.aggregateTable, Pipeline: pipeline})
		}
		_, err = db.ExecContext(ctx, "INSERT INTO "+quoteIdent(tables)+" (`table_name`, `pipeline`, `claimed_at`) VALUES (?, ?, ?)",
			names.aggregateTable, pipeline, time.Now().UTC())
		if !isMySQLError(err, errDuplicateKey) {
			if err != nil {
				return fmt.Errorf("claim table %s.%s in %s: %w", database, names.aggregateTable, tables, err)
			}
			return nil
		}
	}
	return fmt.Errorf("claim table %s.%s in %s: claimed and unclaimed in turn", database, names.aggregateTable, tables)
}

// readOwner reads who claimed table; "" when nobody did.
func readOwner(ctx context.Context, db *sql.DB, tables, table string) (owner string, claimedAt time.Time, err error) {
	err = db.QueryRowContext(ctx, "SELECT `pipeline`, `claimed_at` FROM "+quoteIdent(tables)+" WHERE `table_name` = ?", table).
		Scan(&owner, &claimedAt)
	if errors.Is(err, sql.ErrNoRows) {
		return "", time.Time{}, nil
	}
	return owner, claimedAt, err
}

// rowsAreOurs reports whether an unclaimed aggregate table may be claimed
// by pipeline: it is empty, or its first row (in key order) carries a
// range that pipeline committed.
func rowsAreOurs(ctx context.Context, db *sql.DB, pipeline string, names statements) (bool, error) {
	var partition int32
	var start, end int64
	err := db.QueryRowContext(ctx, "SELECT `partition_id`, `start_offset`, `end_offset` FROM "+quoteIdent(names.aggregateTable)+
		" ORDER BY `start_offset`, `end_offset`, `timestamp`, `partition_id` LIMIT 1").Scan(&partition, &start, &end)
	if errors.Is(err, sql.ErrNoRows) {
		return true, nil
	}
	if err != nil {
		return false, fmt.Errorf("read its first row: %w", err)
	}
	var one int
	err = db.QueryRowContext(ctx, "SELECT 1 FROM "+quoteIdent(names.batchesTable)+
		" WHERE `pipeline` = ? AND `partition_id` = ? AND `start_offset` = ? AND `end_offset` = ? LIMIT 1",
		pipeline, partition, start, end).Scan(&one)
	if errors.Is(err, sql.ErrNoRows) {
		return false, nil
	}
	if err != nil {
		return false, fmt.Errorf("find its first row's range in %s: %w", names.batchesTable, err)
	}
	return true, nil
}
