package engine

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"math"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/kappa-stream/kappa/sdk"
)

// fieldExtractor reads values "lang|time|value": one dimension, an RFC
// 3339 event time and an optional value to sum.
type fieldExtractor struct{}

func (fieldExtractor) Open(context.Context, sdk.Setup) error { return nil }
func (fieldExtractor) Close(context.Context) error           { return nil }

func (fieldExtractor) Extract(_ context.Context, records []sdk.Record, out *sdk.Extraction) error {
	for i, r := range records {
		parts := strings.Split(string(r.Value), "|")
		t, err := time.Parse(time.RFC3339, parts[1])
		if err != nil {
			out.Reject(i, "bad time")
			continue
		}
		f := sdk.Fact{Record: i, Time: t, Dims: []string{parts[0]}}
		if len(parts) > 2 {
			if f.Value, err = strconv.ParseFloat(parts[2], 64); err != nil {
				out.Reject(i, "bad value")
				continue
			}
		}
		out.Fact(f)
	}
	return nil
}

// batchReasons runs e with its log captured and returns the rejection
// reasons of every committed batch, summed.
func batchReasons(t *testing.T, e *Engine) map[string]int {
	t.Helper()
	var buf bytes.Buffer
	e.cfg.Logger = slog.New(slog.NewJSONHandler(&buf, nil))
	if err := e.Run(context.Background()); err != nil {
		t.Fatalf("Run: %v", err)
	}
	reasons := map[string]int{}
	for _, line := range bytes.Split(buf.Bytes(), []byte("\n")) {
		var entry struct {
			Msg     string         `json:"msg"`
			Reasons map[string]int `json:"reasons"`
		}
		if json.Unmarshal(line, &entry) != nil || entry.Msg != "batch committed" {
			continue
		}
		for r, n := range entry.Reasons {
			reasons[r] += n
		}
	}
	return reasons
}

// Facts the sink cannot store make their records rejected, counted with
// their reasons per range, while every other fact is counted and every
// range advances: one bad value must not block the partitions.
func TestFactsTheSinkCannotStoreAreRejectedRecords(t *testing.T) {
	long := strings.Repeat("x", 300)
	src := newMemSource()
	src.add(0, 0, "en|2016-06-01T19:36:05Z")
	src.add(0, 1, long+"|2016-06-01T19:36:10Z")
	src.add(0, 2, "en|2016-06-01T19:37:00Z")
	src.add(0, 3, "en|3000-01-01T00:00:00Z")
	src.add(0, 4, "en|2016-06-01T19:37:30Z")
	src.add(1, 0, "e\xffn|2016-06-01T19:36:00Z")
	src.add(1, 1, "fr|2016-06-01T19:36:00Z|NaN")
	src.add(1, 2, "fr|2016-06-01T19:36:00Z|2.5")
	src.add(1, 3, "fr|2200-01-01T00:00:00Z")
	src.add(1, 4, "fr|1500-01-01T00:00:00Z")
	src.add(1, 5, "\x00fr|2016-06-01T19:38:00Z") // a NUL is UTF-8
	sink := newMemSink()
	e := newTestEngine(src, fieldExtractor{}, sink, func(c *Config) {
		c.Dimensions = []string{"lang"}
		c.Limits.MaxRecords = 4 // a few batches
		c.FactLimits = sdk.FactLimits{
			MaxDimensionChars: 191,
			DimensionsUTF8:    true,
			EarliestWindow:    time.Date(1000, 1, 1, 0, 0, 0, 0, time.UTC),
			LatestWindow:      time.Date(2100, 1, 1, 0, 0, 0, 0, time.UTC),
			FiniteValues:      true,
		}
	})
	reasons := batchReasons(t, e)

	wantReasons := map[string]int{
		"dimension lang: 300 characters, the sink stores at most 191":                       1,
		"event time 3000-01-01T00:00:00Z outside 1678–2261":                                 1,
		"dimension lang: not UTF-8, the sink stores UTF-8 only":                             1,
		"value NaN: the sink stores finite numbers only":                                    1,
		"window 2200-01-01T00:00:00Z: outside 1000-01-01–2100-01-01, which the sink stores": 1,
		"event time 1500-01-01T00:00:00Z outside 1678–2261":                                 1,
	}
	if !maps.Equal(reasons, wantReasons) {
		t.Errorf("rejection reasons = %v, want %v", reasons, wantReasons)
	}
	want := map[string]int64{
		"2016-06-01 19:36:00 en":     1,
		"2016-06-01 19:37:00 en":     2,
		"2016-06-01 19:36:00 fr":     1,
		"2016-06-01 19:38:00 \x00fr": 1,
	}
	if got := sink.perWindow(); !maps.Equal(got, want) {
		t.Errorf("per window = %v, want %v", got, want)
	}
	rejected := map[int32]int64{}
	for _, r := range sink.ranges {
		rejected[r.Partition] += r.Rejected
	}
	if want := map[int32]int64{0: 2, 1: 4}; !maps.Equal(rejected, want) {
		t.Errorf("rejected per partition = %v, want %v", rejected, want)
	}
	if want := map[int32]int64{0: 5, 1: 6}; !maps.Equal(sink.positions, want) {
		t.Errorf("positions = %v, want %v", sink.positions, want)
	}
	if tot := e.Totals(); tot.Records != 11 || tot.Facts != 5 || tot.Rejected != 6 {
		t.Errorf("totals = %+v, want 11 records, 5 facts, 6 rejected", tot)
	}
	checkRangesContiguous(t, sink)
	// Each row names the offset of its first record, for a sink that
	// would refuse it.
	firstOffsets := map[string]int64{}
	for _, r := range sink.rows {
		firstOffsets[fmt.Sprintf("%d [%d, %d) %s %q", r.Partition, r.Start, r.End, r.Window.Format("15:04"), r.Dims[0])] = r.FirstOffset
	}
	wantFirst := map[string]int64{
		`0 [0, 4) 19:36 "en"`: 0, `0 [0, 4) 19:37 "en"`: 2, `0 [4, 5) 19:37 "en"`: 4,
		`1 [0, 3) 19:36 "fr"`: 2, `1 [3, 6) 19:38 "\x00fr"`: 5,
	}
	if !maps.Equal(firstOffsets, wantFirst) {
		t.Errorf("rows' first offsets = %v, want %v", firstOffsets, wantFirst)
	}
	for _, r := range sink.rows {
		if r.Dims[0] == "fr" && r.Sum != 2.5 {
			t.Errorf("row %+v: sum %v, want 2.5 (the NaN's record rejected)", r, r.Sum)
		}
	}
}

