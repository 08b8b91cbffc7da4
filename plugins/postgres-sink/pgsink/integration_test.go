package pgsink

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/kappa-stream/kappa/internal/sinktest"
	"github.com/kappa-stream/kappa/internal/testenv"
	"github.com/kappa-stream/kappa/sdk"
)

// The integration tests run against the PostgreSQL of testenv.PostgresDSN
// (KAPPA_TEST_POSTGRES_DSN, postgres on 127.0.0.1:5432 by default).
const startServerHint = "run ./scripts/services (it starts PostgreSQL) and ./scripts/postgres-dsn (it prints the " + testenv.EnvPostgresDSN +
	" to use), point " + testenv.EnvPostgresDSN + " at a server of yours, or run go test -short to skip integration tests"

// testDatabase creates a database with a fresh name, dropped when the test
// ends, and returns its name and a connection to it for the test's own
// queries.
func testDatabase(tb testing.TB) (string, *pgx.Conn) {
	tb.Helper()
	if testing.Short() {
		tb.Skip("integration test against PostgreSQL: skipped under -short")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	name, drop, err := testenv.CreatePostgresDatabase(ctx)
	if err != nil {
		tb.Fatalf("%v\n%s", err, startServerHint)
	}
	conn, err := pgx.Connect(ctx, testenv.PostgresDSN(name))
	if err != nil {
		drop()
		tb.Fatal(err)
	}
	tb.Cleanup(func() {
		conn.Close(context.Background())
		if err := drop(); err != nil {
			tb.Errorf("drop test database %s: %v", name, err)
		}
	})
	return name, conn
}

func sinkConfig(database, extra string) []byte {
	return []byte(fmt.Sprintf("dsn: '%s'\ntable: twitter\n%s", testenv.PostgresDSN(database), extra))
}

func openSink(tb testing.TB, setup sdk.Setup) *Sink {
	tb.Helper()
	return sinktest.Open(tb, New(), setup)
}

var minute = sinktest.Minute

func rangeOf(p int32, start, end, records int64) sdk.RangeStats {
	return sdk.RangeStats{OffsetRange: sdk.OffsetRange{Partition: p, Start: start, End: end}, Records: records, Facts: records}
}

// originalQuery is the 2016 job's query, run as is.
func originalQuery(t *testing.T, conn *pgx.Conn) map[time.Time]int64 {
	t.Helper()
	rows, err := conn.Query(context.Background(), "SELECT timestamp, sum(count) FROM aggregates.twitter GROUP BY timestamp ORDER BY timestamp;")
	if err != nil {
		t.Fatal(err)
	}
	got := map[time.Time]int64{}
	var w time.Time
	var n int64
	if _, err := pgx.ForEachRow(rows, []any{&w, &n}, func() error { got[w] = n; return nil }); err != nil {
		t.Fatal(err)
	}
	return got
}

// TestCommitThenOriginalQuery commits two batches over three partitions,
// one of them first seen in the second, and reads them back with the
// original query, the positions and the table's column types.
func TestCommitThenOriginalQuery(t *testing.T) {
	database, conn := testDatabase(t)
	s := openSink(t, sdk.Setup{Config: sinkConfig(database, "")})
	ctx := context.Background()
	err := s.Commit(ctx, sdk.Commit{Stream: "twitter", StreamID: "id1",
		Ranges: []sdk.RangeStats{rangeOf(0, 0, 10, 10), rangeOf(1, 0, 5, 5)},
		Rows: []sdk.Row{
			{OffsetRange: sdk.OffsetRange{Partition: 0, Start: 0, End: 10}, Window: minute, Count: 7},
			{OffsetRange: sdk.OffsetRange{Partition: 0, Start: 0, End: 10}, Window: minute.Add(time.Minute), Count: 3},
			{OffsetRange: sdk.OffsetRange{Partition: 1, Start: 0, End: 5}, Window: minute, Count: 5},
		}})
	if err != nil {
		t.Fatal(err)
	}
	err = s.Commit(ctx, sdk.Commit{Stream: "twitter", StreamID: "id1",
		Ranges: []sdk.RangeStats{rangeOf(0, 10, 12, 2), rangeOf(2, 0, 1, 1)},
		Rows: []sdk.Row{
			{OffsetRange: sdk.OffsetRange{Partition: 0, Start: 10, End: 12}, Window: minute, Count: 2},
			{OffsetRange: sdk.OffsetRange{Partition: 2, Start: 0, End: 1}, Window: minute.Add(-time.Hour), Count: 1},
		}})
	if err != nil {
		t.Fatal(err)
	}
	got := originalQuery(t, conn)
	want := map[time.Time]int64{minute.Add(-time.Hour): 1, minute: 14, minute.Add(time.Minute): 3}
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("original query: got %v, want %v", got, want)
	}
	positions, err := s.Positions(ctx, "twitter")
	if err != nil {
		t.Fatal(err)
	}
	var next []string
	for _, p := range positions {
		next = append(next, fmt.Sprintf("%d:%d:%s", p.Partition, p.NextOffset, p.StreamID))
	}
	if strings.Join(next, " ") != "0:12:id1 1:5:id1 2:1:id1" {
		t.Errorf("positions %v", next)
	}
	var typ string
	if err := conn.QueryRow(ctx, `SELECT data_type FROM information_schema.columns WHERE table_schema = 'aggregates' AND table_name = 'twitter' AND column_name = 'timestamp'`).Scan(&typ); err != nil {
		t.Fatal(err)
	}
	if typ != "timestamp without time zone" {
		t.Errorf("timestamp column is %s", typ)
	}
	// In psql's text form, whatever the session's time zone: UTC.
	var text string
	if _, err := conn.Exec(ctx, `SET TIME ZONE 'America/New_York'`); err != nil {
		t.Fatal(err)
	}
	if err := conn.QueryRow(ctx, `SELECT min(timestamp)::text FROM aggregates.twitter`).Scan(&text); err != nil {
		t.Fatal(err)
	}
	if text != "2016-06-01 18:36:00" {
		t.Errorf("earliest window reads %s in psql, want 2016-06-01 18:36:00 (UTC)", text)
	}
	var batches int
	if err := conn.QueryRow(ctx, `SELECT count(*) FROM aggregates.kappa_batches`).Scan(&batches); err != nil || batches != 4 {
		t.Errorf("batch rows %d (%v), want 4", batches, err)
	}
}

