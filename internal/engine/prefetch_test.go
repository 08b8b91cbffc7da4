package engine

import (
	"context"
	"fmt"
	"maps"
	"sync/atomic"
	"testing"
	"time"

	"github.com/kappa-stream/kappa/sdk"
)

// Failures while batches are polled ahead: every commit still starts at
// the committed position, and nothing is lost or counted twice, however
// many batches were in flight when a commit failed.
func TestPollAheadFailuresNeitherLoseNorDoubleCount(t *testing.T) {
	// PollAhead 1 (the default) runs through every case of
	// TestCommitFailuresNeitherLoseNorDoubleCount; here none and several.
	// Commits behind extraction (the default) run through all of them
	// too; here commits in step.
	for _, ahead := range []int{-1, 3} {
		for name, fails := range map[string][]bool{
			"lost after, before, after": {true, false, true},
		} {
			t.Run(fmt.Sprintf("ahead=%d/sync/%s", ahead, name), func(t *testing.T) {
				src, want := fixture()
				sink := newMemSink()
				sink.failNext = fails
				e := newTestEngine(src, timeExtractor{}, sink, func(c *Config) {
					c.PollAhead = ahead
					c.SyncCommit = true
					c.Limits.MaxRecords = 1 // many small batches, several in flight
				})
				if err := e.Run(context.Background()); err != nil {
					t.Fatal(err)
				}
				if got := sink.perWindow(); !maps.Equal(got, want) {
					t.Errorf("per window = %v, want %v", got, want)
				}
				if sink.fenced != 0 {
					t.Errorf("%d commits fenced: a batch polled ahead was committed after a failure", sink.fenced)
				}
				checkRangesContiguous(t, sink)
			})
		}
	}
}

// signalSource tells when its Poll has been called a given number of times.
type signalSource struct {
	*memSource
	polls   atomic.Int32
	polledN int32
	polled  chan struct{}
}

func (s *signalSource) Poll(ctx context.Context, l sdk.Limits) (sdk.Batch, error) {
	b, err := s.memSource.Poll(ctx, l)
	if s.polls.Add(1) == s.polledN {
		close(s.polled)
	}
	return b, err
}

// waitingSink holds its first commit until signal is closed (the source
// polled, or the extractor extracted, again) or until patience runs out,
// and records which happened.
type waitingSink struct {
	*memSink
	signal     <-chan struct{}
	patience   time.Duration
	overlapped atomic.Bool
	first      atomic.Bool
}

func (s *waitingSink) Commit(ctx context.Context, c sdk.Commit) error {
	if s.first.CompareAndSwap(false, true) {
		select {
		case <-s.signal:
			s.overlapped.Store(true)
		case <-time.After(s.patience):
		}
	}
	return s.memSink.Commit(ctx, c)
}

func TestPollsNextBatchWhileCommitting(t *testing.T) {
	for _, tc := range []struct {
		ahead    int
		patience time.Duration
		want     bool
	}{
		{ahead: 1, patience: 5 * time.Second, want: true},
		{ahead: -1, patience: 100 * time.Millisecond, want: false},
	} {
		t.Run(fmt.Sprintf("ahead=%d", tc.ahead), func(t *testing.T) {
			mem, want := fixture()
			src := &signalSource{memSource: mem, polledN: 2, polled: make(chan struct{})}
			sink := &waitingSink{memSink: newMemSink(), signal: src.polled, patience: tc.patience}
			cfg := Config{Drain: true, Logger: quietLogger(), PollAhead: tc.ahead, SyncCommit: true,
				Limits: sdk.Limits{MaxRecords: 3, MaxWait: time.Millisecond}, RetryFor: time.Second}
			e := New(cfg, "mem", src, timeExtractor{}, sink)
			if err := e.Run(context.Background()); err != nil {
				t.Fatal(err)
			}
			if got := sink.overlapped.Load(); got != tc.want {
				t.Errorf("second poll during the first commit: %v, want %v", got, tc.want)
			}
			if got := sink.perWindow(); !maps.Equal(got, want) {
				t.Errorf("per window = %v, want %v", got, want)
			}
		})
	}
}

// signalExtractor tells when its Extract has been called a given number
// of times.
type signalExtractor struct {
	timeExtractor
	calls      atomic.Int32
	extractedN int32
	extracted  chan struct{}
}

func (x *signalExtractor) Extract(ctx context.Context, records []sdk.Record, out *sdk.Extraction) error {
	if x.calls.Add(1) == x.extractedN {
		close(x.extracted)
	}
	return x.timeExtractor.Extract(ctx, records, out)
}

func TestExtractsNextBatchWhileCommitting(t *testing.T) {
	for _, tc := range []struct {
		sync     bool
		patience time.Duration
		want     bool
	}{
		{sync: false, patience: 5 * time.Second, want: true},
		{sync: true, patience: 100 * time.Millisecond, want: false},
	} {
		t.Run(fmt.Sprintf("sync=%v", tc.sync), func(t *testing.T) {
			src, want := fixture()
			x := &signalExtractor{extractedN: 2, extracted: make(chan struct{})}
			sink := &waitingSink{memSink: newMemSink(), signal: x.extracted, patience: tc.patience}
			cfg := Config{Drain: true, Logger: quietLogger(), SyncCommit: tc.sync,
				Limits: sdk.Limits{MaxRecords: 3, MaxWait: time.Millisecond}, RetryFor: time.Second}
			e := New(cfg, "mem", src, x, sink)
			if err := e.Run(context.Background()); err != nil {
				t.Fatal(err)
			}
			if got := sink.overlapped.Load(); got != tc.want {
				t.Errorf("second batch extracted during the first commit: %v, want %v", got, tc.want)
			}
			if got := sink.perWindow(); !maps.Equal(got, want) {
				t.Errorf("per window = %v, want %v", got, want)
			}
			checkRangesContiguous(t, sink.memSink)
		})
	}
}
