package engine

import (
	"context"
	"errors"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/kappa-stream/kappa/sdk"
)

// recorder is an Observer that keeps what it is told.
type recorder struct {
	mu       sync.Mutex
	states   []State
	causes   []Cause
	marks    []map[int32]int64
	batches  []BatchReport
	idle     int
	position map[int32]int64
}

func (r *recorder) StateChanged(s State) { r.mu.Lock(); r.states = append(r.states, s); r.mu.Unlock() }
func (r *recorder) Failed(c Cause, _ error) {
	r.mu.Lock()
	r.causes = append(r.causes, c)
	r.mu.Unlock()
}
func (r *recorder) HighWatermarks(m map[int32]int64) {
	r.mu.Lock()
	r.marks = append(r.marks, m)
	r.mu.Unlock()
}
func (r *recorder) Committed(b BatchReport) {
	r.mu.Lock()
	r.batches = append(r.batches, b)
	r.mu.Unlock()
}
func (r *recorder) Idle() { r.mu.Lock(); r.idle++; r.mu.Unlock() }
func (r *recorder) Positions(p map[int32]int64) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.position == nil {
		r.position = map[int32]int64{}
	}
	for k, v := range p {
		r.position[k] = v
	}
}

// A drain reports every committed batch once, the positions it reached,
// the log ends, and the states starting then draining.
func TestObserverSeesADrain(t *testing.T) {
	src, _ := fixture()
	sink := newMemSink()
	obs := &recorder{}
	e := New(Config{Drain: true, Logger: quietLogger(), Limits: sdk.Limits{MaxRecords: 3, MaxWait: time.Millisecond},
		Observer: obs}, "mem", src, timeExtractor{}, sink)
	if err := runWithin(t, e, context.Background(), 30*time.Second); err != nil {
		t.Fatal(err)
	}
	var records, skipped, rejected int64
	for _, b := range obs.batches {
		records += b.Records
		skipped += b.Skipped
		rejected += b.Rejected
	}
	tot := e.Totals()
	if int64(len(obs.batches)) != tot.Batches || records != tot.Records || skipped != tot.Skipped || rejected != tot.Rejected {
		t.Errorf("observer saw %d batches, %d records (%d skipped, %d rejected); totals %+v", len(obs.batches), records, skipped, rejected, tot)
	}
	for p, end := range src.ends {
		if obs.position[p] != end && len(src.logs[p]) > 0 {
			t.Errorf("partition %d: observer's committed position %d, log end %d", p, obs.position[p], end)
		}
	}
	if len(obs.marks) == 0 {
		t.Error("no log ends reported")
	}
	if !slices.Equal(obs.states, []State{StateStarting, StateDraining}) {
		t.Errorf("states %v", obs.states)
	}
}

// marksSource is a memSource whose log ends grow by one at each
// Watermarks call; calls counts every Source call and fails the test (via
// the race detector and busy) if two overlap.
type marksSource struct {
	*memSource
	mu    sync.Mutex
	busy  bool
	calls int
	grown int64
	t     *testing.T
	// still keeps the log ends as they are.
	still bool
}

func (s *marksSource) enter() func() {
	s.mu.Lock()
	if s.busy {
		s.t.Error("two Source calls at once")
	}
	s.busy = true
	s.mu.Unlock()
	return func() { s.mu.Lock(); s.busy = false; s.mu.Unlock() }
}

func (s *marksSource) Poll(ctx context.Context, l sdk.Limits) (sdk.Batch, error) {
	defer s.enter()()
	return s.memSource.Poll(ctx, l)
}

func (s *marksSource) Seek(ctx context.Context, p []sdk.Position) error {
	defer s.enter()()
	return s.memSource.Seek(ctx, p)
}

func (s *marksSource) Watermarks(ctx context.Context) ([]sdk.Watermark, error) {
	defer s.enter()()
	if !s.still {
		s.grown++
	}
	ws, err := s.memSource.Watermarks(ctx)
	for i := range ws {
		ws[i].End += s.grown
	}
	return ws, err
}

// downSink is a sink whose database is unreachable: even the positions
// cannot be read.
type downSink struct{ *memSink }

func (downSink) Positions(context.Context, string) ([]sdk.Position, error) {
	return nil, errors.New("dial tcp 127.0.0.1:3306: connect: connection refused")
}

