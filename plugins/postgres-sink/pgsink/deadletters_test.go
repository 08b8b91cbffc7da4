package pgsink

import (
	"bytes"
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/kappa-stream/kappa/internal/sinktest"
	"github.com/kappa-stream/kappa/sdk"
)

func deadLetterConfig(db, extra string) []byte {
	return sinkConfig(db, "dead_letters: kappa_dead_letters\n"+extra)
}

func countRows(t *testing.T, conn *pgx.Conn, q string) int64 {
	t.Helper()
	var n int64
	if err := conn.QueryRow(context.Background(), q).Scan(&n); err != nil {
		t.Fatalf("%s: %v", q, err)
	}
	return n
}

// A commit with rejected records: their dead letters land with it, bytes
// exact (NUL, newline, invalid UTF-8), and read back through DeadLetters;
// a fenced commit stores none.
func TestDeadLettersLandWithTheirBatchAndReadBack(t *testing.T) {
	db, conn := testDatabase(t)
	s := openSink(t, sdk.Setup{Config: deadLetterConfig(db, "dead_letters_max_bytes: 8\n")})
	ctx := context.Background()
	policy, err := s.DeadLetterPolicy(ctx)
	if err != nil || policy != (sdk.DeadLetterPolicy{Enabled: true, MaxBytes: 8}) {
		t.Fatalf("DeadLetterPolicy = %+v, %v", policy, err)
	}
	when := time.Date(2016, 6, 1, 19, 36, 5, 123456000, time.UTC)
	r := sdk.OffsetRange{Partition: 0, Start: 0, End: 10}
	c := sdk.Commit{Stream: "twitter", Ranges: []sdk.RangeStats{{OffsetRange: r, Records: 10, Facts: 7, Rejected: 3}},
		Rows: []sdk.Row{{OffsetRange: r, Window: minute, Count: 7}},
		DeadLetters: []sdk.DeadLetter{
			{Partition: 0, Offset: 2, Time: when, Reason: "malformed JSON", Value: []byte("{\x00\n\xff"), Length: 4},
			{Partition: 0, Offset: 5, Reason: "empty payload\x00 \xff", Length: 0},
			{Partition: 0, Offset: 9, Time: when, Reason: "malformed JSON", Value: []byte("12345678"), Length: 100},
		}}
	if err := s.Commit(ctx, c); err != nil {
		t.Fatal(err)
	}
	got, err := s.DeadLetters(ctx, sdk.DeadLetterQuery{})
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 3 {
		t.Fatalf("read %d dead letters, want 3: %+v", len(got), got)
	}
	for i, want := range c.DeadLetters {
		d := got[i].DeadLetter
		reason := strings.ReplaceAll(strings.ToValidUTF8(want.Reason, "\uFFFD"), "\x00", "\uFFFD")
		if d.Partition != want.Partition || d.Offset != want.Offset || !d.Time.Equal(want.Time) || d.Reason != reason ||
			!bytes.Equal(d.Value, want.Value) || d.Length != want.Length || got[i].Stream != "twitter" || got[i].CommittedAt.IsZero() {
			t.Errorf("dead letter %d = %+v, want %+v", i, got[i], want)
		}
	}
	if n := countRows(t, conn, "SELECT count(*) FROM aggregates.kappa_dead_letters WHERE truncated AND value_length = 100"); n != 1 {
		t.Errorf("%d truncated dead letters with their full length, want 1", n)
	}
	p := int32(0)
	page, err := s.DeadLetters(ctx, sdk.DeadLetterQuery{Reason: "malformed JSON", Partition: &p, After: &sdk.DeadLetterPosition{Stream: "twitter", Partition: 0, Offset: 2}, Limit: 5})
	if err != nil || len(page) != 1 || page[0].Offset != 9 {
		t.Errorf("malformed JSON after offset 2 = %+v, %v; want offset 9 alone", page, err)
	}
	stale := c
	stale.DeadLetters = []sdk.DeadLetter{{Partition: 0, Offset: 3, Reason: "x", Value: []byte("x"), Length: 1}}
	if err := s.Commit(ctx, stale); !errors.Is(err, sdk.ErrFenced) {
		t.Fatalf("stale commit = %v, want ErrFenced", err)
	}
	if n := countRows(t, conn, "SELECT count(*) FROM aggregates.kappa_dead_letters"); n != 3 {
		t.Errorf("%d dead letters after a fenced commit, want 3", n)
	}
	outside := sdk.Commit{Stream: "twitter", Ranges: []sdk.RangeStats{{OffsetRange: sdk.OffsetRange{Partition: 0, Start: 10, End: 20}, Records: 10, Rejected: 1}},
		DeadLetters: []sdk.DeadLetter{{Partition: 0, Offset: 25, Reason: "x"}}}
	if err := s.Commit(ctx, outside); !errors.Is(err, sdk.ErrPermanent) || !strings.Contains(err.Error(), "outside") {
		t.Errorf("commit with a dead letter outside its ranges = %v, want a permanent error", err)
	}
}

