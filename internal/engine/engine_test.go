package engine

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"maps"
	"strings"
	"testing"
	"time"

	"github.com/kappa-stream/kappa/sdk"
)

func quietLogger() *slog.Logger { return slog.New(slog.NewTextHandler(io.Discard, nil)) }

func newTestEngine(src *memSource, x sdk.Extractor, sink *memSink, tweak func(*Config)) *Engine {
	cfg := Config{Drain: true, Logger: quietLogger(), Limits: sdk.Limits{MaxRecords: 3, MaxWait: time.Millisecond}, RetryFor: 10 * time.Second}
	if tweak != nil {
		tweak(&cfg)
	}
	return New(cfg, "mem", src, x, sink)
}

// fixture: three partitions with late and out-of-order events, a notice,
// a malformed record, a gap in offsets and a partition of notices only.
func fixture() (*memSource, map[string]int64) {
	src := newMemSource()
	src.add(0, 0, "2016-06-01T19:36:05Z")
	src.add(0, 1, "2016-06-01T19:37:59Z")
	src.add(0, 2, "2016-06-01T16:36:00Z") // three hours late
	src.add(0, 5, "2016-06-01T19:36:30Z") // offsets 3 and 4 are a gap
	src.add(0, 6, "skip")
	src.add(1, 0, "garbage")
	src.add(1, 1, "2016-06-01T19:36:00+02:00") // 17:36 UTC
	src.add(1, 2, "2016-06-01T19:37:00Z")
	src.add(2, 0, "skip")
	src.add(2, 1, "skip")
	src.ends[2] = 4 // the log ends past the last record, as after a transaction marker
	return src, map[string]int64{
		"2016-06-01 16:36:00": 1,
		"2016-06-01 17:36:00": 1,
		"2016-06-01 19:36:00": 2,
		"2016-06-01 19:37:00": 2,
	}
}

func TestDrainCountsEveryRecordOnceInItsUTCWindow(t *testing.T) {
	src, want := fixture()
	sink := newMemSink()
	e := newTestEngine(src, timeExtractor{}, sink, nil)
	if err := e.Run(context.Background()); err != nil {
		t.Fatal(err)
	}
	if got := sink.perWindow(); !maps.Equal(got, want) {
		t.Errorf("per window = %v, want %v", got, want)
	}
	wantPositions := map[int32]int64{0: 7, 1: 3, 2: 4}
	if !maps.Equal(sink.positions, wantPositions) {
		t.Errorf("positions = %v, want %v", sink.positions, wantPositions)
	}
	tot := e.Totals()
	if tot.Records != 10 || tot.Facts != 6 || tot.Skipped != 3 || tot.Rejected != 1 {
		t.Errorf("totals = %+v, want 10 records, 6 facts, 3 skipped, 1 rejected", tot)
	}
	checkRangesContiguous(t, sink)
}

// checkRangesContiguous asserts the committed ranges of each partition tile
// [0, position) without gap or overlap, and their counters add up.
func checkRangesContiguous(t *testing.T, sink *memSink) {
	t.Helper()
	next := map[int32]int64{}
	for _, r := range sink.ranges {
		if r.Start != next[r.Partition] {
			t.Errorf("partition %d: range [%d, %d) after %d", r.Partition, r.Start, r.End, next[r.Partition])
		}
		if r.Facts+r.Skipped+r.Rejected != r.Records { // the test extractor makes at most one fact a record
			t.Errorf("partition %d: counters %+v do not add up", r.Partition, r)
		}
		next[r.Partition] = r.End
	}
	for p, n := range sink.positions {
		if next[p] != n {
			t.Errorf("partition %d: ranges end at %d, position is %d", p, next[p], n)
		}
	}
}

func TestCommitFailuresNeitherLoseNorDoubleCount(t *testing.T) {
	for name, fails := range map[string][]bool{
		"lost before commit":      {false, false},
		"outcome lost after it":   {true},
		"both, several times":     {true, false, true, true},
		"after on the last batch": {false, true},
	} {
		t.Run(name, func(t *testing.T) {
			src, want := fixture()
			sink := newMemSink()
			sink.failNext = fails
			e := newTestEngine(src, timeExtractor{}, sink, nil)
			if err := e.Run(context.Background()); err != nil {
				t.Fatal(err)
			}
			if got := sink.perWindow(); !maps.Equal(got, want) {
				t.Errorf("per window = %v, want %v", got, want)
			}
			checkRangesContiguous(t, sink)
		})
	}
}