// While the positions cannot be read (no batch, no resume gets as far as
// the source), the engine backs off, says so, classifies the failures as
// the sink's, and still reads the log ends every WatermarkRefresh, from
// its own goroutine, so the lag a stuck pipeline shows grows.
func TestObserverLogEndsRefreshWhileStuck(t *testing.T) {
	mem, _ := fixture()
	src := &marksSource{memSource: mem, t: t}
	obs := &recorder{}
	e := New(Config{Logger: quietLogger(), RetryFor: 1500 * time.Millisecond, Observer: obs,
		WatermarkRefresh: 50 * time.Millisecond}, "mem", src, timeExtractor{}, downSink{newMemSink()})
	err := runWithin(t, e, context.Background(), 30*time.Second)
	if !errors.Is(err, ErrGaveUp) {
		t.Fatalf("Run = %v, want ErrGaveUp", err)
	}
	obs.mu.Lock()
	defer obs.mu.Unlock()
	if !slices.Contains(obs.states, StateBackoff) {
		t.Errorf("states %v lack backoff", obs.states)
	}
	if len(obs.causes) == 0 {
		t.Error("no failure reported")
	}
	for _, c := range obs.causes {
		if c != CauseSink {
			t.Errorf("cause %q, want sink", c)
		}
	}
	if len(obs.marks) < 2 || obs.marks[len(obs.marks)-1][0] <= obs.marks[0][0] {
		t.Fatalf("log ends reported while stuck: %v; want them read again and again", obs.marks)
	}
}

func TestCauseOf(t *testing.T) {
	for err, want := range map[error]Cause{
		at(CauseSource, errors.New("poll")):                           CauseSource,
		at(CauseSink, context.DeadlineExceeded):                       CauseTimeout,
		at(CauseExtract, errors.Join(errors.New("x"), sdk.ErrFenced)): CauseFenced,
		errors.New("anything"):                                        CauseSink,
	} {
		if got := CauseOf(err); got != want {
			t.Errorf("CauseOf(%v) = %s, want %s", err, got, want)
		}
	}
}

// tellingSource is a marksSource that observes commits.
type tellingSource struct {
	*marksSource
	told     map[int32]int64
	calls    int
	refusing bool
}

func (s *tellingSource) Committed(_ context.Context, positions []sdk.Position) error {
	defer s.enter()()
	s.calls++
	if s.refusing {
		return sdk.ErrNotObserving
	}
	for _, p := range positions {
		s.told[p.Partition] = p.NextOffset
	}
	return nil
}

// A source that observes commits learns every committed position by the
// end of a drain, polled ahead or not, and never while another of its
// calls runs (marksSource.enter); one that refuses is asked once.
func TestSourceLearnsWhatWasCommitted(t *testing.T) {
	for _, pollAhead := range []int{DefaultPollAhead, -1} {
		mem, _ := fixture()
		src := &tellingSource{marksSource: &marksSource{memSource: mem, t: t, still: true}, told: map[int32]int64{}}
		sink := newMemSink()
		e := New(Config{Drain: true, Logger: quietLogger(), Limits: sdk.Limits{MaxRecords: 3, MaxWait: time.Millisecond},
			PollAhead: pollAhead}, "mem", src, timeExtractor{}, sink)
		if err := runWithin(t, e, context.Background(), 30*time.Second); err != nil {
			t.Fatal(err)
		}
		for p, next := range sink.positions {
			if src.told[p] != next {
				t.Errorf("poll ahead %d: partition %d committed at %d, source told %d", pollAhead, p, next, src.told[p])
			}
		}
		if len(src.told) == 0 {
			t.Errorf("poll ahead %d: source told nothing", pollAhead)
		}
	}
	mem, _ := fixture()
	src := &tellingSource{marksSource: &marksSource{memSource: mem, t: t, still: true}, told: map[int32]int64{}, refusing: true}
	e := New(Config{Drain: true, Logger: quietLogger(), Limits: sdk.Limits{MaxRecords: 1, MaxWait: time.Millisecond}},
		"mem", src, timeExtractor{}, newMemSink())
	if err := runWithin(t, e, context.Background(), 30*time.Second); err != nil {
		t.Fatal(err)
	}
	if src.calls != 1 || e.Totals().Batches < 2 {
		t.Errorf("a source that refuses was asked %d times over %d batches; want once", src.calls, e.Totals().Batches)
	}
}

