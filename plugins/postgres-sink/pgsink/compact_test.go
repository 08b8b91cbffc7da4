package pgsink

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math"
	"reflect"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/kappa-stream/kappa/internal/compaction"
	"github.com/kappa-stream/kappa/sdk"
)

var full = sdk.CompactRequest{Full: true}

// commitBatches commits n batches of 10 records to each of two partitions,
// each batch's facts spread over three windows and two languages, one
// record rejected per batch with its dead letter.
func commitBatches(t *testing.T, s *Sink, n int64) {
	t.Helper()
	for i := range n {
		var c sdk.Commit
		c.Stream = "twitter"
		for p := range int32(2) {
			r := sdk.OffsetRange{Partition: p, Start: i * 10, End: i*10 + 10}
			c.Ranges = append(c.Ranges, sdk.RangeStats{OffsetRange: r, Records: 10, Facts: 9, Rejected: 1})
			c.Rows = append(c.Rows,
				sdk.Row{OffsetRange: r, Window: minute.Add(time.Duration(i%3) * time.Minute), Count: 4, Sum: 1.5, Dims: []string{"en"}},
				sdk.Row{OffsetRange: r, Window: minute.Add(time.Duration(i%3) * time.Minute), Count: 3, Sum: 2, Dims: []string{"fr"}},
				sdk.Row{OffsetRange: r, Window: minute.Add(time.Duration(i%3+1) * time.Minute), Count: 2, Sum: 0.25, Dims: []string{"en"}})
			c.DeadLetters = append(c.DeadLetters, sdk.DeadLetter{Partition: p, Offset: i*10 + 7, Reason: "malformed JSON", Value: []byte("{"), Length: 1})
		}
		if err := s.Commit(context.Background(), c); err != nil {
			t.Fatal(err)
		}
	}
}

