package engine

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/kappa-stream/kappa/sdk"
)

// Tests of Run's loop: when it gives up, how it backs off, that it never
// polls before it has sought the source, and how a drain ends.

// runWithin runs e until it returns, failing the test if that takes
// longer than d (a Run that never returns is the bug some tests look
// for; d is a safety net, not a timing assertion).
func runWithin(t *testing.T, e *Engine, ctx context.Context, d time.Duration) error {
	t.Helper()
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	done := make(chan error, 1)
	go func() { done <- e.Run(ctx) }()
	select {
	case err := <-done:
		return err
	case <-time.After(d):
		cancel()
		<-done
		t.Fatalf("Run did not return within %s", d)
		return nil
	}
}

// brokenSink fails every commit the way a database that refuses the
// transaction does (not fenced, not permanent).
type brokenSink struct {
	*memSink
	attempts int
}

func (s *brokenSink) Commit(context.Context, sdk.Commit) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.attempts++
	return errors.New("insert batch records: Error 1644 (45000): every commit fails")
}

// Commits that all fail make Run give up once they have failed for
// RetryFor, although each step only hands its commit to the background.
func TestRunGivesUpWhenEveryCommitFails(t *testing.T) {
	src, _ := fixture()
	sink := &brokenSink{memSink: newMemSink()}
	e := New(Config{Drain: true, Logger: quietLogger(), Limits: sdk.Limits{MaxRecords: 3, MaxWait: time.Millisecond},
		RetryFor: 300 * time.Millisecond}, "mem", src, timeExtractor{}, sink)
	err := runWithin(t, e, context.Background(), 30*time.Second)
	if !errors.Is(err, ErrGaveUp) {
		t.Fatalf("Run = %v, want an error wrapping ErrGaveUp", err)
	}
	if !strings.Contains(err.Error(), "every commit fails") || !strings.Contains(err.Error(), "give_up_after is 300ms") {
		t.Errorf("Run's error %q names neither the last failure nor the limit", err)
	}
	// The backoff grows across the asynchronous steps: over 300ms, sleeps
	// of at least 50, 100, 200ms leave room for a handful of attempts, not
	// the dozens a backoff reset after every handed-over commit allows.
	if sink.attempts > 8 {
		t.Errorf("%d commits attempted before giving up after 300ms; the backoff does not grow", sink.attempts)
	}
	if len(sink.rows) != 0 {
		t.Errorf("rows committed by a sink that fails every commit: %v", sink.rows)
	}
}

// slowFetchSource answers the first poll after each Seek with an empty
// batch, as a source whose fetch has not returned by the batch's max_wait
// does (a drain waits at most DrainInterval).
type slowFetchSource struct {
	*memSource
	sought bool
}

func (s *slowFetchSource) Seek(ctx context.Context, ps []sdk.Position) error {
	s.sought = true
	return s.memSource.Seek(ctx, ps)
}

func (s *slowFetchSource) Poll(ctx context.Context, l sdk.Limits) (sdk.Batch, error) {
	if s.sought {
		s.sought = false
		return sdk.Batch{}, nil
	}
	return s.memSource.Poll(ctx, l)
}

// An empty poll after the resume that follows a failed commit ends no run
// of failures: the failed batch is still ahead. Taken for an idle source,
// it reset the give-up timer and the backoff at every attempt, and Run
// retried forever.
func TestRunGivesUpWhenEveryCommitFailsBehindASlowFetch(t *testing.T) {
	mem, _ := fixture()
	sink := &brokenSink{memSink: newMemSink()}
	e := New(Config{Drain: true, Logger: quietLogger(), Limits: sdk.Limits{MaxRecords: 3, MaxWait: time.Millisecond},
		RetryFor: 300 * time.Millisecond}, "mem", &slowFetchSource{memSource: mem}, timeExtractor{}, sink)
	err := runWithin(t, e, context.Background(), 30*time.Second)
	if !errors.Is(err, ErrGaveUp) {
		t.Fatalf("Run = %v, want an error wrapping ErrGaveUp", err)
	}
	if sink.attempts > 8 {
		t.Errorf("%d commits attempted before giving up after 300ms; the backoff does not grow", sink.attempts)
	}
}

// idleFailingSource fails a poll at its start and again after again, and
// is idle in between: its records are read before the first failure.
type idleFailingSource struct {
	*memSource
	mu     sync.Mutex
	start  time.Time
	again  time.Duration
	failed int
}

func (s *idleFailingSource) Poll(ctx context.Context, l sdk.Limits) (sdk.Batch, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.failed == 0 && s.polls > 3 || s.failed == 1 && time.Since(s.start) > s.again {
		s.failed++
		return sdk.Batch{}, errors.New("broker went away")
	}
	return s.memSource.Poll(ctx, l)
}