// TestStaleCommitIsFencedAndStoresNothing: a commit from a start that
// another writer moved is refused whole, with sdk.ErrFenced.
func TestStaleCommitIsFencedAndStoresNothing(t *testing.T) {
	database, conn := testDatabase(t)
	a := openSink(t, sdk.Setup{Config: sinkConfig(database, "")})
	b := openSink(t, sdk.Setup{Config: sinkConfig(database, "")})
	ctx := context.Background()
	first := sdk.Commit{Stream: "twitter", Ranges: []sdk.RangeStats{rangeOf(0, 0, 10, 10), rangeOf(1, 0, 10, 10)},
		Rows: []sdk.Row{{OffsetRange: sdk.OffsetRange{Partition: 0, Start: 0, End: 10}, Window: minute, Count: 10}}}
	if err := a.Commit(ctx, first); err != nil {
		t.Fatal(err)
	}
	// b, a zombie, commits the same ranges again: both the one-statement
	// fence and the partition-by-partition one must refuse.
	err := b.Commit(ctx, first)
	var fenced *FencedError
	if !errors.Is(err, sdk.ErrFenced) || !errors.As(err, &fenced) || fenced.Found != 10 {
		t.Fatalf("stale commit: %v", err)
	}
	// One partition still at its start, the other moved: nothing lands.
	mixed := sdk.Commit{Stream: "twitter", Ranges: []sdk.RangeStats{rangeOf(0, 10, 20, 10), rangeOf(1, 0, 10, 10)},
		Rows: []sdk.Row{{OffsetRange: sdk.OffsetRange{Partition: 0, Start: 10, End: 20}, Window: minute, Count: 10}}}
	if err := b.Commit(ctx, mixed); !errors.Is(err, sdk.ErrFenced) {
		t.Fatalf("half-stale commit: %v", err)
	}
	if got := originalQuery(t, conn); got[minute] != 10 {
		t.Errorf("count %d after fenced commits, want 10", got[minute])
	}
	positions, _ := a.Positions(ctx, "twitter")
	if len(positions) != 2 || positions[0].NextOffset != 10 || positions[1].NextOffset != 10 {
		t.Errorf("positions %+v", positions)
	}
}