func TestPollFailureRecovers(t *testing.T) {
	src, want := fixture()
	src.failPoll = 2
	sink := newMemSink()
	if err := newTestEngine(src, timeExtractor{}, sink, nil).Run(context.Background()); err != nil {
		t.Fatal(err)
	}
	if got := sink.perWindow(); !maps.Equal(got, want) {
		t.Errorf("per window = %v, want %v", got, want)
	}
}

// A second writer moves partition 0 ahead (committing its own rows for the
// first three offsets); the engine is fenced, re-reads and continues from
// there, so those offsets are counted once, by the other writer.
func TestFencedByAnotherWriter(t *testing.T) {
	src, want := fixture()
	sink := newMemSink()
	other := sdk.Commit{Stream: "mem",
		Ranges: []sdk.RangeStats{{OffsetRange: sdk.OffsetRange{Partition: 0, Start: 0, End: 3}, Records: 3, Facts: 3}},
		Rows: []sdk.Row{
			{OffsetRange: sdk.OffsetRange{Partition: 0, Start: 0, End: 3}, Window: time.Date(2016, 6, 1, 19, 36, 0, 0, time.UTC), Count: 1},
			{OffsetRange: sdk.OffsetRange{Partition: 0, Start: 0, End: 3}, Window: time.Date(2016, 6, 1, 19, 37, 0, 0, time.UTC), Count: 1},
			{OffsetRange: sdk.OffsetRange{Partition: 0, Start: 0, End: 3}, Window: time.Date(2016, 6, 1, 16, 36, 0, 0, time.UTC), Count: 1},
		}}
	e := newTestEngine(src, timeExtractor{}, sink, nil)
	// The engine reads positions (none) first; the other writer commits
	// before the engine's first commit.
	if err := e.resume(context.Background()); err != nil {
		t.Fatal(err)
	}
	if err := sink.Commit(context.Background(), other); err != nil {
		t.Fatal(err)
	}
	if err := e.Run(context.Background()); err != nil {
		t.Fatal(err)
	}
	if got := sink.perWindow(); !maps.Equal(got, want) {
		t.Errorf("per window = %v, want %v", got, want)
	}
}

func TestEngineFencedMidRunCountsOnce(t *testing.T) {
	src, want := fixture()
	sink := newMemSink()
	// Steps here commit before they return, so that the other writer's
	// move lands between two of them.
	e := newTestEngine(src, timeExtractor{}, sink, func(c *Config) { c.Drain, c.SyncCommit = false, true })
	ctx := context.Background()
	if err := e.resume(ctx); err != nil {
		t.Fatal(err)
	}
	// Simulate a zombie: a stale engine's commit of partition 0 lands
	// between our poll and our commit.
	if err := e.step(ctx); err != nil {
		t.Fatal(err)
	}
	sink.positions[1] = 1 // another writer took offset 0 of partition 1 (a rejected record)
	err := e.step(ctx)
	if !errors.Is(err, sdk.ErrFenced) {
		t.Fatalf("step after another writer moved = %v, want ErrFenced", err)
	}
	if err := e.resume(ctx); err != nil {
		t.Fatal(err)
	}
	e.cfg.Drain = true
	if err := e.Run(ctx); err != nil {
		t.Fatal(err)
	}
	if got := sink.perWindow(); !maps.Equal(got, want) {
		t.Errorf("per window = %v, want %v", got, want)
	}
}

type droppingExtractor struct{ timeExtractor }

func (x droppingExtractor) Extract(ctx context.Context, records []sdk.Record, out *sdk.Extraction) error {
	return x.timeExtractor.Extract(ctx, records[:len(records)-1], out)
}

func TestExtractorThatDropsARecordFailsTheBatch(t *testing.T) {
	src, _ := fixture()
	sink := newMemSink()
	err := newTestEngine(src, droppingExtractor{}, sink, func(c *Config) { c.RetryFor = 50 * time.Millisecond }).Run(context.Background())
	if err == nil {
		t.Fatal("Run succeeded with an extractor that drops records")
	}
	if len(sink.rows) != 0 {
		t.Errorf("rows committed despite broken extractor: %v", sink.rows)
	}
}

