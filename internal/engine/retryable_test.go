package engine

import (
	"bytes"
	"context"
	"log/slog"
	"maps"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/kappa-stream/kappa/sdk"
)

// markingSink is a memSink whose failed commits carry the class mark gives
// them, as a plugin's errors arrive through the SDK.
type markingSink struct {
	*memSink
	mark func(error) error
}

func (s markingSink) Commit(ctx context.Context, c sdk.Commit) error {
	if err := s.memSink.Commit(ctx, c); err != nil {
		return s.mark(err)
	}
	return nil
}

// syncBuffer is a log destination safe for the engine's goroutines.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.String()
}

// A commit that fails with an error the sink marked retryable is retried,
// counted once, and the loop says it took the error for transient; an
// unmarked one is retried as before; a permanent one stops the run.
func TestRetryLoopUsesTheErrorsClass(t *testing.T) {
	for _, tt := range []struct {
		name      string
		mark      func(error) error
		retryable string // the failure's log attribute; "" when the run stops
	}{
		{"retryable", sdk.Retryable, "retryable=true"},
		{"unmarked", func(err error) error { return err }, "retryable=false"},
		{"permanent", sdk.Permanent, ""},
	} {
		t.Run(tt.name, func(t *testing.T) {
			src, want := fixture()
			mem := newMemSink()
			mem.failNext = []bool{false, true}
			var logs syncBuffer
			cfg := Config{Drain: true, Logger: slog.New(slog.NewTextHandler(&logs, nil)),
				Limits: sdk.Limits{MaxRecords: 3, MaxWait: time.Millisecond}, RetryFor: 10 * time.Second}
			err := New(cfg, "mem", src, timeExtractor{}, markingSink{mem, tt.mark}).Run(context.Background())
			if tt.retryable == "" {
				if err == nil || !strings.Contains(err.Error(), "connection lost before commit") {
					t.Fatalf("Run = %v, want it to stop on the permanent commit error", err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if got := mem.perWindow(); !maps.Equal(got, want) {
				t.Errorf("per window = %v, want %v", got, want)
			}
			checkRangesContiguous(t, mem)
			var failed []string
			for _, line := range strings.Split(logs.String(), "\n") {
				if strings.Contains(line, "batch failed; re-reading committed positions") {
					failed = append(failed, line)
				}
			}
			if len(failed) != 2 {
				t.Fatalf("%d batch failures logged, want 2:\n%s", len(failed), logs.String())
			}
			for _, line := range failed {
				if !strings.Contains(line, tt.retryable) {
					t.Errorf("failure logged without %s: %s", tt.retryable, line)
				}
			}
		})
	}
}
