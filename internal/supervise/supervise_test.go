package supervise

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/hashicorp/go-hclog"

	"github.com/kappa-stream/kappa/internal/launch"
	"github.com/kappa-stream/kappa/internal/pluginclient"
	"github.com/kappa-stream/kappa/sdk"
)

// The test binary doubles as the plugin: started with pluginEnv set, it
// serves a small extractor or source instead of running the tests.
const (
	pluginEnv = "KAPPA_SUPERVISE_TEST_PLUGIN"
	// crashFileEnv names a file whose existence makes the plugin exit at
	// once, before the handshake: a plugin that cannot start.
	crashFileEnv = "KAPPA_SUPERVISE_TEST_CRASH_FILE"
)

func TestMain(m *testing.M) {
	switch os.Getenv(pluginEnv) {
	case "":
		code := m.Run()
		launch.StopAll() // as kappa-runtime does: removes the plugins' socket folder
		os.Exit(code)
	case sdk.KindExtractor:
		exitIfCrashFile()
		sdk.ServeExtractor(&testExtractor{})
	case sdk.KindSource:
		exitIfCrashFile()
		sdk.ServeSource(&testSource{})
	}
	os.Exit(0)
}

func exitIfCrashFile() {
	if f := os.Getenv(crashFileEnv); f != "" {
		if _, err := os.Stat(f); err == nil {
			os.Exit(3)
		}
	}
}

// testExtractor makes one fact per record, stamped with its pid in Dims so
// that a test sees which process answered. A record "crash" kills it.
type testExtractor struct{ setup sdk.Setup }

func (x *testExtractor) Open(_ context.Context, s sdk.Setup) error {
	if s.Pipeline != "supervised" {
		return fmt.Errorf("opened with pipeline %q", s.Pipeline)
	}
	x.setup = s
	return nil
}

func (x *testExtractor) Extract(_ context.Context, rs []sdk.Record, out *sdk.Extraction) error {
	for i, r := range rs {
		if string(r.Value) == "crash" {
			os.Exit(2)
		}
		out.Fact(sdk.Fact{Record: i, Time: time.Unix(60, 0), Dims: []string{fmt.Sprint(os.Getpid())}})
	}
	return nil
}

func (x *testExtractor) Close(context.Context) error { return nil }

// testSource returns one record per Poll at the position it was seeked to.
type testSource struct{ next int64 }

func (s *testSource) Open(context.Context, sdk.Setup) (sdk.SourceInfo, error) {
	return sdk.SourceInfo{Stream: "numbers"}, nil
}

func (s *testSource) Seek(_ context.Context, ps []sdk.Position) error {
	for _, p := range ps {
		s.next = p.NextOffset
	}
	return nil
}

func (s *testSource) Poll(context.Context, sdk.Limits) (sdk.Batch, error) {
	r := sdk.Record{Offset: s.next, Value: []byte("x")}
	s.next++
	return sdk.Batch{Partitions: []sdk.PartitionBatch{{OffsetRange: sdk.OffsetRange{Start: r.Offset, End: s.next}, Records: []sdk.Record{r}}}}, nil
}

func (s *testSource) Watermarks(context.Context) ([]sdk.Watermark, error) { return nil, nil }
func (s *testSource) Close(context.Context) error                         { return nil }

// syncBuffer collects the supervisor's log lines.
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

