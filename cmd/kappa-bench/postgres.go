package main

import (
	"context"
	"fmt"
	"net/url"

	"github.com/jackc/pgx/v5"
)

// postgresTarget is b's run into PostgreSQL: database db on the server of
// cfg.pgDSN, dropped and created anew, through cfg.pgPipeline.
func postgresTarget(cfg benchConfig) target {
	dsnOf := func(db string) string {
		u, err := url.Parse(cfg.pgDSN)
		if err != nil {
			return cfg.pgDSN // pgx reports it
		}
		u.Path = "/" + db
		return u.String()
	}
	return target{
		pipeline: cfg.pgPipeline,
		prepare: func(ctx context.Context, db string) ([]string, error) {
			conn, err := pgx.Connect(ctx, cfg.pgDSN)
			if err != nil {
				return nil, fmt.Errorf("connect to PostgreSQL (is it up? run ./scripts/services): %w", err)
			}
			defer conn.Close(ctx)
			for _, q := range []string{"DROP DATABASE IF EXISTS " + db + " WITH (FORCE)", "CREATE DATABASE " + db} {
				if _, err := conn.Exec(ctx, q); err != nil {
					return nil, fmt.Errorf("%s: %w", q, err)
				}
			}
			return []string{"KAPPA_POSTGRES_DSN=" + dsnOf(db)}, nil
		},
		totals: func(ctx context.Context, db string) (rows, tweets int64, err error) {
			conn, err := pgx.Connect(ctx, dsnOf(db))
			if err != nil {
				return 0, 0, err
			}
			defer conn.Close(ctx)
			err = conn.QueryRow(ctx, "SELECT count(*), COALESCE(sum(count), 0) FROM aggregates.twitter").Scan(&rows, &tweets)
			if err != nil {
				return 0, 0, fmt.Errorf("count rows of aggregates.twitter in %s: %w", db, err)
			}
			return rows, tweets, nil
		},
	}
}
