package conformance_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"maps"
	"slices"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/kappa-stream/kappa/sdk"
	"github.com/kappa-stream/kappa/sdk/conformance"
)

// The kit is tested against small in-memory implementations: a correct
// one of each kind must pass, and each deliberately broken one must fail
// with the clause it breaks.

// memLog is a stream of partitions held in memory; offset i of a
// partition is its record i, except that gaps leave some offsets unused,
// as transaction markers do in Kafka.
type memLog map[int32][]sdk.Record

func newLog(partitions, perPartition int) memLog {
	log := memLog{}
	for p := range int32(partitions) {
		var off int64
		for i := range perPartition {
			log[p] = append(log[p], sdk.Record{Partition: p, Offset: off, Value: fmt.Appendf(nil, "p%d-%d", p, i)})
			off++
			if i%4 == 3 {
				off++ // a marker
			}
		}
	}
	return log
}

func (l memLog) end(p int32) int64 { return l[p][len(l[p])-1].Offset + 2 } // ends in a marker

// memSource reads a memLog. skipAt > 0 makes it skip the record at that
// offset of partition 0, and start the next range past it.
type memSource struct {
	log    memLog
	next   map[int32]int64
	skipAt int64
}

func (s *memSource) Open(context.Context, sdk.Setup) (sdk.SourceInfo, error) {
	return sdk.SourceInfo{Stream: "mem"}, nil
}

func (s *memSource) Seek(_ context.Context, ps []sdk.Position) error {
	s.next = map[int32]int64{}
	for p := range s.log {
		s.next[p] = 0
	}
	for _, p := range ps {
		s.next[p.Partition] = p.NextOffset
	}
	return nil
}

func (s *memSource) Poll(_ context.Context, l sdk.Limits) (sdk.Batch, error) {
	var b sdk.Batch
	for _, p := range slices.Sorted(maps.Keys(s.log)) {
		start := s.next[p]
		end := s.log.end(p)
		if start >= end {
			continue
		}
		pb := sdk.PartitionBatch{OffsetRange: sdk.OffsetRange{Partition: p, Start: start, End: end}}
		for _, r := range s.log[p] {
			if r.Offset < start {
				continue
			}
			if len(pb.Records) == l.MaxRecords {
				pb.End = r.Offset
				break
			}
			pb.Records = append(pb.Records, r)
		}
		if p == 0 && s.skipAt > 0 && start <= s.skipAt && s.skipAt < pb.End {
			pb.End = s.skipAt
			pb.Records = slices.DeleteFunc(pb.Records, func(r sdk.Record) bool { return r.Offset >= s.skipAt })
			s.next[p] = s.skipAt + 1
			s.skipAt = 0
		} else {
			s.next[p] = pb.End
		}
		b.Partitions = append(b.Partitions, pb)
	}
	return b, nil
}

func (s *memSource) Watermarks(context.Context) ([]sdk.Watermark, error) {
	var ws []sdk.Watermark
	for p := range s.log {
		ws = append(ws, sdk.Watermark{Partition: p, Start: 0, End: s.log.end(p)})
	}
	return ws, nil
}

func (s *memSource) Close(context.Context) error { return nil }

func TestSourceKitPassesACorrectSource(t *testing.T) {
	log := newLog(3, 20)
	conformance.TestSource(t, conformance.SourceFixture{
		New:     func() sdk.Source { return &memSource{log: log} },
		Records: 60,
	})
}

func TestSourceKitFailsASourceThatSkipsAnOffset(t *testing.T) {
	log := newLog(3, 20)
	err := conformance.CheckSource(context.Background(), conformance.SourceFixture{
		New:     func() sdk.Source { return &memSource{log: log, skipAt: 9} },
		Records: 60,
	})
	if !errors.Is(err, conformance.ErrNotContiguous) {
		t.Fatalf("CheckSource = %v, want a finding of %v", err, conformance.ErrNotContiguous)
	}
	t.Logf("found: %v", err)
}

// memStore is a sink's durable state, shared by the sinks "opened" on it.
type memStore struct {
	mu        sync.Mutex
	positions map[string]map[int32]int64
	rows      []sdk.Row
}

// memSink stores in a memStore. halfCommit makes it apply a commit's
// ranges one by one and stop at the first stale one, keeping the others.
type memSink struct {
	store      *memStore
	halfCommit bool
	noFence    bool
}

func (s *memSink) Open(context.Context, sdk.Setup) error { return nil }

func (s *memSink) Positions(_ context.Context, stream string) ([]sdk.Position, error) {
	s.store.mu.Lock()
	defer s.store.mu.Unlock()
	var ps []sdk.Position
	for p, n := range s.store.positions[stream] {
		ps = append(ps, sdk.Position{Partition: p, NextOffset: n})
	}
	return ps, nil
}