// Without dead_letters the sink keeps none and makes no table.
func TestNoDeadLetterTableWithoutTheKey(t *testing.T) {
	db, conn := testDatabase(t)
	s := openSink(t, sdk.Setup{Config: sinkConfig(db, "")})
	ctx := context.Background()
	if p, err := s.DeadLetterPolicy(ctx); err != nil || p.Enabled {
		t.Fatalf("DeadLetterPolicy = %+v, %v; want off", p, err)
	}
	r := sdk.OffsetRange{Partition: 0, Start: 0, End: 10}
	c := sdk.Commit{Stream: "twitter", Ranges: []sdk.RangeStats{{OffsetRange: r, Records: 10, Facts: 9, Rejected: 1}},
		DeadLetters: []sdk.DeadLetter{{Partition: 0, Offset: 1, Reason: "x"}}}
	if err := s.Commit(ctx, c); err != nil {
		t.Fatal(err)
	}
	if n := countRows(t, conn, "SELECT count(*) FROM information_schema.tables WHERE table_schema = 'aggregates'"); n != 5 {
		t.Errorf("%d tables, want the 4 of the original layout and the generations catalog", n)
	}
	if _, err := s.DeadLetters(ctx, sdk.DeadLetterQuery{}); err == nil {
		t.Error("DeadLetters without a table answered")
	}
}

func TestDeadLetterConfigIsChecked(t *testing.T) {
	sinktest.DeadLetterConfigIsChecked(t, func(extra string) error {
		cfg, err := ParseConfig([]byte("dsn: postgres://postgres@127.0.0.1:5432/postgres\ntable: twitter\n" + extra))
		if err == nil {
			err = cfg.Validate()
		}
		return err
	})
}

// Compaction never drops a dead letter; the retention key deletes old ones
// in compaction passes.
func TestRetentionExpiresOldDeadLetters(t *testing.T) {
	db, conn := testDatabase(t)
	s := openSink(t, sdk.Setup{Config: deadLetterConfig(db, "dead_letters_retention: 1h\n"), Dimensions: []string{"lang"}, Aggregates: []string{"count", "sum"}})
	ctx := context.Background()
	commitBatches(t, s, 10) // 20 dead letters, offsets i*10+7 in partitions 0 and 1
	if _, err := s.Compact(ctx, full); err != nil {
		t.Fatal(err)
	}
	if n := countRows(t, conn, "SELECT count(*) FROM aggregates.kappa_dead_letters"); n != 20 {
		t.Fatalf("%d dead letters after compaction, want 20", n)
	}
	if _, err := conn.Exec(ctx, "UPDATE aggregates.kappa_dead_letters SET committed_at = committed_at - interval '2 hours' WHERE record_offset < 50"); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Compact(ctx, full); err != nil {
		t.Fatal(err)
	}
	left, _ := s.DeadLetters(ctx, sdk.DeadLetterQuery{})
	if len(left) != 10 || left[0].Offset != 57 {
		t.Errorf("after retention %d dead letters from offset %d, want the 10 from 57", len(left), left[0].Offset)
	}
}