// TestRacingWritersOneWins: two sinks commit the same first batch at once,
// many times over; exactly one wins each race.
func TestRacingWritersOneWins(t *testing.T) {
	database, conn := testDatabase(t)
	a := openSink(t, sdk.Setup{Config: sinkConfig(database, "")})
	b := openSink(t, sdk.Setup{Config: sinkConfig(database, "")})
	ctx := context.Background()
	for i := range 50 {
		stream := fmt.Sprintf("s%d", i)
		c := sdk.Commit{Stream: stream, Ranges: []sdk.RangeStats{rangeOf(0, 0, 1, 1), rangeOf(1, 0, 1, 1)},
			Rows: []sdk.Row{{OffsetRange: sdk.OffsetRange{Partition: 0, Start: 0, End: 1}, Window: minute.Add(time.Duration(i) * time.Minute), Count: 1}}}
		var wg sync.WaitGroup
		errs := make([]error, 2)
		for j, s := range []*Sink{a, b} {
			wg.Go(func() { errs[j] = s.Commit(ctx, c) })
		}
		wg.Wait()
		won := 0
		for _, err := range errs {
			switch {
			case err == nil:
				won++
			case !errors.Is(err, sdk.ErrFenced):
				t.Fatalf("race %d: %v", i, err)
			}
		}
		if won != 1 {
			t.Fatalf("race %d: %d winners (%v)", i, won, errs)
		}
	}
	var total int64
	if err := conn.QueryRow(ctx, "SELECT sum(count) FROM aggregates.twitter").Scan(&total); err != nil || total != 50 {
		t.Errorf("total %d (%v), want 50", total, err)
	}
}