// sums reads sum(count) and sum(sum) per (partition, window, lang).
func sums(t *testing.T, s *Sink) map[string]string {
	t.Helper()
	got := map[string]string{}
	var p int32
	var w time.Time
	var lang string
	var count int64
	var sum float64
	_, err := forEach(context.Background(), s.db, `SELECT partition_id, timestamp, lang, sum(count), sum(sum) FROM `+s.stmts.aggregate()+
		` GROUP BY partition_id, timestamp, lang`, nil, []any{&p, &w, &lang, &count, &sum}, func() error {
		got[fmt.Sprintf("%d/%s/%s", p, w.Format(time.DateTime), lang)] = fmt.Sprintf("%d,%g", count, sum)
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return got
}

// A full compaction merges each partition's batches into one span, keeps
// every sum per (partition, window, dims), the audit's totals and every
// dead letter.
func TestCompactionKeepsSumsAuditAndDeadLetters(t *testing.T) {
	db, conn := testDatabase(t)
	s := openSink(t, sdk.Setup{Config: deadLetterConfig(db, ""), Dimensions: []string{"lang"}, Aggregates: []string{"count", "sum"}})
	ctx := context.Background()
	commitBatches(t, s, 20)
	before := sums(t, s)
	lettersBefore, _ := s.DeadLetters(ctx, sdk.DeadLetterQuery{})
	rowsBefore := countRows(t, conn, "SELECT count(*) FROM aggregates.twitter")

	res, err := s.Compact(ctx, full)
	if err != nil {
		t.Fatal(err)
	}
	if res.Spans != 2 || res.Batches != 40 || res.RowsBefore != rowsBefore || res.RowsAfter != 14 || !res.Done {
		t.Errorf("compaction %+v, want 2 spans of 20 batches, %d rows before, 14 after (en in 4 windows, fr in 3, per partition)", res, rowsBefore)
	}
	if after := sums(t, s); !reflect.DeepEqual(after, before) {
		t.Errorf("sums changed:\nbefore %v\nafter  %v", before, after)
	}
	if n := countRows(t, conn, "SELECT count(*) FROM aggregates.kappa_batches WHERE batches = 20 AND start_offset = 0 AND end_offset = 200 AND rejected = 20"); n != 2 {
		t.Errorf("%d merged batch records, want one per partition", n)
	}
	lettersAfter, _ := s.DeadLetters(ctx, sdk.DeadLetterQuery{})
	if len(lettersAfter) != 40 || !reflect.DeepEqual(lettersAfter, lettersBefore) {
		t.Errorf("compaction changed the dead letters: %d before, %d after", len(lettersBefore), len(lettersAfter))
	}
	audit, err := s.Audit(ctx)
	if err != nil {
		t.Fatal(err)
	}
	var facts, counted int64
	for _, b := range audit[0].Batches {
		facts += b.Facts
	}
	for _, g := range audit[0].Aggregates {
		counted += g.Count
	}
	if facts != 360 || counted != 360 {
		t.Errorf("audit after compaction: %d facts in batch records, %d counted in rows; want 360", facts, counted)
	}
	// Commits go on after compaction, and a second pass merges nothing new
	// when levels are not full.
	commitBatches2 := func() {
		r := sdk.OffsetRange{Partition: 0, Start: 200, End: 210}
		if err := s.Commit(ctx, sdk.Commit{Stream: "twitter", Ranges: []sdk.RangeStats{{OffsetRange: r, Records: 10, Facts: 10}},
			Rows: []sdk.Row{{OffsetRange: r, Window: minute, Count: 10, Dims: []string{"en"}}}}); err != nil {
			t.Fatal(err)
		}
	}
	commitBatches2()
	if res, err := s.Compact(ctx, sdk.CompactRequest{}); err != nil || res.Spans != 0 {
		t.Errorf("level pass over 2 records: %+v, %v; want nothing merged", res, err)
	}
}

// A periodic pass merges only compaction.LevelFactor records of one level.
func TestCompactionByLevels(t *testing.T) {
	db, conn := testDatabase(t)
	s := openSink(t, sdk.Setup{Config: sinkConfig(db, ""), Dimensions: []string{"lang"}, Aggregates: []string{"count", "sum"}})
	commitBatches(t, s, compaction.LevelFactor+3)
	res, err := s.Compact(context.Background(), sdk.CompactRequest{})
	if err != nil {
		t.Fatal(err)
	}
	if res.Spans != 2 || res.Batches != 2*compaction.LevelFactor {
		t.Errorf("level pass: %+v, want one span of %d per partition", res, compaction.LevelFactor)
	}
	if n := countRows(t, conn, "SELECT count(*) FROM aggregates.kappa_batches"); n != 2*(1+3) {
		t.Errorf("%d batch records, want 8", n)
	}
}

// A merged count that would not fit the integer count column (the 2016
// layout's) is an OverflowError, never a wrap: the span stays as committed.
func TestCompactRefusesACountThatOverflowsTheIntegerColumn(t *testing.T) {
	db, conn := testDatabase(t)
	s := openSink(t, sdk.Setup{Config: sinkConfig(db, "")})
	big := int64(math.MaxInt32 - 5)
	for i := range int64(2) {
		r := rangeOf(0, i*10, i*10+10, 10)
		r.Facts = big
		c := sdk.Commit{Stream: "twitter", Ranges: []sdk.RangeStats{r}, Rows: []sdk.Row{{OffsetRange: r.OffsetRange, Window: minute, Count: big}}}
		if err := s.Commit(context.Background(), c); err != nil {
			t.Fatal(err)
		}
	}
	before := originalQuery(t, conn)
	res, err := s.Compact(context.Background(), full)
	var overflow *OverflowError
	if !errors.As(err, &overflow) || overflow.Count != 2*big || overflow.Partition != 0 {
		t.Fatalf("got %+v, %v; want an *OverflowError for partition 0 counting %d", res, err, 2*big)
	}
	t.Log(err)
	if res.Spans != 0 || countRows(t, conn, "SELECT count(*) FROM aggregates.twitter") != 2 || !reflect.DeepEqual(originalQuery(t, conn), before) {
		t.Fatalf("an overflowing span changed the table: %+v", res)
	}
}

// A table the sink makes has the time index; one in the 2016 layout that
// exists without it is used as it is, and Open logs the statement that
// would add it.
func TestTimeIndexMadeWithTheTableOrSuggested(t *testing.T) {
	ctx := context.Background()
	open := func(db string, dims []string) string {
		var logged bytes.Buffer
		s := New()
		s.log = slog.New(slog.NewTextHandler(&logged, nil))
		if err := s.Open(ctx, sdk.Setup{Config: sinkConfig(db, ""), Pipeline: "tweets", Window: time.Minute, Dimensions: dims}); err != nil {
			t.Fatal(err)
		}
		if err := s.Close(ctx); err != nil {
			t.Fatal(err)
		}
		return logged.String()
	}
	indexColumns := func(conn *pgx.Conn) string {
		var cols string
		if err := conn.QueryRow(ctx, `SELECT coalesce(string_agg(a.attname, ',' ORDER BY k.ord), '') FROM pg_index i
			CROSS JOIN LATERAL unnest(i.indkey::int2[]) WITH ORDINALITY AS k(attnum, ord)
			JOIN pg_attribute a ON a.attrelid = i.indrelid AND a.attnum = k.attnum
			WHERE i.indrelid = 'aggregates.twitter'::regclass AND NOT i.indisprimary`).Scan(&cols); err != nil {
			t.Fatal(err)
		}
		return cols
	}

	made, conn := testDatabase(t)
	if log := open(made, []string{"lang"}); strings.Contains(log, "CREATE INDEX") {
		t.Errorf("a table the sink made: Open suggested an index: %s", log)
	}
	if got := indexColumns(conn); got != "timestamp,partition_id,lang,count" {
		t.Errorf("the sink's table has index columns (%s), want (timestamp,partition_id,lang,count)", got)
	}

	old, conn := testDatabase(t)
	if _, err := conn.Exec(ctx, `CREATE SCHEMA aggregates; CREATE TABLE aggregates.twitter (start_offset bigint NOT NULL, end_offset bigint NOT NULL,
		"timestamp" timestamp(0) without time zone NOT NULL, partition_id integer NOT NULL, count integer NOT NULL,
		PRIMARY KEY (start_offset, end_offset, "timestamp", partition_id))`); err != nil {
		t.Fatal(err)
	}
	log := open(old, nil)
	if got := indexColumns(conn); got != "" {
		t.Fatalf("the 2016 table gained an index on (%s); it must be used as it is", got)
	}
	const want = `CREATE INDEX IF NOT EXISTS "twitter_kappa_time" ON "aggregates"."twitter" ("timestamp", "partition_id") INCLUDE ("count")`
	if !strings.Contains(log, "no index on (timestamp, partition_id)") || !strings.Contains(log, strconv.Quote(want)) {
		t.Fatalf("Open over a 2016 table without the time index logged %q, want the suggestion %s", log, want)
	}
	if _, err := conn.Exec(ctx, want); err != nil {
		t.Fatal(err)
	}
	if log := open(old, nil); strings.Contains(log, "CREATE INDEX") {
		t.Errorf("Open suggested the index the table now has: %s", log)
	}
}

// A commit above a span, on the span's own partition, goes through while
// the span's transaction is open: the span locks only its own batch
// records (PostgreSQL takes no gap locks at READ COMMITTED) and reads the
// position without a lock.
func TestCommitAboveASpanIsNotBlocked(t *testing.T) {
	db, conn := testDatabase(t)
	s := openSink(t, sdk.Setup{Config: sinkConfig(db, "")})
	ctx := context.Background()
	commit := func(ctx context.Context, p int32, start int64) error {
		r := rangeOf(p, start, start+10, 10)
		return s.Commit(ctx, sdk.Commit{Stream: "twitter", Ranges: []sdk.RangeStats{r}, Rows: []sdk.Row{{OffsetRange: r.OffsetRange, Window: minute, Count: 10}}})
	}
	for i := range int64(10) {
		for p := range int32(2) {
			if err := commit(ctx, p, i*10); err != nil {
				t.Fatal(err)
			}
		}
	}
	spans, err := s.planSpans(ctx, time.Now().UTC(), true)
	if err != nil || len(spans) != 2 || spans[0].Partition != 0 {
		t.Fatalf("planned %v, %v; want one span per partition", spans, err)
	}
	// The commit runs inside the span's open transaction, given 30 s: one
	// that waited for the span's locks would never end before its deadline.
	var committed error
	compactBeforeCommit = func(sp compaction.Span) {
		waitCtx, cancel := context.WithTimeout(ctx, 30*time.Second)
		defer cancel()
		if committed = commit(waitCtx, sp.Partition, sp.End()); committed != nil {
			committed = fmt.Errorf("the commit above %s, inside the span's transaction: %w", sp, committed)
		}
	}
	t.Cleanup(func() { compactBeforeCommit = nil })
	var res sdk.CompactResult
	if err := s.compactSpan(ctx, spans[0], &res); err != nil {
		t.Fatal(err)
	}
	compactBeforeCommit = nil
	if committed != nil {
		t.Fatal(committed)
	}
	if n := countRows(t, conn, "SELECT count(*) FROM aggregates.kappa_batches WHERE partition_id = 0"); n != 2 {
		t.Errorf("partition 0 has %d batch records, want the span's and the commit's above it", n)
	}
	if got := originalQuery(t, conn)[minute]; got != 210 {
		t.Errorf("the original query counts %d, want 210", got)
	}
}
