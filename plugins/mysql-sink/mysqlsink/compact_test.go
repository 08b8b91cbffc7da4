package mysqlsink

import (
	"bytes"
	"context"
	"database/sql"
	"errors"
	"fmt"
	"log/slog"
	"math"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/kappa-stream/kappa/internal/compaction"
	"github.com/kappa-stream/kappa/sdk"
)

var full = sdk.CompactRequest{Full: true}

// commitRanges commits n consecutive ranges of size step per partition,
// each with a row for windows i%3 and (i+1)%3 counting 1 and step-1.
func commitRanges(tb testing.TB, s *Sink, partitions int32, from, n, step int64) {
	tb.Helper()
	for i := from; i < from+n; i++ {
		c := sdk.Commit{Stream: "twitter"}
		for p := range partitions {
			r := sdk.OffsetRange{Partition: p, Start: i * step, End: (i + 1) * step}
			c.Ranges = append(c.Ranges, sdk.RangeStats{OffsetRange: r, Records: step, Facts: step})
			c.Rows = append(c.Rows,
				sdk.Row{OffsetRange: r, Window: minute.Add(time.Duration(i%3) * time.Minute), Count: 1},
				sdk.Row{OffsetRange: r, Window: minute.Add(time.Duration((i+1)%3) * time.Minute), Count: step - 1})
		}
		if err := s.Commit(context.Background(), c); err != nil {
			tb.Fatal(err)
		}
	}
}

// originalQuery is the 2016 readers' query, as "window=total" lines.
func originalQuery(tb testing.TB, admin *sql.DB, db string) string {
	tb.Helper()
	rows, err := admin.Query("SELECT timestamp, sum(count) FROM " + quoteIdent(db) + ".twitter GROUP BY timestamp ORDER BY timestamp")
	if err != nil {
		tb.Fatal(err)
	}
	defer rows.Close()
	var out []string
	for rows.Next() {
		var w time.Time
		var n int64
		if err := rows.Scan(&w, &n); err != nil {
			tb.Fatal(err)
		}
		out = append(out, fmt.Sprintf("%s=%d", w.Format("15:04"), n))
	}
	if err := rows.Err(); err != nil {
		tb.Fatal(err)
	}
	return strings.Join(out, " ")
}

// auditProblems checks what Audit returns as kappa-runtime audit does: per
// partition the batch records tile from the first to the position, and
// every range's facts are the counts of the rows that carry it.
func auditProblems(tb testing.TB, s *Sink) []string {
	tb.Helper()
	streams, err := s.Audit(context.Background())
	if err != nil {
		tb.Fatal(err)
	}
	var problems []string
	for _, st := range streams {
		counts := map[sdk.OffsetRange]int64{}
		for _, g := range st.Aggregates {
			counts[g.OffsetRange] = g.Count
		}
		end := map[int32]int64{}
		for _, b := range st.Batches {
			if e, ok := end[b.Partition]; ok && e != b.Start {
				problems = append(problems, fmt.Sprintf("partition %d: [%d, %d) does not follow %d", b.Partition, b.Start, b.End, e))
			}
			end[b.Partition] = b.End
			if counts[b.OffsetRange] != b.Facts {
				problems = append(problems, fmt.Sprintf("range %v: %d facts, rows count %d", b.OffsetRange, b.Facts, counts[b.OffsetRange]))
			}
			delete(counts, b.OffsetRange)
		}
		for r, n := range counts {
			problems = append(problems, fmt.Sprintf("rows of %v count %d without a batch record", r, n))
		}
		for _, p := range st.Positions {
			if end[p.Partition] != p.NextOffset {
				problems = append(problems, fmt.Sprintf("partition %d: position %d, last range ends at %d", p.Partition, p.NextOffset, end[p.Partition]))
			}
		}
	}
	return problems
}

