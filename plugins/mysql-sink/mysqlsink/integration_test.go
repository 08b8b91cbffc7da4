package mysqlsink

import (
	"context"
	"crypto/rand"
	"database/sql"
	"encoding/hex"
	"errors"
	"fmt"
	"math"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/go-sql-driver/mysql"

	"github.com/kappa-stream/kappa/internal/sinktest"
	"github.com/kappa-stream/kappa/internal/testenv"
	"github.com/kappa-stream/kappa/sdk"
)

// The integration tests run against the MariaDB of testenv.MySQLDSN
// (KAPPA_TEST_MYSQL_DSN, root on 127.0.0.1:3306 by default).
const startServerHint = "run ./scripts/services (it starts MariaDB and prints the " + testenv.EnvMySQLDSN + " to use), " +
	"point " + testenv.EnvMySQLDSN + " at a server of yours, or run go test -short to skip integration tests"

// testDatabase reserves a fresh database name on the test server, which the
// sink creates, and drops it when the test ends. It returns a connection
// without a database for the test's own queries.
func testDatabase(tb testing.TB) (string, *sql.DB) {
	tb.Helper()
	if testing.Short() {
		tb.Skip("integration test against MariaDB: skipped under -short")
	}
	admin, err := sql.Open("mysql", testenv.MySQLDSN("")+"?parseTime=true&loc=UTC")
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { admin.Close() })
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := admin.PingContext(ctx); err != nil {
		tb.Fatalf("MariaDB at %s as %s is not reachable: %v\n%s", testenv.MySQLAddr(), testenv.MySQLUser(), err, startServerHint)
	}
	var b [6]byte
	_, _ = rand.Read(b[:])
	name := "kappa_test_" + hex.EncodeToString(b[:])
	tb.Cleanup(func() {
		if _, err := admin.Exec("DROP DATABASE IF EXISTS " + quoteIdent(name)); err != nil {
			tb.Errorf("drop test database %s: %v", name, err)
		}
	})
	return name, admin
}

func sinkConfig(database string, extra string) []byte {
	return []byte(fmt.Sprintf("dsn: '%s%s'\ntable: twitter\n", testenv.MySQLDSN(database), extra))
}

func openSink(tb testing.TB, setup sdk.Setup) *Sink {
	tb.Helper()
	return sinktest.Open(tb, New(), setup)
}

var minute = sinktest.Minute

// rangeCommit is a commit of one range with one row per given window count.
func rangeCommit(partition int32, start, end int64, counts ...int64) sdk.Commit {
	r := sdk.OffsetRange{Partition: partition, Start: start, End: end}
	c := sdk.Commit{Stream: "twitter", Ranges: []sdk.RangeStats{{OffsetRange: r, Records: end - start, Facts: end - start}}}
	for i, n := range counts {
		c.Rows = append(c.Rows, sdk.Row{OffsetRange: r, Window: minute.Add(time.Duration(i) * time.Minute), Count: n})
	}
	return c
}

func countRows(tb testing.TB, db *sql.DB, query string, args ...any) int64 {
	tb.Helper()
	var n int64
	if err := db.QueryRow(query, args...).Scan(&n); err != nil {
		tb.Fatalf("%s: %v", query, err)
	}
	return n
}

func positions(tb testing.TB, s *Sink) map[int32]int64 {
	tb.Helper()
	ps, err := s.Positions(context.Background(), "twitter")
	if err != nil {
		tb.Fatal(err)
	}
	m := map[int32]int64{}
	for _, p := range ps {
		m[p.Partition] = p.NextOffset
	}
	return m
}

func TestOpenCreatesDatabaseAndTables(t *testing.T) {
	db, admin := testDatabase(t)
	openSink(t, sdk.Setup{Config: sinkConfig(db, "")})
	rows, err := admin.Query("SELECT TABLE_NAME, ENGINE FROM information_schema.TABLES WHERE TABLE_SCHEMA = ? ORDER BY TABLE_NAME", db)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	var got []string
	for rows.Next() {
		var name, engine string
		if err := rows.Scan(&name, &engine); err != nil {
			t.Fatal(err)
		}
		got = append(got, name+"/"+engine)
	}
	if want := "kappa_batches/InnoDB kappa_generations/InnoDB kappa_offsets/InnoDB kappa_tables/InnoDB twitter/InnoDB"; strings.Join(got, " ") != want {
		t.Fatalf("tables %v, want %s", got, want)
	}
	// A second Open finds the tables and accepts them.
	openSink(t, sdk.Setup{Config: sinkConfig(db, "")})
}