// A sink that publishes no limits gets every fact, but an event time the
// engine cannot put in a window is rejected all the same: year 3000 used
// to land in 1830.
func TestEventTimesOutsideInt64NanosecondsAreRejectedWithoutLimits(t *testing.T) {
	src := newMemSource()
	src.add(0, 0, "2016-06-01T19:36:05Z")
	src.add(0, 1, "3000-01-01T00:00:00Z")
	src.add(0, 2, "1500-01-01T00:00:00Z")
	src.add(0, 3, "2016-06-01T19:37:05Z")
	sink := newMemSink()
	e := newTestEngine(src, timeExtractor{}, sink, nil)
	reasons := batchReasons(t, e)
	want := map[string]int64{"2016-06-01 19:36:00": 1, "2016-06-01 19:37:00": 1}
	if got := sink.perWindow(); !maps.Equal(got, want) {
		t.Errorf("per window = %v, want %v", got, want)
	}
	wantReasons := map[string]int{
		"event time 3000-01-01T00:00:00Z outside 1678–2261": 1,
		"event time 1500-01-01T00:00:00Z outside 1678–2261": 1,
	}
	if !maps.Equal(reasons, wantReasons) {
		t.Errorf("rejection reasons = %v, want %v", reasons, wantReasons)
	}
}

// Without limits a long dimension value is a fact like any other.
func TestNoLimitsNoScreening(t *testing.T) {
	long := strings.Repeat("é", 300)
	src := newMemSource()
	src.add(0, 0, long+"|2016-06-01T19:36:05Z")
	sink := newMemSink()
	e := newTestEngine(src, fieldExtractor{}, sink, func(c *Config) { c.Dimensions = []string{"lang"} })
	if err := e.Run(context.Background()); err != nil {
		t.Fatal(err)
	}
	if len(sink.rows) != 1 || sink.rows[0].Dims[0] != long || sink.rows[0].FirstOffset != 0 {
		t.Errorf("rows = %+v, want one row with the long value", sink.rows)
	}
}

// refusingSink refuses every commit as a permanent error.
type refusingSink struct{ *memSink }

func (s refusingSink) Commit(ctx context.Context, c sdk.Commit) error {
	s.mu.Lock()
	s.commits++
	s.mu.Unlock()
	return sdk.Permanent(errors.New("refused the row of partition 0, first record at offset 0"))
}

// What a sink still refuses stops the run at once: retrying the same
// batch could only fail again, and would block every partition.
func TestPermanentCommitErrorStopsTheRun(t *testing.T) {
	src := newMemSource()
	src.add(0, 0, "2016-06-01T19:36:05Z")
	sink := refusingSink{newMemSink()}
	e := New(Config{Drain: true, Logger: quietLogger(), Limits: sdk.Limits{MaxRecords: 3, MaxWait: time.Millisecond}, RetryFor: time.Minute},
		"mem", src, timeExtractor{}, sink)
	err := e.Run(context.Background())
	if !errors.Is(err, sdk.ErrPermanent) || !strings.Contains(err.Error(), "first record at offset 0") {
		t.Fatalf("Run = %v, want the sink's permanent error", err)
	}
	if sink.commits != 1 {
		t.Errorf("%d commits tried, want 1", sink.commits)
	}
}

// Finite values whose sum overflows a float64 stop the run at once, naming
// the record that tipped the sum, when the sink stores finite sums only;
// nothing is committed, and a sink without that limit gets the infinity.
func TestASumThatOverflowsStopsTheRunNamingTheRecord(t *testing.T) {
	records := func() *memSource {
		src := newMemSource()
		src.add(0, 0, "en|2016-06-01T19:36:05Z|1e308")
		src.add(0, 1, "en|2016-06-01T19:36:06Z|1e308")
		return src
	}
	sink := newMemSink()
	e := newTestEngine(records(), fieldExtractor{}, sink, func(c *Config) {
		c.Dimensions = []string{"lang"}
		c.RetryFor = time.Minute
		c.FactLimits = sdk.FactLimits{FiniteValues: true}
	})
	err := e.Run(context.Background())
	if !errors.Is(err, sdk.ErrPermanent) || !strings.Contains(err.Error(), "partition 0, offset 1: the sum of window 2016-06-01 19:36:00 overflows") {
		t.Fatalf("Run = %v, want a permanent error naming partition 0, offset 1", err)
	}
	if sink.commits != 0 {
		t.Errorf("%d commits, want none", sink.commits)
	}

	sink = newMemSink()
	e = newTestEngine(records(), fieldExtractor{}, sink, func(c *Config) { c.Dimensions = []string{"lang"} })
	if err := e.Run(context.Background()); err != nil {
		t.Fatalf("without FiniteValues: %v", err)
	}
	if len(sink.rows) != 1 || !math.IsInf(sink.rows[0].Sum, 1) {
		t.Errorf("rows %+v, want one with sum +Inf", sink.rows)
	}
}