func TestCompactFullPassLeavesOneRowPerWindowAndAuditClean(t *testing.T) {
	db, admin := testDatabase(t)
	s := openSink(t, sdk.Setup{Config: sinkConfig(db, "")})
	commitRanges(t, s, 3, 0, 300, 10) // 900 batch records, 1,800 rows, 3 windows
	before := originalQuery(t, admin, db)

	res, err := s.Compact(context.Background(), full)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("%+v", res)
	if !res.Done || res.Batches < 900 || res.RowsBefore < 1800 {
		t.Errorf("result %+v: want done, having merged at least 900 batch records and 1,800 rows", res)
	}
	if got := originalQuery(t, admin, db); got != before {
		t.Fatalf("original query after compaction:\n%s\nbefore:\n%s", got, before)
	}
	if n := countRows(t, admin, "SELECT COUNT(*) FROM "+quoteIdent(db)+".twitter"); n != 3*3 {
		t.Errorf("%d aggregate rows, want 9: one per (partition, window)", n)
	}
	if n := countRows(t, admin, "SELECT COUNT(*) FROM "+quoteIdent(db)+".kappa_batches"); n != 3 {
		t.Errorf("%d batch records, want 3: one per partition", n)
	}
	if n := countRows(t, admin, "SELECT SUM(batches) FROM "+quoteIdent(db)+".kappa_batches"); n != 900 {
		t.Errorf("batch records stand for %d batches, want 900", n)
	}
	if p := auditProblems(t, s); len(p) > 0 {
		t.Fatalf("audit after compaction: %s", strings.Join(p, "; "))
	}
	// New commits continue from the span, and a second pass merges them in.
	commitRanges(t, s, 3, 300, 5, 10)
	if _, err := s.Compact(context.Background(), full); err != nil {
		t.Fatal(err)
	}
	if n := countRows(t, admin, "SELECT COUNT(*) FROM "+quoteIdent(db)+".twitter"); n != 9 {
		t.Errorf("%d aggregate rows after a second pass, want 9", n)
	}
	if p := auditProblems(t, s); len(p) > 0 {
		t.Fatalf("audit after a second pass: %s", strings.Join(p, "; "))
	}
}

