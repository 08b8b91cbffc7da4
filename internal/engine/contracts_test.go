package engine

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/kappa-stream/kappa/sdk"
)

// badSource returns one fixed batch, whatever it was asked.
type badSource struct {
	*memSource
	batch sdk.Batch
}

func (s badSource) Poll(context.Context, sdk.Limits) (sdk.Batch, error) {
	s.polls++
	return s.batch, nil
}

func rec(partition int32, offset int64) sdk.Record {
	return sdk.Record{Partition: partition, Offset: offset, Value: []byte("2016-06-01T19:36:05Z")}
}

// A source whose records do not fit their range stops the run at once
// with an error naming the source: retrying cannot make it right, and
// counting such records would count them in the wrong range.
func TestSourceBreakingTheRecordContractIsFatal(t *testing.T) {
	for _, c := range []struct {
		name string
		pb   sdk.PartitionBatch
		want string
	}{{
		name: "record past the range's end",
		pb:   sdk.PartitionBatch{OffsetRange: sdk.OffsetRange{Partition: 0, Start: 0, End: 2}, Records: []sdk.Record{rec(0, 0), rec(0, 1), rec(0, 2)}},
		want: "source broke its contract: partition 0: record at offset 2 lies outside its range [0, 2)",
	}, {
		name: "record before the range's start",
		pb:   sdk.PartitionBatch{OffsetRange: sdk.OffsetRange{Partition: 0, Start: 0, End: 3}, Records: []sdk.Record{rec(0, -1), rec(0, 1)}},
		want: "source broke its contract: partition 0: record at offset -1 lies outside its range [0, 3)",
	}, {
		name: "record among the lost offsets",
		pb:   sdk.PartitionBatch{OffsetRange: sdk.OffsetRange{Partition: 0, Start: 0, End: 5}, Lost: 3, Records: []sdk.Record{rec(0, 2), rec(0, 4)}},
		want: "source broke its contract: partition 0: record at offset 2 lies outside its range [0, 5) whose first 3 offsets are lost",
	}, {
		name: "more lost than the range holds",
		pb:   sdk.PartitionBatch{OffsetRange: sdk.OffsetRange{Partition: 0, Start: 0, End: 5}, Lost: 6},
		want: "source broke its contract: partition 0 range [0, 5) reports 6 offsets lost",
	}, {
		name: "offsets out of order",
		pb:   sdk.PartitionBatch{OffsetRange: sdk.OffsetRange{Partition: 0, Start: 0, End: 4}, Records: []sdk.Record{rec(0, 0), rec(0, 2), rec(0, 1)}},
		want: "source broke its contract: partition 0: record at offset 1 follows the record at offset 2; offsets must increase",
	}, {
		name: "offset repeated",
		pb:   sdk.PartitionBatch{OffsetRange: sdk.OffsetRange{Partition: 0, Start: 0, End: 4}, Records: []sdk.Record{rec(0, 0), rec(0, 1), rec(0, 1)}},
		want: "source broke its contract: partition 0: record at offset 1 follows the record at offset 1; offsets must increase",
	}, {
		name: "record of another partition",
		pb:   sdk.PartitionBatch{OffsetRange: sdk.OffsetRange{Partition: 0, Start: 0, End: 2}, Records: []sdk.Record{rec(0, 0), rec(1, 1)}},
		want: "source broke its contract: partition 0 range [0, 2) holds a record of partition 1 (offset 1)",
	}} {
		t.Run(c.name, func(t *testing.T) {
			src := badSource{memSource: newMemSource(), batch: sdk.Batch{Partitions: []sdk.PartitionBatch{c.pb}}}
			src.ends[0] = 10
			sink := newMemSink()
			e := New(Config{Drain: true, Logger: quietLogger(), RetryFor: time.Minute}, "mem", src, timeExtractor{}, sink)
			err := runWithin(t, e, context.Background(), 30*time.Second)
			if !errors.Is(err, ErrContract) || !errors.Is(err, sdk.ErrPermanent) {
				t.Fatalf("Run = %v, want a fatal contract error", err)
			}
			if !strings.Contains(err.Error(), c.want) {
				t.Errorf("Run = %q, want it to say %q", err, c.want)
			}
			if sink.commits != 0 {
				t.Errorf("%d commits of a batch that broke the contract", sink.commits)
			}
		})
	}
}

