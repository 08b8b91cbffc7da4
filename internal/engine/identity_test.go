package engine

import (
	"context"
	"errors"
	"maps"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/kappa-stream/kappa/sdk"
)

// latestSource is a memSource whose partitions without a position start
// at their log end (start: latest), and which reports that start as an
// anchor in its first poll after Seek, as sdk.Source.Poll asks.
type latestSource struct {
	*memSource
	anchors map[int32]int64
}

func (s *latestSource) Seek(ctx context.Context, positions []sdk.Position) error {
	if err := s.memSource.Seek(ctx, positions); err != nil {
		return err
	}
	s.anchors = map[int32]int64{}
	for p, end := range s.ends {
		if !slices.ContainsFunc(positions, func(pos sdk.Position) bool { return pos.Partition == p }) {
			s.next[p], s.anchors[p] = end, end
		}
	}
	return nil
}

func (s *latestSource) Poll(ctx context.Context, l sdk.Limits) (sdk.Batch, error) {
	b, err := s.memSource.Poll(ctx, l)
	if err != nil {
		return b, err
	}
	for _, p := range slices.Sorted(maps.Keys(s.anchors)) {
		if !slices.ContainsFunc(b.Partitions, func(pb sdk.PartitionBatch) bool { return pb.Partition == p }) {
			at := s.anchors[p]
			b.Partitions = append(b.Partitions, sdk.PartitionBatch{OffsetRange: sdk.OffsetRange{Partition: p, Start: at, End: at}})
		}
	}
	s.anchors = nil
	return b, nil
}

// idSink is a memSink that keeps the stream ID of every position, as
// sdk.Sink asks.
type idSink struct {
	*memSink
	mu  sync.Mutex
	ids map[int32]string
}

func newIDSink() *idSink { return &idSink{memSink: newMemSink(), ids: map[int32]string{}} }

func (s *idSink) Positions(ctx context.Context, stream string) ([]sdk.Position, error) {
	ps, err := s.memSink.Positions(ctx, stream)
	s.mu.Lock()
	defer s.mu.Unlock()
	for i := range ps {
		ps[i].StreamID = s.ids[ps[i].Partition]
	}
	return ps, err
}

