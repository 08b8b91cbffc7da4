package engine

import (
	"bytes"
	"context"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/kappa-stream/kappa/sdk"
)

// With the sink keeping dead letters, every rejected record reaches it in
// the commit of the batch that rejected it, with its position, timestamp
// and bytes, cut to MaxBytes; the runtime's own rejections (an event time
// out of range) are dead letters too.
func TestDeadLettersTravelWithTheBatchThatRejectedThem(t *testing.T) {
	src, _ := fixture()
	when := time.Date(2016, 6, 1, 19, 40, 0, 0, time.UTC)
	src.add(1, 3, "not a time, and longer than eight bytes")
	src.logs[1][3].Time = when
	src.add(2, 4, "3000-01-01T00:00:00Z") // a fact the sink cannot store
	sink := newMemSink()
	e := newTestEngine(src, timeExtractor{}, sink, func(c *Config) {
		c.DeadLetters = sdk.DeadLetterPolicy{Enabled: true, MaxBytes: 8}
	})
	if err := e.Run(context.Background()); err != nil {
		t.Fatal(err)
	}
	want := []sdk.DeadLetter{
		{Partition: 1, Offset: 0, Reason: "bad time", Value: []byte("garbage"), Length: 7},
		{Partition: 1, Offset: 3, Time: when, Reason: "bad time", Value: []byte("not a ti"), Length: 39},
		{Partition: 2, Offset: 4, Reason: "event time 3000-01-01T00:00:00Z outside 1678–2261", Value: []byte("3000-01-"), Length: 20},
	}
	if len(sink.dead) != len(want) {
		t.Fatalf("dead letters = %+v, want %+v", sink.dead, want)
	}
	for i, d := range sink.dead {
		w := want[i]
		if d.Partition != w.Partition || d.Offset != w.Offset || !d.Time.Equal(w.Time) || !strings.HasPrefix(d.Reason, w.Reason) ||
			string(d.Value) != string(w.Value) || d.Length != w.Length || d.Truncated() != (w.Length > 8) {
			t.Errorf("dead letter %d = %+v, want %+v", i, d, w)
		}
	}
	// Each dead letter lies in a range of its commit, and each range's
	// rejected count is its dead letters.
	var rejected int64
	for _, r := range sink.ranges {
		rejected += r.Rejected
	}
	if rejected != int64(len(sink.dead)) {
		t.Errorf("ranges count %d rejected, %d dead letters", rejected, len(sink.dead))
	}
}

// When the sink keeps none, no commit carries any: the hot path stays as
// it was.
func TestNoDeadLettersWhenTheSinkKeepsNone(t *testing.T) {
	src, _ := fixture()
	sink := newMemSink()
	e := newTestEngine(src, timeExtractor{}, sink, nil)
	if err := e.Run(context.Background()); err != nil {
		t.Fatal(err)
	}
	if e.Totals().Rejected != 1 || len(sink.dead) != 0 {
		t.Errorf("rejected %d, dead letters %+v; want 1 rejected and no dead letter", e.Totals().Rejected, sink.dead)
	}
}

// A commit whose outcome is lost is read again: its dead letters come
// again with it, never without it.
func TestDeadLettersOfAFailedCommitComeAgainWithTheirBatch(t *testing.T) {
	src, _ := fixture()
	sink := newMemSink()
	sink.failNext = []bool{false, false}
	e := newTestEngine(src, timeExtractor{}, sink, func(c *Config) {
		c.DeadLetters = sdk.DeadLetterPolicy{Enabled: true}
	})
	if err := e.Run(context.Background()); err != nil {
		t.Fatal(err)
	}
	if len(sink.dead) != 1 || sink.dead[0].Partition != 1 || sink.dead[0].Offset != 0 || string(sink.dead[0].Value) != "garbage" {
		t.Errorf("dead letters = %+v, want the one of partition 1, offset 0", sink.dead)
	}
}

func TestCutDeadLetterKeepsAtMostMaxBytesAndTheFullLength(t *testing.T) {
	when := time.Date(2016, 6, 1, 19, 36, 0, 0, time.UTC)
	value := []byte("{\"text\":\"cut\nhere\"")
	r := sdk.Record{Partition: 3, Offset: 77, Value: value, Time: when}
	d := cutDeadLetter(r, "malformed JSON", 5)
	want := sdk.DeadLetter{Partition: 3, Offset: 77, Time: when, Reason: "malformed JSON", Value: value[:5], Length: int64(len(value))}
	if !reflect.DeepEqual(d, want) || !d.Truncated() {
		t.Fatalf("cutDeadLetter = %+v (truncated %v), want %+v, truncated", d, d.Truncated(), want)
	}
	value[0] = 'X' // the record's memory goes to the next batch
	if d.Value[0] != '{' {
		t.Error("the dead letter shares the record's memory")
	}
	whole := cutDeadLetter(sdk.Record{Value: []byte("short")}, "r", 0)
	if whole.Truncated() || string(whole.Value) != "short" || whole.Length != 5 {
		t.Errorf("a value under the default limit: %+v", whole)
	}
	big := cutDeadLetter(sdk.Record{Value: bytes.Repeat([]byte("a"), sdk.DefaultDeadLetterMaxBytes+1)}, "r", 0)
	if len(big.Value) != sdk.DefaultDeadLetterMaxBytes || !big.Truncated() || big.Length != sdk.DefaultDeadLetterMaxBytes+1 {
		t.Errorf("a value over the default limit: %d bytes of %d, truncated %v", len(big.Value), big.Length, big.Truncated())
	}
	empty := cutDeadLetter(sdk.Record{}, "empty payload", 10)
	if empty.Truncated() || len(empty.Value) != 0 || empty.Length != 0 {
		t.Errorf("an empty value: %+v", empty)
	}
}