// startPlugin starts the test binary as a supervised plugin of kind.
func startPlugin(t *testing.T, kind string, maxStarts int) (*Plugin, *syncBuffer) {
	t.Helper()
	t.Setenv(pluginEnv, kind)
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	logs := &syncBuffer{}
	p, err := Start(kind, exe, Config{
		MaxStarts:    maxStarts,
		MinBackoff:   10 * time.Millisecond,
		MaxBackoff:   50 * time.Millisecond,
		StartTimeout: 10 * time.Second,
		Logger:       slog.New(slog.NewTextHandler(logs, nil)),
		PluginLogger: hclog.NewNullLogger(),
		Env:          []string{pluginEnv, crashFileEnv},
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(p.Stop)
	return p, logs
}

func openExtractor(t *testing.T, p *Plugin) *Extractor {
	t.Helper()
	x := p.Extractor()
	if err := x.Open(context.Background(), sdk.Setup{Pipeline: "supervised", Window: time.Minute}); err != nil {
		t.Fatal(err)
	}
	return x
}

// extractPid extracts one record and returns the pid that answered.
func extractPid(ctx context.Context, x *Extractor, value string) (string, error) {
	var out sdk.Extraction
	if err := x.Extract(ctx, []sdk.Record{{Value: []byte(value)}}, &out); err != nil {
		return "", err
	}
	return out.Facts[0].Dims[0], nil
}

func TestDeadPluginIsRestartedAndReopened(t *testing.T) {
	p, logs := startPlugin(t, sdk.KindExtractor, 3)
	x := openExtractor(t, p)
	ctx := context.Background()
	first, err := extractPid(ctx, x, "a")
	if err != nil {
		t.Fatal(err)
	}

	// The plugin dies in the middle of a call: the call fails as
	// unavailable, and the batch is the engine's to drop.
	_, err = extractPid(ctx, x, "crash")
	if !errors.Is(err, pluginclient.ErrPluginUnavailable) {
		t.Fatalf("extract while the plugin dies: %v, want ErrPluginUnavailable", err)
	}
	// The next call runs in a new process, opened with the same setup
	// (the test extractor refuses any other pipeline name).
	second, err := extractPid(ctx, x, "b")
	if err != nil {
		t.Fatalf("extract after the death: %v\n%s", err, logs)
	}
	if second == first {
		t.Errorf("pid %s answered before and after the death", first)
	}
	if p.Restarts() != 1 {
		t.Errorf("%d restarts, want 1", p.Restarts())
	}
	if reason, at := p.LastDeath(); !strings.HasPrefix(reason, "died: ") || at.IsZero() {
		t.Errorf("last death %q at %v, want the reason it died and when", reason, at)
	}

	// Killed from outside, between calls.
	_, firstDeath := p.LastDeath()
	if err := syscall.Kill(p.Pid(), syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	third, err := extractPid(ctx, x, "c")
	for err != nil && errors.Is(err, pluginclient.ErrPluginUnavailable) {
		third, err = extractPid(ctx, x, "c") // the kill raced the call
	}
	if err != nil {
		t.Fatalf("extract after kill -9: %v\n%s", err, logs)
	}
	if third == second {
		t.Errorf("pid %s answered after it was killed", second)
	}
	if reason, at := p.LastDeath(); !strings.HasPrefix(reason, "died") || !at.After(firstDeath) {
		t.Errorf("last death %q at %v after kill -9, want a later death than the one at %v", reason, at, firstDeath)
	}
	for _, want := range []string{"plugin died", "restarting plugin", "plugin restarted"} {
		if !strings.Contains(logs.String(), want) {
			t.Errorf("log lacks %q:\n%s", want, logs)
		}
	}
}

func TestHungPluginIsKilledAndRestarted(t *testing.T) {
	p, logs := startPlugin(t, sdk.KindExtractor, 3)
	x := openExtractor(t, p)
	hung := p.Pid()
	if err := syscall.Kill(hung, syscall.SIGSTOP); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { syscall.Kill(hung, syscall.SIGKILL) })
	// kill(2) returns before the process has stopped; a call sent in
	// between could still be answered.
	waitStopped(t, hung)

	ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
	_, err := extractPid(ctx, x, "a")
	cancel()
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("extract from a stopped plugin: %v, want a deadline error", err)
	}
	got, err := extractPid(context.Background(), x, "b")
	if err != nil {
		t.Fatalf("extract after the hang: %v\n%s", err, logs)
	}
	if got == fmt.Sprint(hung) {
		t.Errorf("the stopped process %d answered", hung)
	}
	// The stopped process was killed, not left behind.
	if err := syscall.Kill(hung, 0); !errors.Is(err, syscall.ESRCH) {
		t.Errorf("stopped plugin %d still exists after the restart (kill 0: %v)", hung, err)
	}
	if !strings.Contains(logs.String(), "plugin stopped answering") {
		t.Errorf("log lacks the reason:\n%s", logs)
	}
}

// waitStopped waits until every thread of pid is in the stopped state.
func waitStopped(t *testing.T, pid int) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for !allThreadsStopped(t, pid) {
		if time.Now().After(deadline) {
			t.Fatalf("process %d did not stop after SIGSTOP", pid)
		}
		time.Sleep(time.Millisecond)
	}
}