func TestDimensionsAggregateSeparately(t *testing.T) {
	src := newMemSource()
	src.add(0, 0, "en:2016-06-01T19:36:05Z")
	src.add(0, 1, "ja:2016-06-01T19:36:06Z")
	src.add(0, 2, "en:2016-06-01T19:36:07Z")
	sink := newMemSink()
	err := newTestEngine(src, timeExtractor{dims: true}, sink, func(c *Config) { c.Dimensions = []string{"lang"} }).Run(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]int64{"2016-06-01 19:36:00 en": 2, "2016-06-01 19:36:00 ja": 1}
	if got := sink.perWindow(); !maps.Equal(got, want) {
		t.Errorf("per window = %v, want %v", got, want)
	}
}

func TestCancelStopsWithoutError(t *testing.T) {
	src, _ := fixture()
	sink := newMemSink()
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if err := newTestEngine(src, timeExtractor{}, sink, func(c *Config) { c.Drain = false }).Run(ctx); err != nil {
		t.Fatalf("Run after cancel = %v, want nil", err)
	}
}

func TestWindowStartIsUTCAligned(t *testing.T) {
	ist := time.FixedZone("IST", 5*3600+1800)
	for _, c := range []struct {
		t      time.Time
		window time.Duration
		want   time.Time
	}{
		{time.Date(2016, 6, 1, 19, 36, 59, 999, time.UTC), time.Minute, time.Date(2016, 6, 1, 19, 36, 0, 0, time.UTC)},
		{time.Date(2016, 6, 2, 1, 6, 10, 0, ist), time.Hour, time.Date(2016, 6, 1, 19, 0, 0, 0, time.UTC)},
		{time.Date(1969, 12, 31, 23, 59, 30, 0, time.UTC), time.Minute, time.Date(1969, 12, 31, 23, 59, 0, 0, time.UTC)},
		{time.Date(2016, 6, 1, 19, 36, 0, 0, time.UTC), 15 * time.Minute, time.Date(2016, 6, 1, 19, 30, 0, 0, time.UTC)},
	} {
		if got := windowStart(c.t, c.window); !got.Equal(c.want) || got.Location() != time.UTC {
			t.Errorf("windowStart(%v, %v) = %v, want %v", c.t, c.window, got, c.want)
		}
	}
}

// The records of a batch are those of its partitions in order; a range
// that is empty but holds records would shift every later record's index.
func TestEmptyRangeHoldingRecordsBreaksTheContract(t *testing.T) {
	e := newTestEngine(&memSource{}, timeExtractor{}, newMemSink(), nil)
	e.next = map[int32]int64{}
	b := sdk.Batch{Partitions: []sdk.PartitionBatch{{
		OffsetRange: sdk.OffsetRange{Partition: 2, Start: 5, End: 5},
		Records:     []sdk.Record{{Partition: 2, Offset: 5}},
	}}}
	if err := e.checkBatch(b); err == nil || !strings.Contains(err.Error(), "is empty but holds 1 records") {
		t.Errorf("checkBatch = %v", err)
	}
}

// limitsSource remembers the longest MaxWait it was polled with.
type limitsSource struct {
	*memSource
	longest *time.Duration
}

func (s limitsSource) Poll(ctx context.Context, l sdk.Limits) (sdk.Batch, error) {
	*s.longest = max(*s.longest, l.MaxWait)
	return s.memSource.Poll(ctx, l)
}

// A drain asks for batches at most DrainInterval apart, whatever the
// pipeline's interval: the batch that reaches the end does not wait out a
// whole interval. A live run keeps the interval.
func TestDrainCapsTheBatchInterval(t *testing.T) {
	for _, drain := range []bool{true, false} {
		src := newMemSource()
		src.add(0, 0, "2016-06-01T19:36:05Z")
		var longest time.Duration
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		e := New(Config{Drain: drain, Limits: sdk.Limits{MaxWait: 10 * time.Second}, Logger: quietLogger()},
			"mem", limitsSource{src, &longest}, timeExtractor{}, newMemSink())
		err := e.Run(ctx)
		cancel()
		if drain && err != nil {
			t.Fatalf("drain: %v", err)
		}
		want := 10 * time.Second
		if drain {
			want = DrainInterval
		}
		if longest != want {
			t.Errorf("drain %v: polled with MaxWait %v, want %v", drain, longest, want)
		}
	}
}