// A failed poll of an idle source ends with the first empty step after the
// resume, nothing being left to read again: a failure long after it starts
// a new run, rather than giving up as if the idle time had been failing.
func TestIdleStepAfterAFailedPollEndsTheRun(t *testing.T) {
	mem, want := fixture()
	src := &idleFailingSource{memSource: mem, start: time.Now(), again: 800 * time.Millisecond}
	sink := newMemSink()
	e := New(Config{Logger: quietLogger(), Limits: sdk.Limits{MaxRecords: 3, MaxWait: time.Millisecond}, RetryFor: 300 * time.Millisecond},
		"mem", src, timeExtractor{}, sink)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	done := make(chan error, 1)
	go func() { done <- runWithin(t, e, ctx, 30*time.Second) }()
	waitUntil := time.Now().Add(20 * time.Second)
	for time.Now().Before(waitUntil) {
		src.mu.Lock()
		failed := src.failed
		src.mu.Unlock()
		if failed == 2 {
			break
		}
		time.Sleep(10 * time.Millisecond)
	}
	time.Sleep(300 * time.Millisecond) // past the second failure's backoff
	cancel()
	if err := <-done; err != nil {
		t.Fatalf("Run = %v, want nil: the idle time between two failed polls is no failing", err)
	}
	if src.failed != 2 {
		t.Fatalf("%d polls failed, want 2", src.failed)
	}
	if got := sink.perWindow(); !maps.Equal(got, want) {
		t.Errorf("per window = %v, want %v", got, want)
	}
}

// alwaysFencedSink is a sink whose every commit finds another writer ahead.
type alwaysFencedSink struct {
	*memSink
	positionsAt []time.Time // when each Positions call (each resume) began
}

func (s *alwaysFencedSink) Commit(_ context.Context, c sdk.Commit) error {
	return fmt.Errorf("partition %d moved by another writer: %w", c.Ranges[0].Partition, sdk.ErrFenced)
}

func (s *alwaysFencedSink) Positions(ctx context.Context, stream string) ([]sdk.Position, error) {
	s.mu.Lock()
	s.positionsAt = append(s.positionsAt, time.Now())
	s.mu.Unlock()
	return s.memSink.Positions(ctx, stream)
}

// countingExtractor counts the batches it extracts.
type countingExtractor struct {
	timeExtractor
	mu    sync.Mutex
	calls int
}

func (x *countingExtractor) Extract(ctx context.Context, records []sdk.Record, out *sdk.Extraction) error {
	x.mu.Lock()
	x.calls++
	x.mu.Unlock()
	return x.timeExtractor.Extract(ctx, records, out)
}

// A standby engine, fenced by another writer on every commit, backs off
// between its attempts, more each time, rather than re-polling and
// re-extracting full batches at the minimal backoff.
func TestFencedStandbyBacksOff(t *testing.T) {
	src, _ := fixture()
	sink := &alwaysFencedSink{memSink: newMemSink()}
	x := &countingExtractor{}
	e := New(Config{Logger: quietLogger(), Limits: sdk.Limits{MaxRecords: 3, MaxWait: time.Millisecond}},
		"mem", src, x, sink)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	if err := runWithin(t, e, ctx, 30*time.Second); err != nil {
		t.Fatalf("standby Run = %v, want nil when stopped", err)
	}
	// Each resume starts one attempt; between two of them the engine
	// sleeps at least half its current backoff, which starts at 100ms and
	// doubles. Lower bounds only: a slow machine makes the gaps longer.
	at := sink.positionsAt
	if len(at) < 3 {
		t.Fatalf("only %d resumes in 2s", len(at))
	}
	floor := 50 * time.Millisecond
	for i := 1; i < len(at); i++ {
		if gap := at[i].Sub(at[i-1]); gap < floor {
			t.Errorf("resume %d came %v after the one before, want at least %v (backoff growing from 100ms)", i, gap, floor)
		}
		floor = min(2*floor, 2500*time.Millisecond)
	}
	// Each attempt extracts at most the two batches it takes to learn
	// that the first one is fenced.
	if x.calls > 2*len(at) {
		t.Errorf("%d extractions for %d attempts", x.calls, len(at))
	}
	if src.polls > (2+DefaultPollAhead)*len(at) {
		t.Errorf("%d polls for %d attempts", src.polls, len(at))
	}
}

// events records the calls of a source and a sink in order.
type events struct {
	mu  sync.Mutex
	log []string
}

func (ev *events) add(s string) {
	ev.mu.Lock()
	ev.log = append(ev.log, s)
	ev.mu.Unlock()
}

// recordingSource logs Seek and Poll.
type recordingSource struct {
	*memSource
	ev *events
}

func (s recordingSource) Seek(ctx context.Context, ps []sdk.Position) error {
	s.ev.add("seek")
	return s.memSource.Seek(ctx, ps)
}

func (s recordingSource) Poll(ctx context.Context, l sdk.Limits) (sdk.Batch, error) {
	s.ev.add("poll")
	return s.memSource.Poll(ctx, l)
}

// flakySink fails its first commit before applying it, and the Positions
// call that follows: a database gone just as the first commit was made.
type flakySink struct {
	*memSink
	ev              *events
	failedCommits   int
	failedPositions int
}

