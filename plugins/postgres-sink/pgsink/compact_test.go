package pgsink

import (
	"context"
	"fmt"
	"reflect"
	"testing"
	"time"

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
