package compaction

import (
	"context"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/kappa-stream/kappa/sdk"
)

// records returns n consecutive records of size 10 from start, each
// standing for batches batches.
func records(start int64, n int, batches int64) []Record {
	var out []Record
	for i := range n {
		s := start + int64(i)*10
		out = append(out, Record{Start: s, End: s + 10, Batches: batches})
	}
	return out
}

func plan(positions map[Partition]int64, full bool, recs map[Partition][]Record, order []Partition) []Span {
	p := NewPlanner(positions, full)
	for _, k := range order {
		for _, r := range recs[k] {
			p.Add(k, r)
		}
	}
	return p.Spans()
}

func TestPlannerGroupsSettledConsecutiveRecords(t *testing.T) {
	p0, p1 := Partition{"twitter", 0}, Partition{"twitter", 1}
	recs := map[Partition][]Record{
		// [0, 30) then a gap, then [40, 60), and [60, 70) past the position.
		p0: append(records(0, 3, 1), records(40, 3, 1)...),
		p1: records(0, 1, 1), // one record: nothing to merge
	}
	got := plan(map[Partition]int64{p0: 60, p1: 10}, true, recs, []Partition{p0, p1})
	want := []string{"partition 0 span [0, 30) of 3 batch records", "partition 0 span [40, 60) of 2 batch records"}
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("full plan %v, want %v", got, want)
	}
	if got := plan(map[Partition]int64{p1: 10}, true, recs, []Partition{p0, p1}); len(got) != 0 {
		t.Errorf("a partition without a position planned %v, want nothing", got)
	}
}

func TestPlannerMergesLevelFactorRecordsOfOneLevel(t *testing.T) {
	p0 := Partition{"twitter", 0}
	rs := append(records(0, LevelFactor+3, 1), records(10*(LevelFactor+3), 1, LevelFactor)...)
	got := plan(map[Partition]int64{p0: 1 << 40}, false, map[Partition][]Record{p0: rs}, []Partition{p0})
	if len(got) != 1 || len(got[0].Records) != LevelFactor || got[0].Start() != 0 {
		t.Errorf("level plan %v, want one span of the first %d records", got, LevelFactor)
	}
	full := plan(map[Partition]int64{p0: 1 << 40}, true, map[Partition][]Record{p0: records(0, MaxSpanBatches+2, 1)}, []Partition{p0})
	if len(full) != 2 || len(full[0].Records) != MaxSpanBatches || len(full[1].Records) != 2 {
		t.Errorf("full plan of %d records: %v, want %d and 2", MaxSpanBatches+2, full, MaxSpanBatches)
	}
	for batches, want := range map[int64]int{1: 0, 15: 0, 16: 1, 255: 1, 256: 2} {
		if got := Level(batches); got != want {
			t.Errorf("Level(%d) = %d, want %d", batches, got, want)
		}
	}
}

func TestOneStream(t *testing.T) {
	two := map[Partition]int64{{"a", 0}: 1, {"b", 0}: 1}
	if err := OneStream(two, "tweets", "twitter"); err == nil || err.Error() != "pipeline tweets committed to 2 streams into table twitter, which has no stream column to tell their rows apart" {
		t.Errorf("two streams: %v", err)
	}
	if err := OneStream(map[Partition]int64{{"a", 0}: 1, {"a", 1}: 1}, "tweets", "twitter"); err != nil {
		t.Errorf("one stream: %v", err)
	}
}

func TestLockedFence(t *testing.T) {
	sp := Span{Stream: "twitter", Partition: 0, Records: records(0, 3, 1)}
	var l Locked
	now := time.Now()
	for i, r := range sp.Records {
		r.CommittedAt = now.Add(time.Duration(i) * time.Second)
		l.Add(r, sdk.RangeStats{Records: 10, Facts: 7, Skipped: 2, Rejected: 1})
	}
	if l.Stats.Records != 30 || l.Stats.Facts != 21 || l.Batches != 3 || !l.CommittedAt.Equal(now.Add(2*time.Second)) {
		t.Errorf("locked sums %+v", l)
	}
	if err := l.Check(sp, 30); err != nil {
		t.Errorf("the planned records at position 30: %v", err)
	}
	if err := l.Check(sp, 25); !errors.Is(err, ErrRaced) || err.Error() != "position 25 is below the span's end 30: span changed since it was planned" {
		t.Errorf("position below the end: %v", err)
	}
	other := sp
	other.Records = sp.Records[:2]
	if err := l.Check(other, 30); !errors.Is(err, ErrRaced) {
		t.Errorf("locked records other than planned: %v, want ErrRaced", err)
	}
	gap := Locked{Records: []Record{sp.Records[0], sp.Records[2]}}
	if err := gap.Check(Span{Records: gap.Records}, 30); !errors.Is(err, ErrRaced) {
		t.Errorf("records that do not tile: %v, want ErrRaced", err)
	}

	rows := []sdk.Row{{Count: 20}, {Count: 1}}
	if err := l.CheckMerged(sp, rows, 5, 10, "int"); err != nil {
		t.Errorf("merged rows counting the facts: %v", err)
	}
	if err := l.CheckMerged(sp, rows, 11, 10, "int"); !errors.Is(err, ErrTooLarge) {
		t.Errorf("11 rows over a bound of 10: %v, want ErrTooLarge", err)
	}
	if err := l.CheckMerged(sp, rows[:1], 5, 10, "int"); err == nil || errors.Is(err, ErrTooLarge) {
		t.Errorf("rows counting 20 of 21 facts: %v, want the mismatch", err)
	}
	big := Locked{Stats: sdk.RangeStats{Facts: 1 << 32}}
	var overflow *OverflowError
	if err := big.CheckMerged(sp, []sdk.Row{{Count: 1 << 32}}, 2, 10, "integer"); !errors.As(err, &overflow) || overflow.Count != 1<<32 {
		t.Errorf("a count past int32: %v, want an *OverflowError", err)
	}
}

func TestPassSplitsTooLargeSpansAndCountsRaces(t *testing.T) {
	sp := Span{Partition: 3, Records: records(0, 8, 1)}
	var planned int
	var merged []string
	pass := Pass{
		Plugin: "test-sink",
		Plan: func(context.Context, time.Time, bool) ([]Span, error) {
			planned++
			if planned > 1 {
				return nil, nil
			}
			return []Span{sp}, nil
		},
		Merge: func(_ context.Context, s Span, res *sdk.CompactResult) error {
			switch {
			case len(s.Records) > 2:
				return ErrTooLarge
			case s.Start() == 0:
				return errors.New("busy")
			}
			merged = append(merged, s.String())
			res.Spans++
			return nil
		},
		Busy: func(err error) bool { return err.Error() == "busy" },
	}
	res, err := pass.Run(context.Background(), sdk.CompactRequest{Full: true}, time.Now())
	if err != nil || !res.Done || res.Spans != 3 || res.Raced != 1 {
		t.Errorf("got %+v, %v; want 3 spans merged, 1 raced, done", res, err)
	}
	if len(merged) != 3 {
		t.Errorf("merged %v", merged)
	}
}