// positionsSink returns fixed positions.
type positionsSink struct {
	*memSink
	positions []sdk.Position
}

func (s positionsSink) Positions(context.Context, string) ([]sdk.Position, error) {
	return s.positions, nil
}

// Positions that make no sense stop the run before anything is read.
func TestInsanePositionsAreFatal(t *testing.T) {
	for _, c := range []struct {
		name      string
		positions []sdk.Position
		want      string
	}{{
		name:      "partition twice",
		positions: []sdk.Position{{Partition: 0, NextOffset: 2}, {Partition: 1, NextOffset: 1}, {Partition: 0, NextOffset: 5}},
		want:      "sink broke its contract: positions of stream mem hold partition 0 twice (at 2 and at 5)",
	}, {
		name:      "negative offset",
		positions: []sdk.Position{{Partition: 1, NextOffset: -1}},
		want:      "sink broke its contract: position of stream mem partition 1 is negative: -1",
	}, {
		name:      "partition the source does not have",
		positions: []sdk.Position{{Partition: 0, NextOffset: 2}, {Partition: 7, NextOffset: 4}},
		want:      "the sink holds committed positions of stream mem for partitions 7, which the source does not have (it reads partitions 0, 1, 2)",
	}} {
		t.Run(c.name, func(t *testing.T) {
			src, _ := fixture()
			sink := positionsSink{memSink: newMemSink(), positions: c.positions}
			e := New(Config{Drain: true, Logger: quietLogger(), RetryFor: time.Minute}, "mem", src, timeExtractor{}, sink)
			err := runWithin(t, e, context.Background(), 30*time.Second)
			if !errors.Is(err, sdk.ErrPermanent) {
				t.Fatalf("Run = %v, want a fatal error", err)
			}
			if !strings.Contains(err.Error(), c.want) {
				t.Errorf("Run = %q, want it to say %q", err, c.want)
			}
			if src.polls != 0 || sink.commits != 0 {
				t.Errorf("%d polls and %d commits after insane positions", src.polls, sink.commits)
			}
		})
	}
}

// dropsLastRecord is an extractor that gives the last record of every
// call no outcome.
type dropsLastRecord struct{ timeExtractor }

func (x dropsLastRecord) Extract(ctx context.Context, records []sdk.Record, out *sdk.Extraction) error {
	return x.timeExtractor.Extract(ctx, records[:len(records)-1], out)
}

// An extractor that leaves a record without an outcome stops the run at
// once: extraction is deterministic, so a retry would only repeat it.
func TestExtractorBreakingItsContractIsFatal(t *testing.T) {
	src := newMemSource()
	src.add(0, 0, "2016-06-01T19:36:05Z")
	src.add(0, 1, "2016-06-01T19:37:05Z")
	sink := newMemSink()
	e := New(Config{Drain: true, Logger: quietLogger(), RetryFor: time.Minute}, "mem", src, dropsLastRecord{}, sink)
	err := runWithin(t, e, context.Background(), 30*time.Second)
	if !errors.Is(err, ErrContract) || !errors.Is(err, sdk.ErrPermanent) {
		t.Fatalf("Run = %v, want a fatal contract error", err)
	}
	if want := "extractor broke its contract: no outcome for record 1 of 2"; !strings.Contains(err.Error(), want) {
		t.Errorf("Run = %q, want it to say %q", err, want)
	}
	if kind, ok := ContractBreaker(fmt.Errorf("pipeline p: %w", err)); !ok || kind != "extractor" {
		t.Errorf("ContractBreaker = %q, %v; want the extractor (the runtime names its binary)", kind, ok)
	}
	if kind, ok := ContractBreaker(sdk.ErrPermanent); ok {
		t.Errorf("ContractBreaker of a permanent error that is no contract error = %q", kind)
	}
	if sink.commits != 0 {
		t.Errorf("%d commits of a batch whose extraction broke the contract", sink.commits)
	}
}