// columnsOf describes a table's columns and keys as the server shows them.
func columnsOf(tb testing.TB, admin *sql.DB, database, table string) []string {
	tb.Helper()
	rows, err := admin.Query(`SELECT COLUMN_NAME, COLUMN_TYPE, IS_NULLABLE, COLUMN_KEY, IFNULL(COLUMN_DEFAULT, 'none'), EXTRA
		FROM information_schema.COLUMNS WHERE TABLE_SCHEMA = ? AND TABLE_NAME = ? ORDER BY ORDINAL_POSITION`, database, table)
	if err != nil {
		tb.Fatal(err)
	}
	defer rows.Close()
	var cols []string
	for rows.Next() {
		var name, typ, nullable, key, def, extra string
		if err := rows.Scan(&name, &typ, &nullable, &key, &def, &extra); err != nil {
			tb.Fatal(err)
		}
		cols = append(cols, strings.Join([]string{name, typ, nullable, key, def, extra}, " "))
	}
	return cols
}

func showCreate(tb testing.TB, admin *sql.DB, database, table string) string {
	tb.Helper()
	var name, create string
	if err := admin.QueryRow("SHOW CREATE TABLE "+quoteIdent(database)+"."+quoteIdent(table)).Scan(&name, &create); err != nil {
		tb.Fatal(err)
	}
	return strings.TrimPrefix(create, "CREATE TABLE `"+table+"`")
}