func (s *memSink) Commit(_ context.Context, c sdk.Commit) error {
	s.store.mu.Lock()
	defer s.store.mu.Unlock()
	cur := s.store.positions[c.Stream]
	if cur == nil {
		cur = map[int32]int64{}
		s.store.positions[c.Stream] = cur
	}
	next := maps.Clone(cur)
	for _, r := range c.Ranges {
		if at, ok := next[r.Partition]; ok && at != r.Start && !s.noFence {
			if s.halfCommit {
				maps.Copy(cur, next)
			}
			return fmt.Errorf("partition %d at %d, not %d: %w", r.Partition, at, r.Start, sdk.ErrFenced)
		}
		next[r.Partition] = r.End
	}
	maps.Copy(cur, next)
	s.store.rows = append(s.store.rows, c.Rows...)
	return nil
}

func (s *memSink) Close(context.Context) error { return nil }

func newStore() *memStore { return &memStore{positions: map[string]map[int32]int64{}} }

func TestSinkKitPassesACorrectSink(t *testing.T) {
	store := newStore()
	conformance.TestSink(t, conformance.SinkFixture{
		New:   func() sdk.Sink { return &memSink{store: store} },
		Setup: sdk.Setup{Dimensions: []string{"lang"}},
	})
}

func TestSinkKitFailsASinkThatCommitsHalfABatch(t *testing.T) {
	store := newStore()
	err := conformance.CheckSink(context.Background(), conformance.SinkFixture{
		New: func() sdk.Sink { return &memSink{store: store, halfCommit: true} },
	})
	if !errors.Is(err, conformance.ErrNotAtomic) {
		t.Fatalf("CheckSink = %v, want a finding of %v", err, conformance.ErrNotAtomic)
	}
	if errors.Is(err, conformance.ErrPositionsLost) || errors.Is(err, conformance.ErrNotFenced) {
		t.Errorf("CheckSink also blames clauses the sink keeps: %v", err)
	}
	t.Logf("found: %v", err)
}

func TestSinkKitFailsASinkWithoutAFence(t *testing.T) {
	store := newStore()
	err := conformance.CheckSink(context.Background(), conformance.SinkFixture{
		New: func() sdk.Sink { return &memSink{store: store, noFence: true} },
	})
	if !errors.Is(err, conformance.ErrNotFenced) {
		t.Fatalf("CheckSink = %v, want a finding of %v", err, conformance.ErrNotFenced)
	}
}

// wordExtractor makes one fact per word of "unix-seconds word word …",
// skips empty records and rejects the rest. dropEvery > 0 makes it forget
// every dropEvery-th record; counter makes it depend on earlier calls.
type wordExtractor struct {
	dims      int
	dropEvery int
	calls     int
	counter   bool
}

func (x *wordExtractor) Open(_ context.Context, s sdk.Setup) error {
	x.dims = len(s.Dimensions)
	return nil
}

func (x *wordExtractor) Extract(_ context.Context, records []sdk.Record, out *sdk.Extraction) error {
	x.calls++
	for i, r := range records {
		if x.dropEvery > 0 && i%x.dropEvery == x.dropEvery-1 {
			continue
		}
		fields := bytes.Fields(r.Value)
		if len(fields) == 0 {
			out.Skip(i, "empty")
			continue
		}
		secs, err := strconv.ParseInt(string(fields[0]), 10, 64)
		if err != nil || len(fields) < 2 {
			out.Reject(i, "no time or no words")
			continue
		}
		for _, w := range fields[1:] {
			f := sdk.Fact{Record: i, Time: time.Unix(secs, 0)}
			if x.dims > 0 {
				f.Dims = []string{string(w)}
			}
			if x.counter {
				f.Value = float64(x.calls)
			}
			out.Fact(f)
		}
	}
	return nil
}

func (x *wordExtractor) Close(context.Context) error { return nil }

func wordRecords() []sdk.Record {
	var rs []sdk.Record
	for i, v := range []string{"1464809760 a b", "", "junk", "1464809820 c", "1464809880 d e f", "1464809940 g", "x y", "1464810000 h"} {
		rs = append(rs, sdk.Record{Offset: int64(i), Value: []byte(v)})
	}
	return rs
}

func TestExtractorKitPassesACorrectExtractor(t *testing.T) {
	conformance.TestExtractor(t, conformance.ExtractorFixture{
		New:     func() sdk.Extractor { return &wordExtractor{} },
		Setup:   sdk.Setup{Dimensions: []string{"word"}},
		Records: wordRecords(),
	})
}

