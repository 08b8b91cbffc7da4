package mysqlsink

import (
	"context"
	"database/sql"
	"flag"
	"math/rand/v2"
	"testing"
	"time"

	"github.com/kappa-stream/kappa/sdk"
)

var benchCommits = flag.Int("compact.commits", 5000, "commits of 8 partitions that BenchmarkCompact builds its table from")

// fillLikeALivePipeline commits what a live pipeline at one batch a second
// writes: each commit holds 8 ranges of 100 offsets, and per partition a
// row for the current minute, one for the minute before and one for a
// window up to 3 h late.
func fillLikeALivePipeline(tb testing.TB, s *Sink, commits int) {
	tb.Helper()
	rng := rand.New(rand.NewPCG(1, 2))
	base := minute.Add(3 * time.Hour)
	for i := range commits {
		now := base.Add(time.Duration(i) * time.Second).Truncate(time.Minute)
		c := sdk.Commit{Stream: "twitter"}
		for p := range int32(8) {
			r := sdk.OffsetRange{Partition: p, Start: int64(i) * 100, End: int64(i+1) * 100}
			c.Ranges = append(c.Ranges, sdk.RangeStats{OffsetRange: r, Records: 100, Facts: 100})
			late := now.Add(-time.Duration(2+rng.IntN(178)) * time.Minute)
			c.Rows = append(c.Rows,
				sdk.Row{OffsetRange: r, Window: now, Count: 90},
				sdk.Row{OffsetRange: r, Window: now.Add(-time.Minute), Count: 8},
				sdk.Row{OffsetRange: r, Window: late, Count: 2})
		}
		if err := s.Commit(context.Background(), c); err != nil {
			tb.Fatal(err)
		}
	}
}

// timeOriginalQuery runs the 2016 readers' query and returns how long it took.
func timeOriginalQuery(tb testing.TB, admin *sql.DB, db string) time.Duration {
	tb.Helper()
	began := time.Now()
	rows, err := admin.Query("SELECT timestamp, sum(count) FROM " + quoteIdent(db) + ".twitter GROUP BY timestamp")
	if err != nil {
		tb.Fatal(err)
	}
	for rows.Next() {
	}
	if err := rows.Close(); err != nil {
		tb.Fatal(err)
	}
	return time.Since(began)
}

// timeLastHour times a read of the last hour's windows with the time
// index and then without it (dropped and made again).
func timeLastHour(tb testing.TB, admin *sql.DB, db string) (with, without time.Duration) {
	tb.Helper()
	read := func() time.Duration {
		began := time.Now()
		rows, err := admin.Query("SELECT timestamp, sum(count) FROM " + quoteIdent(db) + ".twitter WHERE timestamp >= " +
			"(SELECT MAX(timestamp) FROM " + quoteIdent(db) + ".twitter) - INTERVAL 1 HOUR GROUP BY timestamp")
		if err != nil {
			tb.Fatal(err)
		}
		for rows.Next() {
		}
		if err := rows.Close(); err != nil {
			tb.Fatal(err)
		}
		return time.Since(began)
	}
	with = read()
	if _, err := admin.Exec("ALTER TABLE " + quoteIdent(db) + ".twitter DROP INDEX " + timeIndexName); err != nil {
		tb.Fatal(err)
	}
	without = read()
	if _, err := admin.Exec("ALTER TABLE " + quoteIdent(db) + ".twitter ADD INDEX " + timeIndexName + " (timestamp, partition_id)"); err != nil {
		tb.Fatal(err)
	}
	return with, without
}

// BenchmarkCompact measures a periodic pass (levels) and then a full pass
// over a table filled like a live pipeline's, and the original query's
// time before and after:
//
//	go test -run '^$' -bench BenchmarkCompact -benchtime 1x -compact.commits 20000 ./plugins/mysql-sink/mysqlsink/
func BenchmarkCompact(b *testing.B) {
	for range b.N {
		b.StopTimer()
		db, admin := testDatabase(b)
		s := openSink(b, sdk.Setup{Config: sinkConfig(db, "")})
		fillLikeALivePipeline(b, s, *benchCommits)
		rows := countRows(b, admin, "SELECT COUNT(*) FROM "+quoteIdent(db)+".twitter")
		records := countRows(b, admin, "SELECT COUNT(*) FROM "+quoteIdent(db)+".kappa_batches")
		before := timeOriginalQuery(b, admin, db)
		withIndex, withoutIndex := timeLastHour(b, admin, db)
		b.Logf("the last hour's windows: %v with the time index, %v without (the 2016 layout)", withIndex.Round(time.Millisecond), withoutIndex.Round(time.Millisecond))
		b.StartTimer()

		began := time.Now()
		levels, err := s.Compact(context.Background(), sdk.CompactRequest{})
		if err != nil {
			b.Fatal(err)
		}
		levelsTook := time.Since(began)
		rowsLevels := countRows(b, admin, "SELECT COUNT(*) FROM "+quoteIdent(db)+".twitter")
		midway := timeOriginalQuery(b, admin, db)
		began = time.Now()
		fullRes, err := s.Compact(context.Background(), full)
		if err != nil {
			b.Fatal(err)
		}
		fullTook := time.Since(began)

		b.StopTimer()
		rowsAfter := countRows(b, admin, "SELECT COUNT(*) FROM "+quoteIdent(db)+".twitter")
		recordsAfter := countRows(b, admin, "SELECT COUNT(*) FROM "+quoteIdent(db)+".kappa_batches")
		after := timeOriginalQuery(b, admin, db)
		b.Logf("table: %d rows, %d batch records; original query %v", rows, records, before.Round(time.Millisecond))
		b.Logf("levels pass: %d spans, %d rows → %d in %v (%.0f rows/s); table %d rows; original query %v",
			levels.Spans, levels.RowsBefore, levels.RowsAfter, levelsTook.Round(time.Millisecond),
			float64(levels.RowsBefore)/levelsTook.Seconds(), rowsLevels, midway.Round(time.Millisecond))
		b.Logf("full pass: %d spans, %d rows → %d in %v (%.0f rows/s); table %d rows, %d batch records; original query %v",
			fullRes.Spans, fullRes.RowsBefore, fullRes.RowsAfter, fullTook.Round(time.Millisecond),
			float64(fullRes.RowsBefore)/fullTook.Seconds(), rowsAfter, recordsAfter, after.Round(time.Millisecond))
		b.ReportMetric(float64(levels.RowsBefore+fullRes.RowsBefore)/(levelsTook+fullTook).Seconds(), "rows/s")
		b.ReportMetric(float64(before.Microseconds())/1000, "query-ms-before")
		b.ReportMetric(float64(after.Microseconds())/1000, "query-ms-after")
	}
}
