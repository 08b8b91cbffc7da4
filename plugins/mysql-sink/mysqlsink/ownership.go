package mysqlsink

import (
	"context"
	"database/sql"
	"errors"
	"time"

	"github.com/kappa-stream/kappa/internal/tableowner"
	"github.com/kappa-stream/kappa/sdk"
)

// Table ownership (internal/tableowner decides): an aggregate table
// belongs to one pipeline, claimed at Open in the tables table; another
// pipeline is refused. The way to take over the 2016 job's table is an
// explicit adoption (adopt.go), which claims the table in the transaction
// that records its progress.

// TableOwnedError says that the aggregate table belongs to another
// pipeline, or holds rows no pipeline claimed that this one did not write.
type TableOwnedError = tableowner.Error

// claimTable makes the aggregate table the pipeline's, or returns a
// permanent *TableOwnedError.
func claimTable(ctx context.Context, db *sql.DB, database, pipeline string, names statements, tables string) error {
	return tableowner.Claim{
		Namespace: database, Table: names.aggregateTable, Pipeline: pipeline,
		TablesTable: tables, BatchesTable: names.batchesTable, Adoptable: true,
		ReadOwner: func(ctx context.Context) (owner string, claimedAt time.Time, err error) {
			err = db.QueryRowContext(ctx, "SELECT `pipeline`, `claimed_at` FROM "+quoteIdent(tables)+" WHERE `table_name` = ?", names.aggregateTable).
				Scan(&owner, &claimedAt)
			if errors.Is(err, sql.ErrNoRows) {
				return "", time.Time{}, nil
			}
			return owner, claimedAt, err
		},
		FirstRow: func(ctx context.Context) (r sdk.OffsetRange, ok bool, err error) {
			err = db.QueryRowContext(ctx, "SELECT `partition_id`, `start_offset`, `end_offset` FROM "+quoteIdent(names.aggregateTable)+
				" ORDER BY `start_offset`, `end_offset`, `timestamp`, `partition_id` LIMIT 1").Scan(&r.Partition, &r.Start, &r.End)
			if errors.Is(err, sql.ErrNoRows) {
				return r, false, nil
			}
			return r, err == nil, err
		},
		Committed: func(ctx context.Context, r sdk.OffsetRange) (bool, error) {
			var one int
			err := db.QueryRowContext(ctx, "SELECT 1 FROM "+quoteIdent(names.batchesTable)+
				" WHERE `pipeline` = ? AND `partition_id` = ? AND `start_offset` = ? AND `end_offset` = ? LIMIT 1",
				pipeline, r.Partition, r.Start, r.End).Scan(&one)
			if errors.Is(err, sql.ErrNoRows) {
				return false, nil
			}
			return err == nil, err
		},
		Insert: func(ctx context.Context, now time.Time) (bool, error) {
			_, err := db.ExecContext(ctx, "INSERT INTO "+quoteIdent(tables)+" (`table_name`, `pipeline`, `claimed_at`) VALUES (?, ?, ?)",
				names.aggregateTable, pipeline, now)
			if isMySQLError(err, errDuplicateKey) {
				return false, nil
			}
			return err == nil, err
		},
	}.Run(ctx)
}
