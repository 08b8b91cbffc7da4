package mysqlsink

import (
	"bytes"
	"context"
	"errors"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/kappa-stream/kappa/internal/deadletter"
	"github.com/kappa-stream/kappa/internal/sinktest"
	"github.com/kappa-stream/kappa/sdk"
)

func deadLetterConfig(db, extra string) []byte {
	return append(sinkConfig(db, ""), []byte("dead_letters: kappa_dead_letters\n"+extra)...)
}

// A commit with a rejected record: its dead letter lands with it, bytes
// exact (NUL, newline, invalid UTF-8), and reads back through DeadLetters.
func TestDeadLettersLandWithTheirBatchAndReadBack(t *testing.T) {
	db, admin := testDatabase(t)
	s := openSink(t, sdk.Setup{Config: deadLetterConfig(db, "dead_letters_max_bytes: 8\n")})
	policy, err := s.DeadLetterPolicy(context.Background())
	if err != nil || policy != (sdk.DeadLetterPolicy{Enabled: true, MaxBytes: 8}) {
		t.Fatalf("DeadLetterPolicy = %+v, %v", policy, err)
	}
	when := time.Date(2016, 6, 1, 19, 36, 5, 123456000, time.UTC)
	c := rangeCommit(0, 0, 10, 7)
	c.Ranges[0].Facts, c.Ranges[0].Rejected = 7, 3
	c.DeadLetters = []sdk.DeadLetter{
		{Partition: 0, Offset: 2, Time: when, Reason: "malformed JSON", Value: []byte("{\x00\n\xff"), Length: 4},
		{Partition: 0, Offset: 5, Reason: "empty payload", Length: 0},
		{Partition: 0, Offset: 9, Time: when, Reason: "malformed JSON", Value: []byte("12345678"), Length: 100},
	}
	if err := s.Commit(context.Background(), c); err != nil {
		t.Fatal(err)
	}
	got, err := s.DeadLetters(context.Background(), sdk.DeadLetterQuery{})
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 3 {
		t.Fatalf("read %d dead letters, want 3: %+v", len(got), got)
	}
	for i, want := range c.DeadLetters {
		d := got[i].DeadLetter
		if d.Partition != want.Partition || d.Offset != want.Offset || !d.Time.Equal(want.Time) || d.Reason != want.Reason ||
			!bytes.Equal(d.Value, want.Value) || d.Length != want.Length || got[i].Stream != "twitter" || got[i].CommittedAt.IsZero() {
			t.Errorf("dead letter %d = %+v, want %+v", i, got[i], want)
		}
	}
	if n := countRows(t, admin, "SELECT COUNT(*) FROM "+quoteIdent(db)+".kappa_dead_letters WHERE truncated = 1 AND value_length = 100"); n != 1 {
		t.Errorf("%d truncated dead letters with their full length, want 1", n)
	}
	// Filters and paging.
	p := int32(0)
	page, err := s.DeadLetters(context.Background(), sdk.DeadLetterQuery{Reason: "malformed JSON", Partition: &p, After: &sdk.DeadLetterPosition{Stream: "twitter", Partition: 0, Offset: 2}, Limit: 5})
	if err != nil || len(page) != 1 || page[0].Offset != 9 {
		t.Errorf("malformed JSON after offset 2 = %+v, %v; want offset 9 alone", page, err)
	}
	// A reason the column could not hold (not UTF-8, too long) is made to
	// fit rather than failing the batch.
	odd := rangeCommit(0, 10, 20, 9)
	odd.Ranges[0].Facts, odd.Ranges[0].Rejected = 9, 1
	odd.DeadLetters = []sdk.DeadLetter{{Partition: 0, Offset: 11, Reason: "bad \xff " + strings.Repeat("r", 2000), Value: []byte("v"), Length: 1}}
	if err := s.Commit(context.Background(), odd); err != nil {
		t.Fatalf("commit with an odd reason: %v", err)
	}
	if n := countRows(t, admin, "SELECT CHAR_LENGTH(reason) FROM "+quoteIdent(db)+".kappa_dead_letters WHERE record_offset = 11"); n != deadletter.ReasonChars {
		t.Errorf("the odd reason was stored with %d characters, want %d", n, deadletter.ReasonChars)
	}
	// A fenced commit stores no dead letter.
	stale := rangeCommit(0, 0, 10, 7)
	stale.DeadLetters = []sdk.DeadLetter{{Partition: 0, Offset: 3, Reason: "x", Value: []byte("x"), Length: 1}}
	if err := s.Commit(context.Background(), stale); !errors.Is(err, sdk.ErrFenced) {
		t.Fatalf("stale commit = %v, want ErrFenced", err)
	}
	if n := countRows(t, admin, "SELECT COUNT(*) FROM "+quoteIdent(db)+".kappa_dead_letters"); n != 4 {
		t.Errorf("%d dead letters after a fenced commit, want 4", n)
	}
	// A dead letter outside the commit's ranges is refused whole.
	outside := rangeCommit(0, 20, 30, 7)
	outside.DeadLetters = []sdk.DeadLetter{{Partition: 0, Offset: 35, Reason: "x", Length: 0}}
	if err := s.Commit(context.Background(), outside); !errors.Is(err, sdk.ErrPermanent) || !strings.Contains(err.Error(), "outside") {
		t.Errorf("commit with a dead letter outside its ranges = %v, want a permanent error", err)
	}
}