func TestCompactWithDimensionsAndSums(t *testing.T) {
	db, admin := testDatabase(t)
	s := openSink(t, sdk.Setup{Config: sinkConfig(db, ""), Dimensions: []string{"lang"}, Aggregates: []string{sdk.AggregateCount, sdk.AggregateSum}})
	for i := range int64(20) {
		r := sdk.OffsetRange{Partition: 0, Start: i * 4, End: i*4 + 4}
		c := sdk.Commit{Stream: "twitter", Ranges: []sdk.RangeStats{{OffsetRange: r, Records: 4, Facts: 4}}, Rows: []sdk.Row{
			{OffsetRange: r, Window: minute, Dims: []string{"en"}, Count: 1, Sum: 0.5},
			{OffsetRange: r, Window: minute, Dims: []string{"EN"}, Count: 2, Sum: 1},
			{OffsetRange: r, Window: minute.Add(time.Minute), Dims: []string{"en"}, Count: 1, Sum: 2},
		}}
		if err := s.Commit(context.Background(), c); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := s.Compact(context.Background(), full); err != nil {
		t.Fatal(err)
	}
	rows, err := admin.Query("SELECT timestamp, lang, count, sum, start_offset, end_offset FROM " + quoteIdent(db) + ".twitter ORDER BY timestamp, lang")
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	var got []string
	for rows.Next() {
		var w time.Time
		var lang string
		var n, a, b int64
		var sum float64
		if err := rows.Scan(&w, &lang, &n, &sum, &a, &b); err != nil {
			t.Fatal(err)
		}
		got = append(got, fmt.Sprintf("%s %s %d %g [%d,%d)", w.Format("15:04"), lang, n, sum, a, b))
	}
	want := "19:36 EN 40 20 [0,80)|19:36 en 20 10 [0,80)|19:37 en 20 40 [0,80)"
	if strings.Join(got, "|") != want {
		t.Fatalf("rows\n%s\nwant\n%s", strings.Join(got, "|"), want)
	}
}

func TestCompactLevelsMergeSpansOfSimilarSize(t *testing.T) {
	db, admin := testDatabase(t)
	s := openSink(t, sdk.Setup{Config: sinkConfig(db, "")})
	commitRanges(t, s, 1, 0, 40, 10)
	res, err := s.Compact(context.Background(), sdk.CompactRequest{})
	if err != nil {
		t.Fatal(err)
	}
	// Two spans of 16 batches; the 8 newest wait for 8 more.
	if res.Spans != 2 || res.Batches != 32 {
		t.Errorf("periodic pass %+v, want 2 spans of 32 batches", res)
	}
	got := countRows(t, admin, "SELECT COUNT(*) FROM "+quoteIdent(db)+".kappa_batches")
	if got != 2+8 {
		t.Errorf("%d batch records after a periodic pass, want 10", got)
	}
	// Fourteen more spans of 16 make 16 spans of level 1, merged into one
	// of level 2 in the same call.
	commitRanges(t, s, 1, 40, 16*16-40, 10)
	if _, err := s.Compact(context.Background(), sdk.CompactRequest{}); err != nil {
		t.Fatal(err)
	}
	if got := countRows(t, admin, "SELECT COUNT(*) FROM "+quoteIdent(db)+".kappa_batches"); got != 1 {
		t.Errorf("%d batch records after 256 batches, want 1 of level 2", got)
	}
	if p := auditProblems(t, s); len(p) > 0 {
		t.Fatalf("audit: %s", strings.Join(p, "; "))
	}
}

func TestCompactOlderThanLeavesRecentBatches(t *testing.T) {
	db, admin := testDatabase(t)
	s := openSink(t, sdk.Setup{Config: sinkConfig(db, "")})
	commitRanges(t, s, 2, 0, 20, 10)
	res, err := s.Compact(context.Background(), sdk.CompactRequest{Full: true, OlderThan: time.Hour})
	if err != nil || res.Spans != 0 {
		t.Fatalf("compacting batches older than 1h merged %+v, %v; want nothing", res, err)
	}
	if got := countRows(t, admin, "SELECT COUNT(*) FROM "+quoteIdent(db)+".kappa_batches"); got != 40 {
		t.Errorf("%d batch records, want the 40 committed", got)
	}
}

// planned is the span of partition p's batch records as they are now.
func planned(tb testing.TB, s *Sink, p int32) compaction.Span {
	tb.Helper()
	spans, err := s.planSpans(context.Background(), time.Now().UTC(), true)
	if err != nil {
		tb.Fatal(err)
	}
	for _, sp := range spans {
		if sp.Partition == p {
			return sp
		}
	}
	tb.Fatalf("no span planned for partition %d", p)
	return compaction.Span{}
}

func TestCompactSpanRefusesWhatDoesNotTileOrIsPastThePosition(t *testing.T) {
	db, admin := testDatabase(t)
	s := openSink(t, sdk.Setup{Config: sinkConfig(db, "")})
	commitRanges(t, s, 1, 0, 6, 10)
	before := originalQuery(t, admin, db)
	sp := planned(t, s, 0)
	var res sdk.CompactResult

	// A record the plan does not know (a rival merged or a commit added).
	gap := sp
	gap.Records = append(sp.Records[:2:2], sp.Records[3:]...)
	if err := s.compactSpan(context.Background(), gap, &res); !errors.Is(err, compaction.ErrRaced) {
		t.Errorf("a plan missing [20, 30): %v, want compaction.ErrRaced", err)
	}
	// Records that no longer tile: [20, 30) is gone.
	if _, err := admin.Exec("DELETE FROM " + quoteIdent(db) + ".kappa_batches WHERE start_offset = 20"); err != nil {
		t.Fatal(err)
	}
	if err := s.compactSpan(context.Background(), gap, &res); !errors.Is(err, compaction.ErrRaced) {
		t.Errorf("records with a gap at [20, 30): %v, want compaction.ErrRaced", err)
	}
	if _, err := admin.Exec("INSERT INTO "+quoteIdent(db)+".kappa_batches (pipeline, stream, partition_id, start_offset, end_offset, records, facts, skipped, rejected, lost, committed_at) VALUES ('tweets', 'twitter', 0, 20, 30, 10, 10, 0, 0, 0, ?)", time.Now().UTC()); err != nil {
		t.Fatal(err)
	}
	// A position below the span's end.
	if _, err := admin.Exec("UPDATE " + quoteIdent(db) + ".kappa_offsets SET next_offset = 50"); err != nil {
		t.Fatal(err)
	}
	if err := s.compactSpan(context.Background(), sp, &res); !errors.Is(err, compaction.ErrRaced) || !strings.Contains(err.Error(), "position 50 is below the span's end 60") {
		t.Errorf("position 50 under a span ending at 60: %v, want compaction.ErrRaced naming both", err)
	}
	if res.Spans != 0 {
		t.Errorf("refused spans counted as merged: %+v", res)
	}
	if n := countRows(t, admin, "SELECT COUNT(*) FROM "+quoteIdent(db)+".kappa_batches"); n != 6 {
		t.Errorf("%d batch records after refused spans, want the 6 committed", n)
	}
	if got := originalQuery(t, admin, db); got != before {
		t.Errorf("refused spans changed the original query: %s, was %s", got, before)
	}
}

func TestConcurrentCompactorsNeverDoubleCount(t *testing.T) {
	db, admin := testDatabase(t)
	a := openSink(t, sdk.Setup{Config: sinkConfig(db, "")})
	b := openSink(t, sdk.Setup{Config: sinkConfig(db, "")})
	commitRanges(t, a, 4, 0, 100, 10)
	var wg sync.WaitGroup
	stop := make(chan struct{})
	errs := make(chan error, 8)
	var raced int64
	var mu sync.Mutex
	for _, s := range []*Sink{a, b} {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				select {
				case <-stop:
					return
				default:
				}
				res, err := s.Compact(context.Background(), sdk.CompactRequest{Full: true})
				if err != nil {
					errs <- err
					return
				}
				mu.Lock()
				raced += res.Raced
				mu.Unlock()
			}
		}()
	}
	// A live writer commits above the compacted spans meanwhile.
	commitRanges(t, a, 4, 100, 100, 10)
	close(stop)
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	if _, err := a.Compact(context.Background(), full); err != nil {
		t.Fatal(err)
	}
	t.Logf("spans raced between the two compactors: %d", raced)
	// Window i%3 holds 1 per range and window (i+1)%3 holds 9: every
	// window gets 200/3 of each, per partition.
	if got, want := countRows(t, admin, "SELECT SUM(count) FROM "+quoteIdent(db)+".twitter"), int64(4*200*10); got != want {
		t.Fatalf("total count %d, want %d", got, want)
	}
	if n := countRows(t, admin, "SELECT COUNT(*) FROM "+quoteIdent(db)+".twitter"); n != 4*3 {
		t.Errorf("%d rows after the last full pass, want 12", n)
	}
	if p := auditProblems(t, a); len(p) > 0 {
		t.Fatalf("audit: %s", strings.Join(p, "; "))
	}
}