// TestDimensionsAndSums: dimension columns in the key, a sum column, and
// values that differ only in case or a trailing space are distinct rows.
func TestDimensionsAndSums(t *testing.T) {
	database, conn := testDatabase(t)
	s := openSink(t, sdk.Setup{Config: sinkConfig(database, ""), Dimensions: []string{"lang", "source"}, Aggregates: []string{"count", "sum"}})
	ctx := context.Background()
	r := sdk.OffsetRange{Partition: 0, Start: 0, End: 9}
	err := s.Commit(ctx, sdk.Commit{Stream: "twitter", Ranges: []sdk.RangeStats{{OffsetRange: r, Records: 9, Facts: 9}},
		Rows: []sdk.Row{
			{OffsetRange: r, Window: minute, Count: 4, Sum: 1.5, Dims: []string{"en", "web"}},
			{OffsetRange: r, Window: minute, Count: 2, Sum: 2, Dims: []string{"EN", "web"}},
			{OffsetRange: r, Window: minute, Count: 3, Sum: -1, Dims: []string{"en ", "wéb"}},
		}})
	if err != nil {
		t.Fatal(err)
	}
	rows, _ := conn.Query(ctx, `SELECT lang, source, count, sum FROM aggregates.twitter ORDER BY lang, source`)
	var got []string
	var lang, source string
	var count int32
	var sum float64
	if _, err := pgx.ForEachRow(rows, []any{&lang, &source, &count, &sum}, func() error {
		got = append(got, fmt.Sprintf("%q/%s=%d,%g", lang, source, count, sum))
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	if want := `"EN"/web=2,2 "en"/web=4,1.5 "en "/wéb=3,-1`; strings.Join(got, " ") != want {
		t.Errorf("rows %v, want %s", got, want)
	}
	// A NUL cannot be stored: refused before anything is sent, for good.
	err = s.Commit(ctx, sdk.Commit{Stream: "twitter", Ranges: []sdk.RangeStats{{OffsetRange: sdk.OffsetRange{Partition: 0, Start: 9, End: 10}, Records: 1, Facts: 1}},
		Rows: []sdk.Row{{OffsetRange: sdk.OffsetRange{Partition: 0, Start: 9, End: 10}, Window: minute, Count: 1, Dims: []string{"a\x00", "b"}}}})
	if !errors.Is(err, sdk.ErrPermanent) {
		t.Errorf("NUL in a dimension: %v", err)
	}
}

// TestOwnership: a second pipeline on the same table is refused, naming
// the table and its owner; a table nobody claimed is claimed only by the
// pipeline whose rows it holds, and rows no pipeline committed are
// nobody's (issue 9, item 8).
func TestOwnership(t *testing.T) {
	database, conn := testDatabase(t)
	ctx := context.Background()
	first := openSink(t, sdk.Setup{Config: sinkConfig(database, ""), Pipeline: "first"})
	r := sdk.OffsetRange{Partition: 0, Start: 0, End: 4}
	if err := first.Commit(ctx, sdk.Commit{Stream: "twitter", Ranges: []sdk.RangeStats{rangeOf(0, 0, 4, 4)},
		Rows: []sdk.Row{{OffsetRange: r, Window: minute, Count: 4}}}); err != nil {
		t.Fatal(err)
	}
	refused := func(pipeline, owner, says string) {
		t.Helper()
		err := New().Open(ctx, sdk.Setup{Config: sinkConfig(database, ""), Pipeline: pipeline, Window: time.Minute})
		var owned *TableOwnedError
		if !errors.As(err, &owned) || owned.Owner != owner || !errors.Is(err, sdk.ErrPermanent) {
			t.Fatalf("pipeline %s: %v, want a permanent TableOwnedError naming owner %q", pipeline, err, owner)
		}
		if !strings.Contains(err.Error(), says) {
			t.Errorf("pipeline %s: %q does not say %q", pipeline, err, says)
		}
	}
	refused("second", "first", `table aggregates.twitter belongs to pipeline "first"`)
	exec := func(q string) {
		t.Helper()
		if _, err := conn.Exec(ctx, q); err != nil {
			t.Fatal(err)
		}
	}
	// A table nobody claimed holding the first pipeline's rows.
	exec(`DELETE FROM aggregates.kappa_tables`)
	refused("second", "", `table aggregates.twitter holds rows that pipeline "second" did not commit`)
	openSink(t, sdk.Setup{Config: sinkConfig(database, ""), Pipeline: "first"})
	refused("second", "first", `belongs to pipeline "first"`)
	// Rows no pipeline committed.
	exec(`DELETE FROM aggregates.kappa_tables`)
	exec(`DELETE FROM aggregates.kappa_batches`)
	refused("first", "", `table aggregates.twitter holds rows that pipeline "first" did not commit`)
	if n := countRows(t, conn, `SELECT sum(count) FROM aggregates.twitter`); n != 4 {
		t.Errorf("table counts %d after the refusals, want 4", n)
	}
}

// TestExistingTableWithAnotherLayoutIsRefused: the sink never writes into
// a table it misunderstands.
func TestExistingTableWithAnotherLayoutIsRefused(t *testing.T) {
	database, conn := testDatabase(t)
	if _, err := conn.Exec(context.Background(), `CREATE SCHEMA aggregates; CREATE TABLE aggregates.twitter (start_offset bigint, "timestamp" timestamptz)`); err != nil {
		t.Fatal(err)
	}
	err := New().Open(context.Background(), sdk.Setup{Config: sinkConfig(database, ""), Pipeline: "p", Window: time.Minute})
	if err == nil || !strings.Contains(err.Error(), "another layout") || !strings.Contains(err.Error(), "column timestamp is timestamp with time zone") {
		t.Fatalf("open: %v", err)
	}
}

// TestPasswordNeverInErrors: a DSN with a password, to a server that does
// not answer and to one that refuses it, fails without showing it.
func TestPasswordNeverInErrors(t *testing.T) {
	for _, dsn := range []string{
		"postgres://kappa:s3cr%40t@127.0.0.1:1/postgres",
		"host=127.0.0.1 port=1 user=kappa password=s3cr@t dbname=postgres",
		"postgres://kappa:s3cr@t@127.0.0.1:1/postgres?sslmode=bogus",
	} {
		err := New().Open(context.Background(), sdk.Setup{Config: []byte("dsn: '" + dsn + "'\ntable: t\n"), Pipeline: "p", Window: time.Minute})
		if err == nil {
			t.Fatalf("%s: opened", dsn)
		}
		if msg := err.Error(); strings.Contains(msg, "s3cr") {
			t.Errorf("%s: error shows the password: %s", dsn, msg)
		}
	}
}

// TestAuditAndRecentWindows: the audit sees the batches and rows; the
// status page's reader sums the newest windows.
func TestAuditAndRecentWindows(t *testing.T) {
	database, _ := testDatabase(t)
	s := openSink(t, sdk.Setup{Config: sinkConfig(database, "")})
	ctx := context.Background()
	for i := range int64(3) {
		r := sdk.OffsetRange{Partition: 0, Start: i * 10, End: i*10 + 10}
		err := s.Commit(ctx, sdk.Commit{Stream: "twitter", Ranges: []sdk.RangeStats{{OffsetRange: r, Records: 10, Facts: 9, Rejected: 1}},
			Rows: []sdk.Row{{OffsetRange: r, Window: minute.Add(time.Duration(i) * time.Minute), Count: 9}}})
		if err != nil {
			t.Fatal(err)
		}
	}
	audit, err := s.Audit(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if len(audit) != 1 || len(audit[0].Batches) != 3 || len(audit[0].Aggregates) != 3 || audit[0].Aggregates[2].Count != 9 || audit[0].Batches[1].Rejected != 1 {
		t.Errorf("audit %+v", audit)
	}
	windows, err := s.RecentWindows(ctx, 2)
	if err != nil {
		t.Fatal(err)
	}
	if len(windows) != 2 || !windows[0].Window.Equal(minute.Add(2*time.Minute)) || windows[0].Count != 9 {
		t.Errorf("recent windows %+v", windows)
	}
}