func TestExtractorKitFailsAnExtractorThatDropsARecord(t *testing.T) {
	err := conformance.CheckExtractor(context.Background(), conformance.ExtractorFixture{
		New:     func() sdk.Extractor { return &wordExtractor{dropEvery: 5} },
		Records: wordRecords(),
	})
	if !errors.Is(err, conformance.ErrOutcome) {
		t.Fatalf("CheckExtractor = %v, want a finding of %v", err, conformance.ErrOutcome)
	}
	t.Logf("found: %v", err)
}

func TestExtractorKitFailsANondeterministicExtractor(t *testing.T) {
	err := conformance.CheckExtractor(context.Background(), conformance.ExtractorFixture{
		New:     func() sdk.Extractor { return &wordExtractor{counter: true} },
		Records: wordRecords(),
	})
	if !errors.Is(err, conformance.ErrNondeterministic) || errors.Is(err, conformance.ErrOutcome) {
		t.Fatalf("CheckExtractor = %v, want only findings of %v", err, conformance.ErrNondeterministic)
	}
}

func TestExtractorKitFailsFactsWithoutTheirDimensions(t *testing.T) {
	err := conformance.CheckExtractor(context.Background(), conformance.ExtractorFixture{
		New:     func() sdk.Extractor { return &wordExtractor{} },
		Setup:   sdk.Setup{Dimensions: []string{"word", "lang"}},
		Records: wordRecords(),
	})
	if !errors.Is(err, conformance.ErrFactShape) {
		t.Fatalf("CheckExtractor = %v, want a finding of %v", err, conformance.ErrFactShape)
	}
}

// stalledSource reports records in its watermarks but never returns them.
type stalledSource struct{ memSource }

func (*stalledSource) Poll(context.Context, sdk.Limits) (sdk.Batch, error) {
	return sdk.Batch{}, nil
}

func TestSourceKitFailsASourceThatNeverCatchesUp(t *testing.T) {
	log := newLog(1, 5)
	start := time.Now()
	err := conformance.CheckSource(context.Background(), conformance.SourceFixture{
		New:     func() sdk.Source { return &stalledSource{memSource{log: log}} },
		Records: 5,
		Timeout: 300 * time.Millisecond,
	})
	if !errors.Is(err, conformance.ErrIncomplete) {
		t.Fatalf("CheckSource = %v, want a finding of %v", err, conformance.ErrIncomplete)
	}
	if elapsed := time.Since(start); elapsed > 5*time.Second {
		t.Errorf("took %v with a 300ms timeout per clause", elapsed)
	}
}

// forgetfulSink says it keeps dead letters and keeps none.
type forgetfulSink struct{ memSink }

func (*forgetfulSink) DeadLetterPolicy(context.Context) (sdk.DeadLetterPolicy, error) {
	return sdk.DeadLetterPolicy{Enabled: true, MaxBytes: 64}, nil
}

func (*forgetfulSink) DeadLetters(context.Context, sdk.DeadLetterQuery) ([]sdk.StoredDeadLetter, error) {
	return nil, nil
}

func TestSinkKitFailsASinkThatLosesDeadLetters(t *testing.T) {
	store := newStore()
	err := conformance.CheckSink(context.Background(), conformance.SinkFixture{
		New: func() sdk.Sink { return &forgetfulSink{memSink{store: store}} },
	})
	if !errors.Is(err, conformance.ErrDeadLettersLost) {
		t.Fatalf("CheckSink = %v, want a finding of %v", err, conformance.ErrDeadLettersLost)
	}
}

// boastfulSink publishes limits and stores whatever it is given.
type boastfulSink struct{ memSink }

func (*boastfulSink) Describe() sdk.Info {
	return sdk.Info{FactLimits: sdk.FactLimits{MaxDimensionChars: 8, DimensionsUTF8: true, FiniteValues: true}}
}

func TestSinkKitFailsASinkThatStoresRowsBeyondItsLimits(t *testing.T) {
	store := newStore()
	err := conformance.CheckSink(context.Background(), conformance.SinkFixture{
		New:   func() sdk.Sink { return &boastfulSink{memSink{store: store}} },
		Setup: sdk.Setup{Dimensions: []string{"lang"}},
	})
	if !errors.Is(err, conformance.ErrLimitNotPermanent) {
		t.Fatalf("CheckSink = %v, want a finding of %v", err, conformance.ErrLimitNotPermanent)
	}
	if errors.Is(err, conformance.ErrNotAtomic) || errors.Is(err, conformance.ErrNotFenced) {
		t.Errorf("CheckSink also blames clauses the sink keeps: %v", err)
	}
}