func (s *flakySink) Commit(ctx context.Context, c sdk.Commit) error {
	s.mu.Lock()
	if s.failedCommits == 0 {
		s.failedCommits++
		s.mu.Unlock()
		s.ev.add("commit failed")
		return errors.New("connection refused")
	}
	s.mu.Unlock()
	return s.memSink.Commit(ctx, c)
}

func (s *flakySink) Positions(ctx context.Context, stream string) ([]sdk.Position, error) {
	s.mu.Lock()
	if s.failedCommits > 0 && s.failedPositions == 0 {
		s.failedPositions++
		s.mu.Unlock()
		s.ev.add("positions failed")
		return nil, errors.New("connection refused")
	}
	s.mu.Unlock()
	return s.memSink.Positions(ctx, stream)
}

// After a failed commit, reading the positions fails once. The engine
// must not poll again before it has read them and sought the source:
// partition 1, which has no committed position, would otherwise accept a
// range that starts past its offsets 0–5, and they would never be counted.
func TestNoPollBeforeSeekAfterPositionsFailed(t *testing.T) {
	src := newMemSource()
	want := map[string]int64{}
	for o := range int64(3) {
		src.add(0, o, "2016-06-01T19:36:05Z")
		want["2016-06-01 19:36:00"]++
	}
	for o := range int64(6) {
		src.add(1, o, "2016-06-01T19:37:05Z")
		want["2016-06-01 19:37:00"]++
	}
	ev := &events{}
	sink := &flakySink{memSink: newMemSink(), ev: ev}
	e := New(Config{Drain: true, Logger: quietLogger(), Limits: sdk.Limits{MaxRecords: 2, MaxWait: time.Millisecond}, RetryFor: 10 * time.Second},
		"mem", recordingSource{src, ev}, timeExtractor{}, sink)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := runWithin(t, e, ctx, 30*time.Second); err != nil {
		t.Errorf("Run = %v", err)
	}
	if sink.failedPositions != 1 {
		t.Fatalf("Positions failed %d times, want once (after the failed commit); events %v", sink.failedPositions, ev.log)
	}
	ev.mu.Lock()
	log := ev.log
	ev.mu.Unlock()
	sought := true
	for i, what := range log {
		switch what {
		case "positions failed":
			sought = false
		case "seek":
			sought = true
		case "poll":
			if !sought {
				t.Fatalf("poll %d comes after Positions failed and before any Seek: %v", i, log[:i+1])
			}
		}
	}
	if got := sink.perWindow(); !maps.Equal(got, want) {
		t.Errorf("per window = %v, want %v", got, want)
	}
	if want := map[int32]int64{0: 3, 1: 6}; !maps.Equal(sink.positions, want) {
		t.Errorf("positions = %v, want %v", sink.positions, want)
	}
	checkRangesContiguous(t, sink.memSink)
}

// cancellingSource cancels the run's context at its n-th poll, as SIGTERM
// does in the middle of a drain.
type cancellingSource struct {
	*memSource
	at     int
	cancel context.CancelFunc
}

func (s cancellingSource) Poll(ctx context.Context, l sdk.Limits) (sdk.Batch, error) {
	if s.polls+1 == s.at {
		s.cancel()
	}
	return s.memSource.Poll(ctx, l)
}

// A drain stopped before its end says so with ErrDrainInterrupted, unlike
// a finished one; a second drain then finishes the work exactly.
func TestInterruptedDrainIsAnError(t *testing.T) {
	src, want := fixture()
	sink := newMemSink()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	cfg := Config{Drain: true, Logger: quietLogger(), Limits: sdk.Limits{MaxRecords: 3, MaxWait: time.Millisecond}, PollAhead: -1}
	first := New(cfg, "mem", cancellingSource{src, 2, cancel}, timeExtractor{}, sink)
	err := runWithin(t, first, ctx, 30*time.Second)
	if !errors.Is(err, ErrDrainInterrupted) {
		t.Fatalf("drain cancelled at its second poll = %v, want ErrDrainInterrupted", err)
	}
	if got := sink.perWindow(); maps.Equal(got, want) {
		t.Fatalf("the first drain committed everything (%v); the test interrupts nothing", got)
	}
	second := New(cfg, "mem", src, timeExtractor{}, sink)
	if err := runWithin(t, second, context.Background(), 30*time.Second); err != nil {
		t.Fatalf("second drain = %v", err)
	}
	if got := sink.perWindow(); !maps.Equal(got, want) {
		t.Errorf("per window = %v, want %v", got, want)
	}
	checkRangesContiguous(t, sink)
}

// Without Drain, a cancelled run is a normal stop.
func TestCancelledRunWithoutDrainIsNoError(t *testing.T) {
	src, _ := fixture()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	e := New(Config{Logger: quietLogger(), Limits: sdk.Limits{MaxRecords: 3, MaxWait: time.Millisecond}, PollAhead: -1},
		"mem", cancellingSource{src, 2, cancel}, timeExtractor{}, newMemSink())
	if err := runWithin(t, e, ctx, 30*time.Second); err != nil {
		t.Fatalf("Run cancelled = %v, want nil", err)
	}
}