func (s *idSink) Commit(ctx context.Context, c sdk.Commit) error {
	if err := s.memSink.Commit(ctx, c); err != nil {
		return err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, r := range c.Ranges {
		s.ids[r.Partition] = c.StreamID
	}
	return nil
}

// runDrain runs a drain that must finish by itself: a drain still running
// after a minute is reported as hanging.
func runDrain(t *testing.T, e *Engine) error {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	err := e.Run(ctx)
	if ctx.Err() != nil {
		t.Fatalf("drain still running after a minute: it hangs")
	}
	return err
}

// start: latest with idle partitions: the first run anchors every
// partition at its end, so a drain finishes on an idle topic, and records
// written while the runtime is down are read by the next run.
func TestAnchorsKeepTheResolvedStartOfIdlePartitions(t *testing.T) {
	mem := newMemSource()
	for o := range int64(3) {
		mem.add(0, o, "2016-06-01T19:36:05Z")
	}
	for o := range int64(5) {
		mem.add(1, o, "2016-06-01T19:36:05Z")
	}
	src := &latestSource{memSource: mem}
	sink := newMemSink()
	if err := runDrain(t, newTestEngine(src.memSource, timeExtractor{}, sink, nil).withSource(src)); err != nil {
		t.Fatal(err)
	}
	if want := map[int32]int64{0: 3, 1: 5}; !maps.Equal(sink.positions, want) {
		t.Fatalf("positions after a drain of an idle topic from its end: %v, want the anchors %v", sink.positions, want)
	}
	for _, r := range sink.ranges {
		if r.Start != r.End || r.Records != 0 {
			t.Errorf("anchor range %+v holds something", r)
		}
	}

	// The runtime is down; 5 records arrive in partition 1.
	for o := int64(5); o < 10; o++ {
		mem.add(1, o, "2016-06-01T19:37:05Z")
	}
	e := newTestEngine(src.memSource, timeExtractor{}, sink, nil).withSource(src)
	if err := runDrain(t, e); err != nil {
		t.Fatal(err)
	}
	if got := sink.perWindow(); got["2016-06-01 19:37:00"] != 5 || len(got) != 1 {
		t.Errorf("per window after the restart: %v, want the 5 records written while down at 19:37", got)
	}

	// An empty range of a partition that has a position is no anchor.
	mem.add(1, 10, "2016-06-01T19:37:05Z")
	committed := len(sink.ranges)
	e = newTestEngine(src.memSource, timeExtractor{}, sink, nil).withSource(&stubbornAnchor{latestSource: src, at: 2})
	if err := runDrain(t, e); err != nil {
		t.Fatal(err)
	}
	for _, r := range sink.ranges[committed:] {
		if r.Partition == 0 {
			t.Errorf("an empty range of positioned partition 0 was committed: %+v", r)
		}
	}
	if sink.positions[0] != 3 || sink.positions[1] != 11 {
		t.Errorf("positions %v, want partition 0 still at 3 and 1 at 11", sink.positions)
	}
}

// stubbornAnchor reports partition 0 at its own offset in every batch.
type stubbornAnchor struct {
	*latestSource
	at int64
}

func (s *stubbornAnchor) Poll(ctx context.Context, l sdk.Limits) (sdk.Batch, error) {
	b, err := s.latestSource.Poll(ctx, l)
	b.Partitions = append(b.Partitions, sdk.PartitionBatch{OffsetRange: sdk.OffsetRange{Partition: 0, Start: s.at, End: s.at}})
	return b, err
}

// withSource swaps the engine's source (the fixtures build engines over a
// memSource).
func (e *Engine) withSource(src sdk.Source) *Engine {
	e.source = src
	return e
}

// Positions committed under another stream ID (a topic deleted and created
// again) stop the run before anything is read, naming both IDs; positions
// without an ID, or of the same ID, are followed and get the ID.
func TestPositionsOfAnotherStreamInstanceAreRefused(t *testing.T) {
	src, _ := fixture()
	sink := newIDSink()
	sink.positions[0], sink.ids[0] = 2, "" // stored by an older sink
	e := newTestEngine(src, timeExtractor{}, sink.memSink, func(c *Config) { c.StreamID = "old-id" }).withSink(sink)
	if err := runDrain(t, e); err != nil {
		t.Fatalf("positions without an ID: %v", err)
	}
	for p, id := range sink.ids {
		if id != "old-id" {
			t.Errorf("partition %d: committed with stream ID %q, want old-id", p, id)
		}
	}

	// The stream is recreated: the source reports a new ID.
	for _, drain := range []bool{true, false} {
		src.polls = 0
		commits := sink.commits
		e := newTestEngine(src, timeExtractor{}, sink.memSink, func(c *Config) { c.StreamID = "new-id"; c.Drain = drain }).withSink(sink)
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		err := e.Run(ctx)
		cancel()
		if !errors.Is(err, ErrStreamRecreated) || !errors.Is(err, sdk.ErrPermanent) {
			t.Fatalf("drain %v: run returned %v, want a fatal ErrStreamRecreated", drain, err)
		}
		if msg := err.Error(); !strings.Contains(msg, "old-id") || !strings.Contains(msg, "new-id") || !strings.Contains(msg, "delete this pipeline's positions") {
			t.Errorf("the error does not name both IDs and what to do: %v", err)
		}
		if src.polls != 0 || sink.commits != commits {
			t.Errorf("polled %d times and committed %d times before refusing", src.polls, sink.commits-commits)
		}
	}
}

// withSink swaps the engine's sink.
func (e *Engine) withSink(sink sdk.Sink) *Engine {
	e.sink = sink
	return e
}

// A drain whose committed position lies past the log end (a truncated or
// recreated log whose new ID is unknown) stops with an error instead of
// taking the partition for caught up.
func TestDrainRefusesAPositionPastTheLogEnd(t *testing.T) {
	src, _ := fixture()
	sink := newMemSink()
	sink.positions[1] = 40 // partition 1's log ends at 3
	err := runDrain(t, newTestEngine(src, timeExtractor{}, sink, nil))
	if !errors.Is(err, ErrPositionPastLogEnd) || !errors.Is(err, sdk.ErrPermanent) {
		t.Fatalf("drain returned %v, want a fatal ErrPositionPastLogEnd", err)
	}
	if msg := err.Error(); !strings.Contains(msg, "partition 1: committed position 40 is past the log end 3") {
		t.Errorf("the error does not name the partition, position and log end: %v", err)
	}
	if sink.commits != 0 {
		t.Errorf("%d commits before refusing", sink.commits)
	}
}
