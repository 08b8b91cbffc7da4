package engine

import (
	"context"
	"fmt"
	"maps"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/kappa-stream/kappa/sdk"
)

// groupSource is a consumer-group member in memory: each Poll returns up to
// two records of every partition it owns; at poll revokeAt it reports that
// partition 1 is revoked. The Seek after that is the runtime's word that it
// holds nothing of partition 1 uncommitted: a rival member then takes the
// partition and commits it at once in the sink.
type groupSource struct {
	*memSource
	sink *groupSink

	mu       sync.Mutex
	owned    map[int32]bool
	polls    int
	revokeAt int
	revoked  bool
	seeks    int
	// violations lists what broke the revocation contract.
	violations []string
}

func (s *groupSource) Poll(_ context.Context, _ sdk.Limits) (sdk.Batch, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.polls++
	if s.polls == s.revokeAt {
		delete(s.owned, 1)
		s.revoked = true
		return sdk.Batch{}, fmt.Errorf("poll: %w", &sdk.RebalanceError{Revoked: []int32{1}, Owned: slices.Sorted(maps.Keys(s.owned))})
	}
	var b sdk.Batch
	for _, p := range slices.Sorted(maps.Keys(s.owned)) {
		start := s.next[p]
		if start >= s.ends[p] {
			continue
		}
		pb := sdk.PartitionBatch{OffsetRange: sdk.OffsetRange{Partition: p, Start: start, End: start}, HighWatermark: s.ends[p]}
		for _, r := range s.logs[p] {
			if r.Offset >= start && len(pb.Records) < 2 {
				pb.Records = append(pb.Records, r)
				pb.End = r.Offset + 1
			}
		}
		s.next[p] = pb.End
		b.Partitions = append(b.Partitions, pb)
	}
	return b, nil
}

func (s *groupSource) Seek(ctx context.Context, positions []sdk.Position) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.seeks++
	s.sink.mu.Lock()
	if s.sink.inflight > 0 {
		s.violations = append(s.violations, "Seek while a commit was in flight")
	}
	if s.revoked && !s.sink.moved {
		// The rival member takes partition 1 and commits all of it.
		s.sink.moved = true
		s.sink.positions[1] = s.ends[1]
	}
	s.sink.mu.Unlock()
	return s.memSource.Seek(ctx, positions)
}

// groupSink counts commits in flight and flags any that carries partition 1
// after it moved to the rival.
type groupSink struct {
	*memSink
	src      *groupSource
	inflight int
	moved    bool
	late     int
}

func (s *groupSink) Commit(ctx context.Context, c sdk.Commit) error {
	s.mu.Lock()
	s.inflight++
	for _, r := range c.Ranges {
		if r.Partition == 1 && s.moved {
			s.late++
		}
	}
	s.mu.Unlock()
	time.Sleep(2 * time.Millisecond) // a commit takes a while: the next batch is polled meanwhile
	err := s.memSink.Commit(ctx, c)
	s.mu.Lock()
	s.inflight--
	s.mu.Unlock()
	return err
}

type ownedRecorder struct {
	recorder
	owned [][]int32
}

func (r *ownedRecorder) Owned(p []int32) { r.mu.Lock(); r.owned = append(r.owned, p); r.mu.Unlock() }

func groupFixture() (*groupSource, *groupSink) {
	mem := newMemSource()
	for p := range int32(3) {
		for i := range 10 {
			mem.add(p, int64(i), fmt.Sprintf("2016-06-01T19:%02d:00Z", 30+i))
		}
	}
	src := &groupSource{memSource: mem, owned: map[int32]bool{0: true, 1: true, 2: true}}
	sink := &groupSink{memSink: newMemSink(), src: src}
	src.sink = sink
	return src, sink
}

