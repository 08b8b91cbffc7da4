package engine

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"slices"
	"sync"
	"time"

	"github.com/kappa-stream/kappa/sdk"
)

// memSource serves fixed partitions from memory. Offsets may have gaps
// (like transaction markers) and a partition's log may end past its last
// record.
type memSource struct {
	logs     map[int32][]sdk.Record // records by partition, ascending offsets
	ends     map[int32]int64        // log end per partition
	next     map[int32]int64
	failPoll int // fail this many polls before working
	polls    int
}

func newMemSource() *memSource {
	return &memSource{logs: map[int32][]sdk.Record{}, ends: map[int32]int64{}}
}

func (s *memSource) add(partition int32, offset int64, value string) {
	s.logs[partition] = append(s.logs[partition], sdk.Record{Partition: partition, Offset: offset, Value: []byte(value)})
	s.ends[partition] = max(s.ends[partition], offset+1)
}

func (s *memSource) Open(context.Context, sdk.Setup) (sdk.SourceInfo, error) {
	return sdk.SourceInfo{Stream: "mem"}, nil
}

func (s *memSource) Seek(_ context.Context, positions []sdk.Position) error {
	s.next = map[int32]int64{}
	for p := range s.ends {
		s.next[p] = 0
	}
	for _, p := range positions {
		s.next[p.Partition] = p.NextOffset
	}
	return nil
}

func (s *memSource) Poll(_ context.Context, l sdk.Limits) (sdk.Batch, error) {
	s.polls++
	if s.failPoll > 0 {
		s.failPoll--
		return sdk.Batch{}, errors.New("broker went away")
	}
	var b sdk.Batch
	budget := l.MaxRecords
	for _, p := range slices.Sorted(maps.Keys(s.ends)) {
		start := s.next[p]
		if start >= s.ends[p] || budget == 0 {
			continue
		}
		pb := sdk.PartitionBatch{OffsetRange: sdk.OffsetRange{Partition: p, Start: start, End: s.ends[p]}, HighWatermark: s.ends[p]}
		for _, r := range s.logs[p] {
			if r.Offset < start {
				continue
			}
			if budget == 0 {
				pb.End = r.Offset
				break
			}
			pb.Records = append(pb.Records, r)
			budget--
		}
		s.next[p] = pb.End
		b.Partitions = append(b.Partitions, pb)
	}
	return b, nil
}

func (s *memSource) Watermarks(context.Context) ([]sdk.Watermark, error) {
	var ws []sdk.Watermark
	for p, end := range s.ends {
		ws = append(ws, sdk.Watermark{Partition: p, End: end})
	}
	return ws, nil
}

func (s *memSource) Close(context.Context) error { return nil }

// timeExtractor reads values of the form "2016-06-01T19:36:05Z", "skip"
// or anything else (rejected); "dims:lang:2016-…" carries one dimension.
type timeExtractor struct{ dims bool }

func (timeExtractor) Open(context.Context, sdk.Setup) error { return nil }
func (timeExtractor) Close(context.Context) error           { return nil }

func (x timeExtractor) Extract(_ context.Context, records []sdk.Record, out *sdk.Extraction) error {
	for i, r := range records {
		v := string(r.Value)
		var dims []string
		if x.dims && len(v) > 3 && v[2] == ':' {
			dims, v = []string{v[:2]}, v[3:]
		}
		if v == "skip" {
			out.Skip(i, "notice")
			continue
		}
		t, err := time.Parse(time.RFC3339, v)
		if err != nil {
			out.Reject(i, "bad time")
			continue
		}
		out.Fact(sdk.Fact{Record: i, Time: t, Dims: dims})
	}
	return nil
}

// memSink keeps positions and rows in memory with the fenced commit of
// the contract. failNext makes the next commits fail before (lost=false)
// or after (lost=true, the outcome is lost) they apply.
type memSink struct {
	mu        sync.Mutex
	positions map[int32]int64
	rows      []sdk.Row
	ranges    []sdk.RangeStats
	dead      []sdk.DeadLetter
	failNext  []bool // each entry: fail one commit; true = after applying it
	commits   int
	fenced    int
	// committedAt, when set, is the commit time Positions reports.
	committedAt time.Time
}

func newMemSink() *memSink { return &memSink{positions: map[int32]int64{}} }

func (s *memSink) Open(context.Context, sdk.Setup) error { return nil }
func (s *memSink) Close(context.Context) error           { return nil }

func (s *memSink) Positions(context.Context, string) ([]sdk.Position, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	var ps []sdk.Position
	for p, n := range s.positions {
		ps = append(ps, sdk.Position{Partition: p, NextOffset: n, CommittedAt: s.committedAt})
	}
	return ps, nil
}

func (s *memSink) Commit(_ context.Context, c sdk.Commit) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.commits++
	var failAfter, fail bool
	if len(s.failNext) > 0 {
		fail, failAfter = true, s.failNext[0]
		s.failNext = s.failNext[1:]
		if !failAfter {
			return errors.New("connection lost before commit")
		}
	}
	for _, r := range c.Ranges {
		if next, ok := s.positions[r.Partition]; ok && next != r.Start {
			s.fenced++
			return fmt.Errorf("partition %d at %d, not %d: %w", r.Partition, next, r.Start, sdk.ErrFenced)
		}
	}
	for _, r := range c.Ranges {
		s.positions[r.Partition] = r.End
	}
	s.rows = append(s.rows, c.Rows...)
	s.ranges = append(s.ranges, c.Ranges...)
	s.dead = append(s.dead, c.DeadLetters...)
	if fail {
		return errors.New("connection lost around commit")
	}
	return nil
}

// perWindow sums the committed rows per window, as the original query does.
func (s *memSink) perWindow() map[string]int64 {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := map[string]int64{}
	for _, r := range s.rows {
		k := r.Window.Format(time.DateTime)
		if len(r.Dims) > 0 {
			k += " " + r.Dims[0]
		}
		out[k] += r.Count
	}
	return out
}