func TestAggregateTableIsExactlyThe2016Layout(t *testing.T) {
	db, admin := testDatabase(t)
	openSink(t, sdk.Setup{Config: sinkConfig(db, "")})
	// The original job's statement, verbatim, beside the sink's table.
	if _, err := admin.Exec("CREATE TABLE " + quoteIdent(db) + ".original (start_offset bigint NOT NULL, end_offset bigint NOT NULL, " +
		"timestamp datetime NOT NULL, partition_id int NOT NULL, count int NOT NULL, " +
		"PRIMARY KEY (start_offset, end_offset, timestamp, partition_id), " +
		// The one addition: the index for time-range reads (compact.go).
		"KEY kappa_time (timestamp, partition_id, count))"); err != nil {
		t.Fatal(err)
	}
	got, want := columnsOf(t, admin, db, "twitter"), columnsOf(t, admin, db, "original")
	if len(want) != 5 || strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Fatalf("columns\n%s\nwant\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
	if got, want := showCreate(t, admin, db, "twitter"), showCreate(t, admin, db, "original"); got != want {
		t.Fatalf("SHOW CREATE TABLE differs:\n%s\nwant\n%s", got, want)
	}
}

func TestCommitThenPositionsAndTheOriginalQuery(t *testing.T) {
	db, admin := testDatabase(t)
	s := openSink(t, sdk.Setup{Config: sinkConfig(db, "")})
	ctx := context.Background()
	if ps := positions(t, s); len(ps) != 0 {
		t.Fatalf("positions on an empty database: %v", ps)
	}
	// Partition 1 advances with no rows: all its records were skipped.
	first := rangeCommit(0, 0, 100, 5, 7)
	first.Ranges = append(first.Ranges, sdk.RangeStats{OffsetRange: sdk.OffsetRange{Partition: 1, Start: 40, End: 45}, Records: 5, Skipped: 5})
	if err := s.Commit(ctx, first); err != nil {
		t.Fatal(err)
	}
	// A late event adds a row to an old window; partition 2 is new, so
	// one position advances and another is created in the same commit.
	second := rangeCommit(0, 100, 180, 1, 0, 4)
	second.Ranges = append(second.Ranges, sdk.RangeStats{OffsetRange: sdk.OffsetRange{Partition: 2, Start: 0, End: 3}, Records: 3, Rejected: 3})
	if err := s.Commit(ctx, second); err != nil {
		t.Fatal(err)
	}
	if got := positions(t, s); len(got) != 3 || got[0] != 180 || got[1] != 45 || got[2] != 3 {
		t.Fatalf("positions %v, want 0:180 1:45 2:3", got)
	}
	// Another pipeline on the same stream has positions of its own.
	other := openSink(t, sdk.Setup{Pipeline: "other", Config: []byte(fmt.Sprintf("dsn: '%s'\ntable: other\n", testenv.MySQLDSN(db)))})
	if got := positions(t, other); len(got) != 0 {
		t.Fatalf("other pipeline sees positions %v", got)
	}

	rows, err := admin.Query("SELECT timestamp, sum(count) FROM " + quoteIdent(db) + ".twitter GROUP BY timestamp ORDER BY timestamp;")
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	var got []string
	for rows.Next() {
		var ts time.Time
		var sum int64
		if err := rows.Scan(&ts, &sum); err != nil {
			t.Fatal(err)
		}
		got = append(got, fmt.Sprintf("%s=%d", ts.Format("15:04"), sum))
	}
	if want := "19:36=6 19:37=7 19:38=4"; strings.Join(got, " ") != want {
		t.Fatalf("original query: %v, want %s", got, want)
	}
	if n := countRows(t, admin, "SELECT count(*) FROM "+quoteIdent(db)+".kappa_batches WHERE pipeline = 'tweets' AND stream = 'twitter'"); n != 4 {
		t.Fatalf("%d batch records, want 4", n)
	}
	var skipped int64
	if err := admin.QueryRow("SELECT skipped FROM " + quoteIdent(db) + ".kappa_batches WHERE partition_id = 1 AND start_offset = 40 AND end_offset = 45").Scan(&skipped); err != nil || skipped != 5 {
		t.Fatalf("batch record of partition 1: skipped=%d, %v", skipped, err)
	}
}

func TestStaleStartIsFencedAndWritesNothing(t *testing.T) {
	db, admin := testDatabase(t)
	s := openSink(t, sdk.Setup{Config: sinkConfig(db, "")})
	ctx := context.Background()
	if err := s.Commit(ctx, rangeCommit(3, 0, 10, 2)); err != nil {
		t.Fatal(err)
	}
	err := s.Commit(ctx, rangeCommit(3, 5, 15, 9))
	if !errors.Is(err, sdk.ErrFenced) {
		t.Fatalf("got %v, want ErrFenced", err)
	}
	var fenced *FencedError
	if !errors.As(err, &fenced) || fenced.Partition != 3 || fenced.Expected != 5 || fenced.Found != 10 {
		t.Fatalf("got %#v, want partition 3 expected 5 found 10", fenced)
	}
	if retryable(err) || errors.Is(err, sdk.ErrRetryable) {
		t.Error("fenced reported retryable")
	}
	if n := countRows(t, admin, "SELECT count(*) FROM "+quoteIdent(db)+".twitter"); n != 1 {
		t.Fatalf("%d aggregate rows, want 1", n)
	}
	if n := countRows(t, admin, "SELECT count(*) FROM "+quoteIdent(db)+".kappa_batches"); n != 1 {
		t.Fatalf("%d batch records, want 1", n)
	}
	if got := positions(t, s); got[3] != 10 {
		t.Fatalf("position moved to %d", got[3])
	}
	// The sink keeps working after a fence.
	if err := s.Commit(ctx, rangeCommit(3, 10, 15, 1)); err != nil {
		t.Fatal(err)
	}
}

func TestCommitIsAllOrNothing(t *testing.T) {
	db, admin := testDatabase(t)
	s := openSink(t, sdk.Setup{Config: sinkConfig(db, "")})
	ctx := context.Background()
	setup := rangeCommit(0, 0, 10, 1)
	setup.Ranges = append(setup.Ranges, sdk.RangeStats{OffsetRange: sdk.OffsetRange{Partition: 1, Start: 0, End: 10}})
	if err := s.Commit(ctx, setup); err != nil {
		t.Fatal(err)
	}
	// Partition 0 is right, partition 1 is stale, and partition 2 is new.
	c := rangeCommit(0, 10, 20, 4, 4)
	stale := sdk.OffsetRange{Partition: 1, Start: 3, End: 20}
	fresh := sdk.OffsetRange{Partition: 2, Start: 0, End: 7}
	c.Ranges = append(c.Ranges, sdk.RangeStats{OffsetRange: stale}, sdk.RangeStats{OffsetRange: fresh})
	c.Rows = append(c.Rows, sdk.Row{OffsetRange: stale, Window: minute, Count: 8}, sdk.Row{OffsetRange: fresh, Window: minute, Count: 3})
	err := s.Commit(ctx, c)
	var fenced *FencedError
	if !errors.As(err, &fenced) || fenced.Partition != 1 {
		t.Fatalf("got %v, want partition 1 fenced", err)
	}
	if got := positions(t, s); len(got) != 2 || got[0] != 10 || got[1] != 10 {
		t.Fatalf("positions %v, want 0:10 1:10 only", got)
	}
	if n := countRows(t, admin, "SELECT count(*) FROM "+quoteIdent(db)+".twitter"); n != 1 {
		t.Fatalf("%d aggregate rows, want 1", n)
	}
	if n := countRows(t, admin, "SELECT count(*) FROM "+quoteIdent(db)+".kappa_batches"); n != 2 {
		t.Fatalf("%d batch records, want 2", n)
	}
}

func TestCommitRejectsInvalidInputWithoutWriting(t *testing.T) {
	db, admin := testDatabase(t)
	s := openSink(t, sdk.Setup{Config: sinkConfig(db, "")})
	c := rangeCommit(0, 0, 10, 1)
	c.Ranges = append(c.Ranges, sdk.RangeStats{OffsetRange: sdk.OffsetRange{Partition: 1, Start: 5, End: 5}, Records: 2})
	err := s.Commit(context.Background(), c)
	if err == nil || errors.Is(err, sdk.ErrFenced) {
		t.Fatalf("empty range holding records: got %v, want a non-fenced error", err)
	}
	if got := positions(t, s); len(got) != 0 {
		t.Fatalf("positions %v after a rejected commit", got)
	}
	if n := countRows(t, admin, "SELECT count(*) FROM "+quoteIdent(db)+".twitter"); n != 0 {
		t.Fatalf("%d rows after a rejected commit", n)
	}
}

// TestRacingWritersExactlyOneWins races two sinks (two pools, as two
// processes would have) committing the same partition from the same start.
func TestRacingWritersExactlyOneWins(t *testing.T) {
	db, admin := testDatabase(t)
	a := openSink(t, sdk.Setup{Config: sinkConfig(db, "")})
	b := openSink(t, sdk.Setup{Config: sinkConfig(db, "")})
	ctx := context.Background()
	if err := a.Commit(ctx, rangeCommit(0, 0, 10, 1)); err != nil {
		t.Fatal(err)
	}
	const races = 50
	var wantSum int64 = 1
	for i := range races {
		// Even races move an existing position; odd ones create a
		// partition's first position, where both writers find no row.
		commitA, commitB := rangeCommit(0, int64(10+10*i/2), int64(20+10*i/2), 100), rangeCommit(0, int64(10+10*i/2), int64(20+10*i/2), 200)
		if i%2 == 1 {
			p := int32(100 + i)
			commitA, commitB = rangeCommit(p, 0, 10, 100), rangeCommit(p, 0, 10, 200)
		}
		var wg sync.WaitGroup
		start := make(chan struct{})
		errs := make([]error, 2)
		for j, w := range []struct {
			s *Sink
			c sdk.Commit
		}{{a, commitA}, {b, commitB}} {
			wg.Add(1)
			go func() {
				defer wg.Done()
				<-start
				errs[j] = w.s.Commit(ctx, w.c)
			}()
		}
		close(start)
		wg.Wait()
		switch {
		case errs[0] == nil && errors.Is(errs[1], sdk.ErrFenced):
			wantSum += 100
		case errs[1] == nil && errors.Is(errs[0], sdk.ErrFenced):
			wantSum += 200
		default:
			t.Fatalf("race %d: errors %v and %v, want exactly one nil and one fenced", i, errs[0], errs[1])
		}
	}
	if got := countRows(t, admin, "SELECT sum(count) FROM "+quoteIdent(db)+".twitter"); got != wantSum {
		t.Fatalf("sum of counts %d, want %d (the winners' rows only)", got, wantSum)
	}
	if got := positions(t, a); got[0] != 10+10*races/2 || len(got) != 1+races/2 {
		t.Fatalf("positions %v", got)
	}
}

func TestDimensionColumns(t *testing.T) {
	db, admin := testDatabase(t)
	dims := []string{"lang", "Country"}
	s := openSink(t, sdk.Setup{Config: sinkConfig(db, ""), Dimensions: dims})
	got := columnsOf(t, admin, db, "twitter")
	if len(got) != 7 || !strings.HasPrefix(got[5], "lang varchar(191) NO PRI") || !strings.HasPrefix(got[6], "Country varchar(191) NO PRI") {
		t.Fatalf("columns:\n%s", strings.Join(got, "\n"))
	}
	r := sdk.OffsetRange{Partition: 0, Start: 0, End: 10}
	c := sdk.Commit{Stream: "twitter", Ranges: []sdk.RangeStats{{OffsetRange: r}}, Rows: []sdk.Row{
		{OffsetRange: r, Window: minute, Dims: []string{"en", "US"}, Count: 3},
		{OffsetRange: r, Window: minute, Dims: []string{"EN", "US"}, Count: 2}, // another value: bytes compare
		{OffsetRange: r, Window: minute, Dims: []string{"ja", "日本"}, Count: 4},
	}}
	if err := s.Commit(context.Background(), c); err != nil {
		t.Fatal(err)
	}
	var n int64
	if err := admin.QueryRow("SELECT count FROM " + quoteIdent(db) + ".twitter WHERE lang = 'ja' AND Country = '日本'").Scan(&n); err != nil || n != 4 {
		t.Fatalf("ja/日本: %d, %v", n, err)
	}
	if err := admin.QueryRow("SELECT count FROM " + quoteIdent(db) + ".twitter WHERE lang = 'EN'").Scan(&n); err != nil || n != 2 {
		t.Fatalf("EN: %d, %v", n, err)
	}
	// Opening the table with other dimensions must fail, not mix layouts.
	err := New().Open(context.Background(), sdk.Setup{Pipeline: "p", Window: time.Minute, Config: sinkConfig(db, ""), Dimensions: []string{"lang"}})
	if err == nil || !strings.Contains(err.Error(), "unexpected column Country") {
		t.Fatalf("got %v, want a layout error naming Country", err)
	}
}

func TestOpenRefusesATableWithAnotherLayout(t *testing.T) {
	db, admin := testDatabase(t)
	if _, err := admin.Exec("CREATE DATABASE " + quoteIdent(db)); err != nil {
		t.Fatal(err)
	}
	if _, err := admin.Exec("CREATE TABLE " + quoteIdent(db) + ".twitter (start_offset bigint NOT NULL, end_offset bigint NOT NULL, " +
		"timestamp timestamp NOT NULL, partition_id int NOT NULL, count int NOT NULL, PRIMARY KEY (start_offset, end_offset, timestamp, partition_id))"); err != nil {
		t.Fatal(err)
	}
	err := New().Open(context.Background(), sdk.Setup{Pipeline: "p", Window: time.Minute, Config: sinkConfig(db, "")})
	if err == nil || !strings.Contains(err.Error(), "column timestamp is timestamp, want datetime") {
		t.Fatalf("got %v, want a layout error", err)
	}
}

func TestSessionTimeZoneDoesNotShiftWindows(t *testing.T) {
	db, admin := testDatabase(t)
	// time_zone='+05:00' for every session of the sink's pool.
	s := openSink(t, sdk.Setup{Config: sinkConfig(db, "?time_zone=%27%2B05%3A00%27")})
	var zone string
	if err := s.db.QueryRow("SELECT @@session.time_zone").Scan(&zone); err != nil || zone != "+05:00" {
		t.Fatalf("session time zone %q, %v: the test would prove nothing", zone, err)
	}
	c := rangeCommit(0, 0, 10, 1)
	// A window handed over in another zone is still the same instant.
	c.Rows[0].Window = minute.In(time.FixedZone("EST", -5*3600))
	if err := s.Commit(context.Background(), c); err != nil {
		t.Fatal(err)
	}
	var stored string
	if err := admin.QueryRow("SELECT DATE_FORMAT(timestamp, '%Y-%m-%d %H:%i:%s') FROM " + quoteIdent(db) + ".twitter").Scan(&stored); err != nil {
		t.Fatal(err)
	}
	if stored != "2016-06-01 19:36:00" {
		t.Fatalf("stored %s, want 2016-06-01 19:36:00 (UTC)", stored)
	}
	var viaSink time.Time
	if err := s.db.QueryRow("SELECT timestamp FROM twitter").Scan(&viaSink); err != nil || !viaSink.Equal(minute) {
		t.Fatalf("read through the +05:00 session: %v, %v", viaSink, err)
	}
}

func TestWrongPasswordNeverShown(t *testing.T) {
	db, _ := testDatabase(t)
	const password = "Wr0ng-s3cret-xyzzy"
	dc, err := mysql.ParseDSN(testenv.MySQLDSN(db))
	if err != nil {
		t.Fatal(err)
	}
	dc.Passwd = password
	config := []byte("dsn: '" + dc.FormatDSN() + "'\ntable: twitter\n")
	err = New().Open(context.Background(), sdk.Setup{Pipeline: "p", Window: time.Minute, Config: config})
	if err == nil {
		t.Fatalf("%s accepted a wrong password; the test cannot check redaction", dc.User)
	}
	t.Log(err)
	if strings.Contains(err.Error(), password) {
		t.Fatalf("error shows the password: %v", err)
	}
	if !strings.Contains(err.Error(), testenv.MySQLAddr()) {
		t.Fatalf("error does not name the server: %v", err)
	}
	var me *mysql.MySQLError
	if !errors.As(err, &me) || me.Number != 1045 {
		t.Fatalf("got %v, want access denied (1045) wrapped", err)
	}
}

func TestUnreachableServerFailsFast(t *testing.T) {
	if testing.Short() {
		t.Skip("integration test")
	}
	begin := time.Now()
	err := New().Open(context.Background(), sdk.Setup{Pipeline: "p", Window: time.Minute,
		Config: []byte("dsn: 'root:pw@tcp(127.0.0.1:1)/aggregates'\ntable: twitter\n")})
	if err == nil {
		t.Fatal("opened a sink on 127.0.0.1:1")
	}
	t.Log(err)
	if took := time.Since(begin); took > 5*time.Second {
		t.Errorf("took %v to fail", took)
	}
	if !strings.Contains(err.Error(), "mysql-sink: connect to 127.0.0.1:1") {
		t.Fatalf("error does not name the address: %v", err)
	}
}

// `aggregates: [count, sum]` adds a sum column (not part of the key); a
// sink without it refuses a row with a sum rather than dropping it.
func TestSumColumnOnlyWhenDeclared(t *testing.T) {
	db, admin := testDatabase(t)
	s := openSink(t, sdk.Setup{Config: sinkConfig(db, ""), Dimensions: []string{"lang"}, Aggregates: []string{sdk.AggregateCount, sdk.AggregateSum}})
	got := columnsOf(t, admin, db, "twitter")
	if len(got) != 7 || !strings.HasPrefix(got[5], "sum double NO ") || !strings.HasPrefix(got[6], "lang varchar(191) NO PRI") {
		t.Fatalf("columns:\n%s", strings.Join(got, "\n"))
	}
	r := sdk.OffsetRange{Partition: 0, Start: 0, End: 10}
	c := sdk.Commit{Stream: "twitter", Ranges: []sdk.RangeStats{{OffsetRange: r}}, Rows: []sdk.Row{
		{OffsetRange: r, Window: minute, Dims: []string{"en"}, Count: 3, Sum: 12.5},
		{OffsetRange: r, Window: minute, Dims: []string{"ja"}, Count: 1, Sum: -2},
	}}
	if err := s.Commit(context.Background(), c); err != nil {
		t.Fatal(err)
	}
	var sum float64
	if err := admin.QueryRow("SELECT SUM(sum) FROM " + quoteIdent(db) + ".twitter").Scan(&sum); err != nil || sum != 10.5 {
		t.Fatalf("SUM(sum) = %v, %v; want 10.5", sum, err)
	}

	plainDB, _ := testDatabase(t)
	plain := openSink(t, sdk.Setup{Config: sinkConfig(plainDB, "")})
	withSum := rangeCommit(0, 0, 5, 2)
	withSum.Rows[0].Sum = 1
	if err := plain.Commit(context.Background(), withSum); err == nil || !strings.Contains(err.Error(), "no column") {
		t.Fatalf("commit of a sum without a sum column = %v, want refused", err)
	}
}

// A deadlock during a commit (InnoDB picks the commit as its victim) rolls
// the whole commit back: the error is 1213, retryable, and no position or
// row moved, so the runtime's retry after re-reading positions neither loses
// nor doubles anything.
func TestDeadlockDuringCommitRollsBackWhole(t *testing.T) {
	db, admin := testDatabase(t)
	s := openSink(t, sdk.Setup{Config: sinkConfig(db, "")})
	ctx := context.Background()
	if err := s.Commit(ctx, rangeCommit(0, 0, 5, 2)); err != nil {
		t.Fatal(err)
	}
	if _, err := admin.Exec("CREATE TABLE " + quoteIdent(db) + ".ballast (n int PRIMARY KEY)"); err != nil {
		t.Fatal(err)
	}

	// The other transaction is heavy (many undo records), so that InnoDB
	// resolves the deadlock by rolling back the sink's commit. It holds the
	// aggregate row the commit will insert, uncommitted.
	other, err := admin.BeginTx(ctx, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer other.Rollback()
	if _, err := other.Exec("INSERT INTO " + quoteIdent(db) + ".ballast SELECT seq FROM " + quoteIdent(db) + ".seq_1_to_2000"); err != nil {
		t.Fatal(err)
	}
	second := rangeCommit(0, 5, 9, 4)
	if _, err := other.Exec("INSERT INTO "+quoteIdent(db)+".twitter (start_offset, end_offset, timestamp, partition_id, count) VALUES (5, 9, ?, 0, 1)", minute); err != nil {
		t.Fatal(err)
	}

	committed := make(chan error, 1)
	go func() { committed <- s.Commit(ctx, second) }()
	// The commit advances partition 0 (locking its position row), then its
	// INSERT waits for the other transaction's row; the other transaction
	// asking for the position row closes the cycle, whichever comes first.
	deadline := time.Now().Add(10 * time.Second)
	for {
		var waiting int
		// The commit's INSERT runs only after its UPDATE locked the position
		// row. (InnoDB's lock tables in information_schema lag behind; the
		// process list does not, and its db column keeps other tests apart.)
		admin.QueryRow("SELECT COUNT(*) FROM information_schema.processlist WHERE db = ? AND info LIKE 'INSERT INTO `twitter`%'", db).Scan(&waiting)
		if waiting > 0 {
			break
		}
		select {
		case err := <-committed:
			t.Fatalf("the commit ended (%v) instead of waiting for the other transaction's row", err)
		default:
		}
		if time.Now().After(deadline) {
			t.Fatal("the commit never waited for the other transaction's row")
		}
		time.Sleep(10 * time.Millisecond)
	}
	if _, err := other.Exec("SELECT * FROM " + quoteIdent(db) + ".kappa_offsets WHERE partition_id = 0 FOR UPDATE"); err != nil {
		t.Fatalf("the heavy transaction was chosen as the victim: %v", err)
	}
	err = <-committed
	var me *mysql.MySQLError
	if !errors.As(err, &me) || me.Number != errDeadlock || !retryable(err) || !errors.Is(err, sdk.ErrRetryable) || errors.Is(err, sdk.ErrFenced) {
		t.Fatalf("commit = %v, want a retryable deadlock (1213)", err)
	}
	other.Rollback()

	if got := positions(t, s); got[0] != 5 {
		t.Errorf("position after the deadlock = %d, want still 5", got[0])
	}
	if n := countRows(t, admin, "SELECT COUNT(*) FROM "+quoteIdent(db)+".twitter WHERE start_offset = 5"); n != 0 {
		t.Errorf("%d aggregate rows of the rolled-back commit, want 0", n)
	}
	if err := s.Commit(ctx, second); err != nil {
		t.Fatalf("the retried commit: %v", err)
	}
	if got := positions(t, s); got[0] != 9 {
		t.Errorf("position after the retry = %d, want 9", got[0])
	}
}

// A row the table cannot store is refused before anything is written, as
// a permanent error naming the partition, the range, the first record's
// offset and the row: retrying the same commit could only fail again.
// The runtime rejects such facts before aggregating (FactLimits), so this
// is what is left when a plugin or the runtime broke that.
func TestRowsTheTableCannotStoreArePermanentErrors(t *testing.T) {
	db, admin := testDatabase(t)
	s := openSink(t, sdk.Setup{Config: sinkConfig(db, ""), Dimensions: []string{"lang"}, Aggregates: []string{sdk.AggregateCount, sdk.AggregateSum}})
	r := sdk.OffsetRange{Partition: 3, Start: 5, End: 10}
	for _, c := range []struct {
		name string
		row  sdk.Row
		says string
	}{
		{"long dimension value", sdk.Row{Dims: []string{strings.Repeat("x", 192)}, Window: minute}, "at most 191 characters"},
		{"non-UTF-8 dimension value", sdk.Row{Dims: []string{"e\xffn"}, Window: minute}, "is not UTF-8"},
		{"trailing space", sdk.Row{Dims: []string{"en "}, Window: minute}, "ends in a space"},
		{"window before DATETIME", sdk.Row{Dims: []string{"en"}, Window: time.Date(999, 12, 31, 23, 59, 0, 0, time.UTC)}, "outside DATETIME's range"},
		{"NaN sum", sdk.Row{Dims: []string{"en"}, Window: minute, Sum: math.NaN()}, "not a finite number"},
		{"infinite sum", sdk.Row{Dims: []string{"en"}, Window: minute, Sum: math.Inf(1)}, "not a finite number"},
	} {
		row := c.row
		row.OffsetRange, row.Count, row.FirstOffset = r, 1, 7
		commit := sdk.Commit{Stream: "twitter", Ranges: []sdk.RangeStats{{OffsetRange: r, Records: 5, Facts: 1}}, Rows: []sdk.Row{row}}
		err := s.Commit(context.Background(), commit)
		if !errors.Is(err, sdk.ErrPermanent) {
			t.Errorf("%s: Commit = %v, want a permanent error", c.name, err)
			continue
		}
		for _, part := range []string{"partition 3", "range [5, 10)", "first record at offset 7", c.says} {
			if !strings.Contains(err.Error(), part) {
				t.Errorf("%s: %q does not say %q", c.name, err, part)
			}
		}
	}
	if got := positions(t, s); len(got) != 0 {
		t.Fatalf("positions %v after refused commits", got)
	}
	if n := countRows(t, admin, "SELECT count(*) FROM "+quoteIdent(db)+".twitter"); n != 0 {
		t.Fatalf("%d rows after refused commits", n)
	}
}

// The limits the sink publishes are exactly what it stores: values at
// them are stored and read back byte for byte, a NUL included.
func TestFactLimitsAreWhatTheTableStores(t *testing.T) {
	db, admin := testDatabase(t)
	s := openSink(t, sdk.Setup{Config: sinkConfig(db, ""), Dimensions: []string{"lang"}, Aggregates: []string{sdk.AggregateCount, sdk.AggregateSum}})
	longest := strings.Repeat("日", FactLimits.MaxDimensionChars)
	r := sdk.OffsetRange{Partition: 0, Start: 0, End: 4}
	rows := []sdk.Row{
		{OffsetRange: r, Window: FactLimits.EarliestWindow, Dims: []string{longest}, Count: 1, Sum: math.MaxFloat64},
		{OffsetRange: r, Window: FactLimits.LatestWindow, Dims: []string{"e\x00n"}, Count: 1, Sum: -math.MaxFloat64},
		{OffsetRange: r, Window: minute, Dims: []string{"e"}, Count: 1},
	}
	if err := s.Commit(context.Background(), sdk.Commit{Stream: "twitter", Ranges: []sdk.RangeStats{{OffsetRange: r, Records: 4, Facts: 3}}, Rows: rows}); err != nil {
		t.Fatal(err)
	}
	for _, row := range rows {
		var n int64
		var sum float64
		err := admin.QueryRow("SELECT count, sum FROM "+quoteIdent(db)+".twitter WHERE lang = ? AND timestamp = ?", row.Dims[0], row.Window).Scan(&n, &sum)
		if err != nil || n != 1 || sum != row.Sum {
			t.Errorf("row %.20q at %v: count %d, sum %v, %v", row.Dims[0], row.Window, n, sum, err)
		}
	}
	var got string
	if err := admin.QueryRow("SELECT lang FROM " + quoteIdent(db) + ".twitter WHERE lang LIKE 'e%n'").Scan(&got); err != nil || got != "e\x00n" {
		t.Errorf("NUL value read back as %q, %v", got, err)
	}
}