// A revocation is no failure; once the engine lets the partition go (its
// next Seek), nothing in flight or polled ahead carries it into a commit.
func TestNoCommitAfterRevocationCarriesTheRevokedPartition(t *testing.T) {
	src, sink := groupFixture()
	src.revokeAt = 3 // two batches holding partition 1 are polled first
	obs := &ownedRecorder{}
	e := New(Config{Drain: true, Group: true, Logger: quietLogger(), Limits: sdk.Limits{MaxRecords: 100, MaxWait: time.Millisecond},
		RetryFor: 10 * time.Second, Observer: obs}, "mem", src, timeExtractor{}, sink)
	if err := e.Run(context.Background()); err != nil {
		t.Fatalf("run: %v", err)
	}
	if !src.revoked || !sink.moved {
		t.Fatalf("revocation never reached the engine (revoked %v, moved %v)", src.revoked, sink.moved)
	}
	if sink.late > 0 || len(src.violations) > 0 {
		t.Errorf("%d commits carried partition 1 after it was let go; violations: %v", sink.late, src.violations)
	}
	if len(obs.causes) > 0 {
		t.Errorf("the rebalance was reported as failures %v", obs.causes)
	}
	if len(obs.owned) != 1 || !slices.Equal(obs.owned[0], []int32{0, 2}) {
		t.Errorf("owned partitions reported %v, want [[0 2]]", obs.owned)
	}
	// Partitions 0 and 2 were counted whole by this engine, exactly once.
	var counted int64
	for _, r := range sink.rows {
		if r.Partition != 1 {
			counted += r.Count
		}
	}
	if counted != 20 {
		t.Errorf("counted %d records of partitions 0 and 2, want 20", counted)
	}
}

// In a group, a fenced batch means a partition moved: the engine re-reads
// positions and works on, neither standing by nor exiting by on_fenced.
func TestFencedBatchInGroupRereadsPositions(t *testing.T) {
	for _, policy := range []FencedPolicy{FencedRetry, FencedExit} {
		t.Run(fmt.Sprint(policy), func(t *testing.T) {
			src, want := fixture()
			sink := &standbySink{memSink: newMemSink(), fenced: 2}
			obs := &recorder{}
			seeks := &countingSource{memSource: src}
			e := newTestEngine(src, timeExtractor{}, nil, func(c *Config) {
				c.Group, c.OnFenced, c.Observer = true, policy, obs
			})
			e.source, e.sink = seeks, sink
			if err := e.Run(context.Background()); err != nil {
				t.Fatalf("run: %v", err)
			}
			if got := sink.perWindow(); !maps.Equal(got, want) {
				t.Errorf("per window = %v, want %v", got, want)
			}
			if seeks.seeks < 3 {
				t.Errorf("sought %d times, want the start and one re-read per fenced batch", seeks.seeks)
			}
			if slices.Contains(obs.states, StateStandby) {
				t.Errorf("states %v: a group member stood by", obs.states)
			}
		})
	}
}

type countingSource struct {
	*memSource
	seeks int
}

func (s *countingSource) Seek(ctx context.Context, ps []sdk.Position) error {
	s.seeks++
	return s.memSource.Seek(ctx, ps)
}

// othersSink is a sink where other members commit partitions 1 and 2 to
// their ends once this engine made its first commit.
type othersSink struct {
	*memSink
	ends map[int32]int64
}

func (s *othersSink) Commit(ctx context.Context, c sdk.Commit) error {
	err := s.memSink.Commit(ctx, c)
	s.mu.Lock()
	s.positions[1], s.positions[2] = s.ends[1], s.ends[2]
	s.mu.Unlock()
	return err
}

// A group member's drain ends when every partition's committed position
// reached the target read at start, including those other members own.
func TestGroupDrainEndsWhenOthersCommittedTheirPartitions(t *testing.T) {
	src, _ := groupFixture()
	src.owned = map[int32]bool{0: true}
	sink := &othersSink{memSink: newMemSink(), ends: src.ends}
	src.sink = &groupSink{memSink: sink.memSink}
	e := New(Config{Drain: true, Group: true, Logger: quietLogger(), Limits: sdk.Limits{MaxRecords: 100, MaxWait: time.Millisecond},
		RetryFor: 10 * time.Second}, "mem", src, timeExtractor{}, sink)
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	if err := e.Run(ctx); err != nil {
		t.Fatalf("run: %v (the drain never saw the other members' positions)", err)
	}
	if got := sink.positions[0]; got != 10 {
		t.Errorf("partition 0 at %d, want 10", got)
	}
}
