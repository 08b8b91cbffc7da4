package pgsink

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/kappa-stream/kappa/sdk"
)

// BenchmarkCommit measures the commit as the sink makes it (the rows as
// one INSERT … SELECT FROM unnest, sent with the fence in one round trip)
// against the same transaction with the rows sent by COPY (pgx CopyFrom),
// which needs round trips of its own. Rows per commit: 8 partitions ×
// windows, as a batch of the original job makes.
//
//	go test -run - -bench Commit -benchtime 2000x ./plugins/postgres-sink/pgsink
func BenchmarkCommit(b *testing.B) {
	for _, rows := range []int{1, 60, 600} {
		for _, mode := range []string{"insert-unnest", "copy"} {
			b.Run(fmt.Sprintf("%s/rows=%d", mode, rows), func(b *testing.B) {
				database, _ := testDatabase(b)
				s := openSink(b, sdk.Setup{Config: sinkConfig(database, "")})
				ctx := context.Background()
				const partitions = 8
				next := make([]int64, partitions)
				b.ResetTimer()
				for i := range b.N {
					var c sdk.Commit
					c.Stream = "twitter"
					for p := range int32(partitions) {
						r := sdk.OffsetRange{Partition: p, Start: next[p], End: next[p] + 100}
						next[p] += 100
						c.Ranges = append(c.Ranges, sdk.RangeStats{OffsetRange: r, Records: 100, Facts: 100})
					}
					for j := range rows {
						r := c.Ranges[j%partitions].OffsetRange
						c.Rows = append(c.Rows, sdk.Row{OffsetRange: r, Window: minute.Add(time.Duration(i%50+j/partitions) * time.Minute), Count: 1})
					}
					var err error
					if mode == "copy" {
						err = s.commitByCopy(ctx, c)
					} else {
						err = s.Commit(ctx, c)
					}
					if err != nil {
						b.Fatal(err)
					}
				}
			})
		}
	}
}

// commitByCopy is Commit with the aggregate rows sent by COPY, for the
// benchmark only. It assumes every partition has a position already
// except on the first call, which it creates with the sink's own path.
func (s *Sink) commitByCopy(ctx context.Context, c sdk.Commit) error {
	ranges, err := s.checkCommit(c)
	if err != nil {
		return err
	}
	if ps, _ := s.Positions(ctx, c.Stream); len(ps) == 0 {
		return s.Commit(ctx, c)
	}
	tx, err := s.db.Begin(ctx)
	if err != nil {
		return err
	}
	defer tx.Rollback(ctx)
	now := time.Now().UTC()
	parts, starts, ends := make([]int32, len(ranges)), make([]int64, len(ranges)), make([]int64, len(ranges))
	for i, r := range ranges {
		parts[i], starts[i], ends[i] = r.Partition, r.Start, r.End
	}
	b := &pgx.Batch{}
	b.Queue(s.stmts.advanceAll, parts, starts, ends, c.StreamID, now, s.pipeline, c.Stream)
	b.Queue(s.stmts.insertBatches, batchArgs(s.pipeline, c.Stream, ranges, now)...)
	if err := s.sendCommitBatch(ctx, tx, b, len(ranges), true, 0, len(ranges), 0); err != nil {
		return err
	}
	n, err := tx.CopyFrom(ctx, pgx.Identifier{s.schema, s.stmts.aggregateTable}, s.stmts.aggregateColumns(),
		pgx.CopyFromSlice(len(c.Rows), func(i int) ([]any, error) {
			r := c.Rows[i]
			return []any{r.Start, r.End, r.Window.UTC(), r.Partition, int32(r.Count)}, nil
		}))
	if err != nil || n != int64(len(c.Rows)) {
		return fmt.Errorf("copy %d of %d rows: %v", n, len(c.Rows), err)
	}
	return tx.Commit(ctx)
}
