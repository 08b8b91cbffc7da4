package engine

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"strings"
	"sync"
	"testing"

	"github.com/kappa-stream/kappa/sdk"
)

// standbySink fences the first `fenced` commits, as when a second runtime
// owns the partitions, then lets memSink decide.
type standbySink struct {
	*memSink
	mu     sync.Mutex
	fenced int
}

func (s *standbySink) Commit(ctx context.Context, c sdk.Commit) error {
	s.mu.Lock()
	if s.fenced > 0 {
		s.fenced--
		s.mu.Unlock()
		return fmt.Errorf("another runtime moved first: %w", sdk.ErrFenced)
	}
	s.mu.Unlock()
	return s.memSink.Commit(ctx, c)
}

type lockedLog struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedLog) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func TestFencedRunnerSaysSoOnceAndOutlastsRetryFor(t *testing.T) {
	src, want := fixture()
	sink := &standbySink{memSink: newMemSink(), fenced: 5}
	var log lockedLog
	e := newTestEngine(src, timeExtractor{}, nil, func(c *Config) {
		c.Logger = slog.New(slog.NewTextHandler(&log, nil))
	})
	e.sink = sink
	// Five fenced batches take about 3s of backoff, past RetryFor (1s):
	// standing by is not failing.
	if err := e.Run(context.Background()); err != nil {
		t.Fatalf("run: %v", err)
	}
	if got := sink.perWindow(); !maps.Equal(got, want) {
		t.Errorf("per window = %v, want %v", got, want)
	}
	out := log.b.String()
	if n := strings.Count(out, "msg=\"fenced:"); n != 1 {
		t.Errorf("fenced logged %d times, want once:\n%s", n, out)
	}
	if n := strings.Count(out, "no longer fenced"); n != 1 || !strings.Contains(out, "fenced_batches=5") {
		t.Errorf("end of fencing logged %d times, want once with fenced_batches=5:\n%s", n, out)
	}
}

func TestFencedRunnerExitsByPolicy(t *testing.T) {
	src, _ := fixture()
	sink := &standbySink{memSink: newMemSink(), fenced: 1}
	e := newTestEngine(src, timeExtractor{}, nil, func(c *Config) { c.OnFenced = FencedExit })
	e.sink = sink
	err := e.Run(context.Background())
	if !errors.Is(err, sdk.ErrFenced) || !strings.Contains(err.Error(), "on_fenced is exit") {
		t.Fatalf("run fenced with on_fenced exit: %v, want an ErrFenced naming the policy", err)
	}
	if len(sink.rows) != 0 {
		t.Errorf("%d rows committed by a runtime that exits when fenced", len(sink.rows))
	}
}