// A commit above the span, on the span's own partition, must go through
// while the span's transaction is open: READ COMMITTED takes no gap lock
// above the span's last record, and the position is read without a lock.
func TestCommitAboveASpanIsNotBlocked(t *testing.T) {
	db, _ := testDatabase(t)
	s := openSink(t, sdk.Setup{Config: sinkConfig(db, "")})
	commitRanges(t, s, 2, 0, 10, 10)
	committed := make(chan error, 1)
	compactBeforeCommit = func(sp compaction.Span) {
		go func() {
			committed <- s.Commit(context.Background(), rangeCommit(sp.Partition, sp.End(), sp.End()+10, 10))
		}()
		select {
		case err := <-committed:
			committed <- err
		case <-time.After(30 * time.Second):
			committed <- fmt.Errorf("the commit above %s waited 30s for the span's transaction", sp)
		}
	}
	t.Cleanup(func() { compactBeforeCommit = nil })
	var res sdk.CompactResult
	if err := s.compactSpan(context.Background(), planned(t, s, 0), &res); err != nil {
		t.Fatal(err)
	}
	compactBeforeCommit = nil
	if err := <-committed; err != nil {
		t.Fatal(err)
	}
	if got := positions(t, s)[0]; got != 110 {
		t.Fatalf("position %d, want 110", got)
	}
	if p := auditProblems(t, s); len(p) > 0 {
		t.Fatalf("audit: %s", strings.Join(p, "; "))
	}
}

func TestCompactRefusesACountThatOverflowsTheIntColumn(t *testing.T) {
	db, admin := testDatabase(t)
	s := openSink(t, sdk.Setup{Config: sinkConfig(db, "")})
	big := int64(math.MaxInt32 - 5)
	for i := range int64(2) {
		c := rangeCommit(0, i*10, i*10+10, big)
		c.Ranges[0].Facts = big
		if err := s.Commit(context.Background(), c); err != nil {
			t.Fatal(err)
		}
	}
	before := originalQuery(t, admin, db)
	res, err := s.Compact(context.Background(), full)
	var overflow *OverflowError
	if !errors.As(err, &overflow) || overflow.Count != 2*big || overflow.Partition != 0 {
		t.Fatalf("got %+v, %v; want an *OverflowError for partition 0 counting %d", res, err, 2*big)
	}
	t.Log(err)
	if res.Spans != 0 || countRows(t, admin, "SELECT COUNT(*) FROM "+quoteIdent(db)+".twitter") != 2 || originalQuery(t, admin, db) != before {
		t.Fatalf("an overflowing span changed the table: %+v", res)
	}
}