// flakyTellingSource fails the first call that carries partition 0's
// last position.
type flakyTellingSource struct {
	*tellingSource
	failed bool
}

func (s *flakyTellingSource) Committed(ctx context.Context, positions []sdk.Position) error {
	for _, p := range positions {
		if p.Partition == 0 && p.NextOffset == s.ends[0] && !s.failed {
			s.failed = true
			return errors.New("coordinator not available")
		}
	}
	return s.tellingSource.Committed(ctx, positions)
}

// Positions whose delivery failed are delivered with the next one, even
// when their partition does not advance again.
func TestFailedTellIsRetried(t *testing.T) {
	mem, _ := fixture()
	src := &flakyTellingSource{tellingSource: &tellingSource{marksSource: &marksSource{memSource: mem, t: t, still: true}, told: map[int32]int64{}}}
	sink := newMemSink()
	e := New(Config{Drain: true, Logger: quietLogger(), Limits: sdk.Limits{MaxRecords: 2, MaxWait: time.Millisecond}, PollAhead: -1},
		"mem", src, timeExtractor{}, sink)
	if err := runWithin(t, e, context.Background(), 30*time.Second); err != nil {
		t.Fatal(err)
	}
	if !src.failed {
		t.Fatal("no delivery failed: the test tests nothing")
	}
	for p, next := range sink.positions {
		if src.told[p] != next {
			t.Errorf("partition %d committed at %d, source told %d", p, next, src.told[p])
		}
	}
}

// pendingRecorder is a recorder that also learns polled batches' first
// records and the sink's commit times.
type pendingRecorder struct {
	recorder
	first       []map[int32]RecordAt
	committedAt map[int32]time.Time
}

func (r *pendingRecorder) Polled(first map[int32]RecordAt) {
	r.mu.Lock()
	r.first = append(r.first, first)
	r.mu.Unlock()
}

func (r *pendingRecorder) CommittedAt(times map[int32]time.Time) {
	r.mu.Lock()
	r.committedAt = times
	r.mu.Unlock()
}

// Each polled batch reports its partitions' first records, in order, and
// a resume reports when the sink committed the positions it read.
func TestObserverLearnsFirstRecordsAndCommitTimes(t *testing.T) {
	src, _ := fixture()
	base := time.Date(2026, 11, 30, 12, 0, 0, 0, time.UTC)
	for p, recs := range src.logs {
		for i := range recs {
			recs[i].Time = base.Add(time.Duration(p)*time.Hour + time.Duration(recs[i].Offset)*time.Second)
		}
	}
	sink := newMemSink()
	sink.positions[0] = 1
	sink.committedAt = base.Add(-time.Minute)
	obs := &pendingRecorder{}
	e := New(Config{Drain: true, Logger: quietLogger(), Limits: sdk.Limits{MaxRecords: 2, MaxWait: time.Millisecond},
		Observer: obs}, "mem", src, timeExtractor{}, sink)
	if err := runWithin(t, e, context.Background(), 30*time.Second); err != nil {
		t.Fatal(err)
	}
	if got := obs.committedAt[0]; !got.Equal(base.Add(-time.Minute)) {
		t.Errorf("commit time of partition 0 at resume: %v, want %v", got, base.Add(-time.Minute))
	}
	seen := map[int32][]int64{}
	for _, first := range obs.first {
		for p, r := range first {
			if want := base.Add(time.Duration(p)*time.Hour + time.Duration(r.Offset)*time.Second); !r.Time.Equal(want) {
				t.Errorf("partition %d offset %d: time %v, want %v", p, r.Offset, r.Time, want)
			}
			seen[p] = append(seen[p], r.Offset)
		}
	}
	if len(seen[0]) == 0 || seen[0][0] != 1 {
		t.Errorf("partition 0's first polled records %v, want the first at the committed position 1", seen[0])
	}
	for p, offs := range seen {
		if !slices.IsSorted(offs) {
			t.Errorf("partition %d: first records %v out of order", p, offs)
		}
	}
}