// Without dead_letters the sink keeps none and makes no table: the
// original layout stays as it was.
func TestNoDeadLetterTableWithoutTheKey(t *testing.T) {
	db, admin := testDatabase(t)
	s := openSink(t, sdk.Setup{Config: sinkConfig(db, "")})
	if p, err := s.DeadLetterPolicy(context.Background()); err != nil || p.Enabled {
		t.Fatalf("DeadLetterPolicy = %+v, %v; want off", p, err)
	}
	c := rangeCommit(0, 0, 10, 9)
	c.DeadLetters = []sdk.DeadLetter{{Partition: 0, Offset: 1, Reason: "x", Length: 0}}
	if err := s.Commit(context.Background(), c); err != nil {
		t.Fatal(err)
	}
	// The original layout's 4 tables and the generations catalog.
	if n := countRows(t, admin, "SELECT COUNT(*) FROM information_schema.TABLES WHERE TABLE_SCHEMA = ?", db); n != 5 {
		t.Errorf("%d tables, want the 4 of the original layout and kappa_generations", n)
	}
	if _, err := s.DeadLetters(context.Background(), sdk.DeadLetterQuery{}); err == nil {
		t.Error("DeadLetters without a table answered")
	}
}

// Compaction merges ranges and rows but never drops a dead letter; the
// retention key deletes old ones.
func TestCompactionKeepsDeadLettersRetentionExpiresThem(t *testing.T) {
	db, admin := testDatabase(t)
	s := openSink(t, sdk.Setup{Config: deadLetterConfig(db, "dead_letters_retention: 1h\n")})
	for i := range int64(20) {
		c := rangeCommit(0, i*10, (i+1)*10, 9)
		c.Ranges[0].Facts, c.Ranges[0].Rejected = 9, 1
		c.DeadLetters = []sdk.DeadLetter{{Partition: 0, Offset: i*10 + 3, Reason: "malformed JSON", Value: []byte("{"), Length: 1}}
		if err := s.Commit(context.Background(), c); err != nil {
			t.Fatal(err)
		}
	}
	before, _ := s.DeadLetters(context.Background(), sdk.DeadLetterQuery{})
	if _, err := s.Compact(context.Background(), full); err != nil {
		t.Fatal(err)
	}
	if n := countRows(t, admin, "SELECT COUNT(*) FROM "+quoteIdent(db)+".kappa_batches"); n != 1 {
		t.Fatalf("%d batch records after compaction, want 1", n)
	}
	after, _ := s.DeadLetters(context.Background(), sdk.DeadLetterQuery{})
	if len(after) != 20 || !reflect.DeepEqual(after, before) {
		t.Fatalf("compaction changed the dead letters: %d before, %d after", len(before), len(after))
	}
	// Ten of them committed two hours ago: the next pass expires them.
	if _, err := admin.Exec("UPDATE " + quoteIdent(db) + ".kappa_dead_letters SET committed_at = committed_at - INTERVAL 2 HOUR WHERE record_offset < 100"); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Compact(context.Background(), full); err != nil {
		t.Fatal(err)
	}
	left, _ := s.DeadLetters(context.Background(), sdk.DeadLetterQuery{})
	if len(left) != 10 || left[0].Offset != 103 {
		t.Errorf("after retention %d dead letters from offset %d, want the 10 from 103", len(left), left[0].Offset)
	}
}

func TestDeadLetterConfigIsChecked(t *testing.T) {
	sinktest.DeadLetterConfigIsChecked(t, func(extra string) error {
		cfg, err := ParseConfig([]byte("dsn: root@tcp(127.0.0.1:3306)/aggregates\ntable: twitter\n" + extra))
		if err == nil {
			err = cfg.Validate()
		}
		return err
	})
}