func allThreadsStopped(t *testing.T, pid int) bool {
	stats, err := filepath.Glob(fmt.Sprintf("/proc/%d/task/*/stat", pid))
	if err != nil || len(stats) == 0 {
		t.Fatalf("threads of process %d: %v", pid, err)
	}
	for _, f := range stats {
		b, err := os.ReadFile(f)
		if err != nil {
			return false
		}
		// The state follows the command name, which is in parentheses.
		i := bytes.LastIndexByte(b, ')')
		if i < 0 || i+2 >= len(b) || b[i+2] != 'T' {
			return false
		}
	}
	return true
}

func TestPluginThatKeepsDyingStopsTheRun(t *testing.T) {
	crash := filepath.Join(t.TempDir(), "crash")
	t.Setenv(crashFileEnv, crash)
	p, logs := startPlugin(t, sdk.KindExtractor, 3)
	x := openExtractor(t, p)
	// From now on every new process exits before its handshake.
	if err := os.WriteFile(crash, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	if err := syscall.Kill(p.Pid(), syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	var err error
	for range 10 {
		if _, err = extractPid(context.Background(), x, "a"); errors.Is(err, sdk.ErrPermanent) {
			break
		}
	}
	if !errors.Is(err, sdk.ErrPermanent) || !errors.Is(err, ErrGaveUp) {
		t.Fatalf("extract from a plugin that cannot start: %v, want ErrGaveUp and sdk.ErrPermanent\n%s", err, logs)
	}
	if !strings.Contains(err.Error(), "3 times in a row") {
		t.Errorf("error %q does not say how often it failed", err)
	}
	// The kill was the first of the three failures in a row.
	if n := strings.Count(logs.String(), "plugin restart failed"); n != 2 {
		t.Errorf("%d failed restarts logged, want 2:\n%s", n, logs)
	}
	// Once it can start again, a new call is served: the count is of
	// failures in a row, and the fatal error is the engine's to act on.
	os.Remove(crash)
	p.mu.Lock()
	p.deaths = 0
	p.mu.Unlock()
	if _, err := extractPid(context.Background(), x, "b"); err != nil {
		t.Errorf("extract once the plugin starts again: %v", err)
	}
}

func TestRestartedSourceMustBeSeekedBeforePoll(t *testing.T) {
	p, logs := startPlugin(t, sdk.KindSource, 3)
	s := p.Source()
	ctx := context.Background()
	info, err := s.Open(ctx, sdk.Setup{Pipeline: "supervised"})
	if err != nil || info.Stream != "numbers" {
		t.Fatalf("open: %v %v", info, err)
	}
	if err := s.Seek(ctx, []sdk.Position{{NextOffset: 40}}); err != nil {
		t.Fatal(err)
	}
	if b, err := s.Poll(ctx, sdk.Limits{}); err != nil || b.Partitions[0].Start != 40 {
		t.Fatalf("poll: %+v %v", b, err)
	}
	if err := syscall.Kill(p.Pid(), syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	// Whether the death shows in this call or the next, no batch is
	// served until the engine seeks the new process.
	for range 2 {
		if _, err := s.Poll(ctx, sdk.Limits{}); err == nil {
			t.Fatalf("poll of a killed, unseeked source succeeded\n%s", logs)
		}
	}
	if _, err := s.Poll(ctx, sdk.Limits{}); !errors.Is(err, errNotSeeked) {
		t.Fatalf("poll after the restart: %v, want errNotSeeked", err)
	}
	if err := s.Seek(ctx, []sdk.Position{{NextOffset: 41}}); err != nil {
		t.Fatal(err)
	}
	if b, err := s.Poll(ctx, sdk.Limits{}); err != nil || b.Partitions[0].Start != 41 {
		t.Fatalf("poll after seek: %+v %v", b, err)
	}
}
