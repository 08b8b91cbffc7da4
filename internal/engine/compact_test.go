package engine

import (
	"bytes"
	"context"
	"errors"
	"log/slog"
	"maps"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/kappa-stream/kappa/sdk"
)

// compactingSink is a memSink that records its Compact calls.
type compactingSink struct {
	*memSink
	mu    sync.Mutex
	calls []sdk.CompactRequest
	err   error
}

func (s *compactingSink) Compact(_ context.Context, req sdk.CompactRequest) (sdk.CompactResult, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.calls = append(s.calls, req)
	return sdk.CompactResult{Spans: 1, Batches: 2, RowsBefore: 4, RowsAfter: 2, Done: true}, s.err
}

func runCompacting(t *testing.T, sink sdk.Sink, mem *memSink, every time.Duration) (string, map[string]int64) {
	t.Helper()
	src, want := fixture()
	var logs bytes.Buffer
	cfg := Config{Drain: true, Logger: slog.New(slog.NewTextHandler(&logs, nil)), Limits: sdk.Limits{MaxRecords: 1, MaxWait: time.Millisecond},
		RetryFor: time.Second, SyncCommit: true, Compaction: Compaction{Every: every, After: 7 * time.Second}}
	e := New(cfg, "mem", src, timeExtractor{}, sink)
	if err := e.Run(context.Background()); err != nil {
		t.Fatal(err)
	}
	if got := mem.perWindow(); !maps.Equal(got, want) {
		t.Errorf("per window = %v, want %v", got, want)
	}
	return logs.String(), want
}

func TestRunCompactsBetweenCommits(t *testing.T) {
	sink := &compactingSink{memSink: newMemSink()}
	logs, _ := runCompacting(t, sink, sink.memSink, time.Nanosecond)
	if len(sink.calls) == 0 {
		t.Fatal("the sink was never asked to compact")
	}
	for _, req := range sink.calls {
		if req.OlderThan != 7*time.Second || req.Budget != DefaultCompactionBudget || req.Full {
			t.Errorf("request %+v, want older than 7s, budget %v, not full", req, DefaultCompactionBudget)
		}
	}
	if !strings.Contains(logs, "msg=compacted spans=1 batches=2 rows_before=4 rows_after=2") {
		t.Errorf("no line saying what a pass did in:\n%s", logs)
	}
}

func TestRunGoesOnWhenCompactionFails(t *testing.T) {
	sink := &compactingSink{memSink: newMemSink(), err: errors.New("lock wait timeout")}
	logs, _ := runCompacting(t, sink, sink.memSink, time.Nanosecond)
	if len(sink.calls) < 2 || !strings.Contains(logs, "compaction failed; commits go on") {
		t.Errorf("%d calls; want several, each failure logged:\n%s", len(sink.calls), logs)
	}
}

func TestRunWithoutCompactionNeverCalls(t *testing.T) {
	sink := &compactingSink{memSink: newMemSink()}
	runCompacting(t, sink, sink.memSink, 0)
	if len(sink.calls) != 0 {
		t.Errorf("compaction off, yet %d calls", len(sink.calls))
	}
}

func TestASinkThatDoesNotCompactGetsOneInfoLine(t *testing.T) {
	mem := newMemSink()
	logs, _ := runCompacting(t, mem, mem, time.Nanosecond)
	if n := strings.Count(logs, "the sink does not compact"); n != 1 {
		t.Errorf("%d lines saying the sink does not compact, want 1:\n%s", n, logs)
	}
}