func TestOpenAddsTheBatchesColumnAndKeepsA2016Table(t *testing.T) {
	db, admin := testDatabase(t)
	if _, err := admin.Exec("CREATE DATABASE " + quoteIdent(db)); err != nil {
		t.Fatal(err)
	}
	for _, stmt := range []string{
		// The 2016 table, without the time index.
		"CREATE TABLE twitter (start_offset bigint NOT NULL, end_offset bigint NOT NULL, timestamp datetime NOT NULL, " +
			"partition_id int NOT NULL, count int NOT NULL, PRIMARY KEY (start_offset, end_offset, timestamp, partition_id))",
		// The batches table as the sink made it before compaction.
		"CREATE TABLE kappa_batches (pipeline varchar(191) NOT NULL, stream varchar(255) NOT NULL, partition_id int NOT NULL, " +
			"start_offset bigint NOT NULL, end_offset bigint NOT NULL, records bigint NOT NULL, facts bigint NOT NULL, " +
			"skipped bigint NOT NULL, rejected bigint NOT NULL, lost bigint NOT NULL, committed_at datetime(6) NOT NULL, " +
			"PRIMARY KEY (pipeline, stream, partition_id, start_offset)) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin",
		"INSERT INTO kappa_batches VALUES ('tweets', 'twitter', 0, 0, 5, 5, 5, 0, 0, 0, NOW())",
	} {
		if _, err := admin.Exec("USE " + quoteIdent(db)); err != nil {
			t.Fatal(err)
		}
		if _, err := admin.Exec(stmt); err != nil {
			t.Fatalf("%s: %v", stmt, err)
		}
	}
	open := func() string {
		var logged bytes.Buffer
		s := New()
		s.log = slog.New(slog.NewTextHandler(&logged, nil))
		if err := s.Open(context.Background(), sdk.Setup{Config: sinkConfig(db, ""), Pipeline: "tweets", Window: time.Minute}); err != nil {
			t.Fatal(err)
		}
		if err := s.Close(context.Background()); err != nil {
			t.Fatal(err)
		}
		return logged.String()
	}
	log := open()
	if n := countRows(t, admin, "SELECT batches FROM "+quoteIdent(db)+".kappa_batches"); n != 1 {
		t.Errorf("an old batch record stands for %d batches, want 1", n)
	}
	if n := countRows(t, admin, "SELECT COUNT(*) FROM information_schema.STATISTICS WHERE TABLE_SCHEMA = ? AND TABLE_NAME = 'twitter' AND INDEX_NAME <> 'PRIMARY'", db); n != 0 {
		t.Errorf("the 2016 table gained %d index columns; it must be used as it is", n)
	}
	// Open suggests the time index; once it is there, it says nothing.
	want := "ALTER TABLE `" + db + "`.`twitter` ADD INDEX `kappa_time` (`timestamp`, `partition_id`, `count`)"
	if !strings.Contains(log, "no index on (timestamp, partition_id)") || !strings.Contains(log, strconv.Quote(want)) {
		t.Fatalf("Open over the 2016 table logged %q, want the suggestion %s", log, want)
	}
	if _, err := admin.Exec(want); err != nil {
		t.Fatal(err)
	}
	if log := open(); strings.Contains(log, "ADD INDEX") {
		t.Errorf("Open suggested the index the table now has: %s", log)
	}
}

func TestNewAggregateTableHasTheTimeIndex(t *testing.T) {
	db, admin := testDatabase(t)
	openSink(t, sdk.Setup{Config: sinkConfig(db, ""), Dimensions: []string{"lang"}})
	rows, err := admin.Query("SELECT COLUMN_NAME FROM information_schema.STATISTICS WHERE TABLE_SCHEMA = ? AND TABLE_NAME = 'twitter' AND INDEX_NAME = ? ORDER BY SEQ_IN_INDEX", db, timeIndexName)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	var cols []string
	for rows.Next() {
		var c string
		if err := rows.Scan(&c); err != nil {
			t.Fatal(err)
		}
		cols = append(cols, c)
	}
	if strings.Join(cols, ",") != "timestamp,partition_id,lang,count" {
		t.Fatalf("index %s on (%s), want (timestamp,partition_id,lang,count)", timeIndexName, strings.Join(cols, ","))
	}
}

func TestASpanWithTooManyRowsIsSplit(t *testing.T) {
	db, admin := testDatabase(t)
	s := openSink(t, sdk.Setup{Config: sinkConfig(db, "")})
	commitRanges(t, s, 1, 0, 16, 10) // 32 rows over 3 windows
	before := originalQuery(t, admin, db)
	maxSpanRows = 10
	t.Cleanup(func() { maxSpanRows = 200_000 })
	res, err := s.Compact(context.Background(), full)
	if err != nil {
		t.Fatal(err)
	}
	if res.Spans < 3 {
		t.Errorf("%+v: want the 16-record span split into several", res)
	}
	if n := countRows(t, admin, "SELECT COUNT(*) FROM "+quoteIdent(db)+".kappa_batches"); n != 1 {
		t.Errorf("%d batch records, want 1 after the halves merged again", n)
	}
	if got := originalQuery(t, admin, db); got != before {
		t.Fatalf("original query %s, was %s", got, before)
	}
	if p := auditProblems(t, s); len(p) > 0 {
		t.Fatalf("audit: %s", strings.Join(p, "; "))
	}
}
