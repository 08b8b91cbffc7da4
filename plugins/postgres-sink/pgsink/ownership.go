package pgsink

import (
	"context"
	"errors"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/kappa-stream/kappa/internal/tableowner"
	"github.com/kappa-stream/kappa/sdk"
)

// Table ownership, as in mysql-sink (internal/tableowner decides): an
// aggregate table belongs to one pipeline, claimed at Open in the tables
// table; another pipeline is refused.

// TableOwnedError says that the aggregate table belongs to another
// pipeline, or holds rows no pipeline claimed that this one did not write.
type TableOwnedError = tableowner.Error

// claimTable makes the aggregate table the pipeline's, or returns a
// permanent *TableOwnedError.
func claimTable(ctx context.Context, db *pgxpool.Pool, pipeline string, st statements) error {
	return tableowner.Claim{
		Namespace: st.schema, Table: st.aggregateTable, Pipeline: pipeline,
		TablesTable: st.tablesTable, BatchesTable: st.batchesTable,
		ReadOwner: func(ctx context.Context) (owner string, claimedAt time.Time, err error) {
			err = db.QueryRow(ctx, `SELECT "pipeline", "claimed_at" FROM `+st.tables()+` WHERE "table_name" = $1`, st.aggregateTable).
				Scan(&owner, &claimedAt)
			if errors.Is(err, pgx.ErrNoRows) {
				return "", time.Time{}, nil
			}
			return owner, claimedAt, err
		},
		FirstRow: func(ctx context.Context) (r sdk.OffsetRange, ok bool, err error) {
			err = db.QueryRow(ctx, `SELECT "partition_id", "start_offset", "end_offset" FROM `+st.aggregate()+
				` ORDER BY "start_offset", "end_offset", "timestamp", "partition_id" LIMIT 1`).Scan(&r.Partition, &r.Start, &r.End)
			if errors.Is(err, pgx.ErrNoRows) {
				return r, false, nil
			}
			return r, err == nil, err
		},
		Committed: func(ctx context.Context, r sdk.OffsetRange) (bool, error) {
			var one int
			err := db.QueryRow(ctx, `SELECT 1 FROM `+st.batches()+
				` WHERE "pipeline" = $1 AND "partition_id" = $2 AND "start_offset" = $3 AND "end_offset" = $4 LIMIT 1`,
				pipeline, r.Partition, r.Start, r.End).Scan(&one)
			if errors.Is(err, pgx.ErrNoRows) {
				return false, nil
			}
			return err == nil, err
		},
		Insert: func(ctx context.Context, now time.Time) (bool, error) {
			tag, err := db.Exec(ctx, "INSERT INTO "+st.tables()+` ("table_name", "pipeline", "claimed_at") VALUES ($1, $2, $3) ON CONFLICT DO NOTHING`,
				st.aggregateTable, pipeline, now)
			return err == nil && tag.RowsAffected() == 1, err
		},
	}.Run(ctx)
}
