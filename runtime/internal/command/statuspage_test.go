package command

import (
	"context"
	"fmt"
	"io"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/kappa-stream/kappa/internal/pluginclient"
	"github.com/kappa-stream/kappa/sdk"
)

type countingReader struct {
	calls int
	err   error
}

func (r *countingReader) RecentWindows(_ context.Context, n int) ([]sdk.WindowTotal, error) {
	r.calls++
	if r.err != nil {
		return nil, r.err
	}
	t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	return []sdk.WindowTotal{{Window: t0.Add(time.Minute), Count: int64(10 * r.calls)}, {Window: t0, Count: 5}}, nil
}

// The sink is asked at most once per windowsRefresh; the page gets the
// windows oldest first, and the last ones read while a read fails.
func TestWindowCacheReadsTheSinkAtMostOnceASecond(t *testing.T) {
	r := &countingReader{}
	c := newWindowCache(r, time.Second)
	now := time.Now()
	for range 5 {
		c.get(context.Background(), now)
	}
	if r.calls != 1 {
		t.Fatalf("5 requests within a second asked the sink %d times, want 1", r.calls)
	}
	got := c.get(context.Background(), now.Add(2*windowsRefresh))
	if r.calls != 2 || len(got.Windows) != 2 || got.Windows[0].Count != 5 || got.Windows[1].Count != 20 {
		t.Fatalf("after a second: %d calls, windows %+v; want 2 calls, oldest first [5 20]", r.calls, got.Windows)
	}
	r.err = fmt.Errorf("mysql-sink: connection refused")
	got = c.get(context.Background(), now.Add(4*windowsRefresh))
	if len(got.Windows) != 2 || !strings.Contains(got.Error, "connection refused") {
		t.Fatalf("a failed read: %+v; want the last windows kept and the error shown", got)
	}
}

func TestWindowsSaysWhenTheSinkCannotTell(t *testing.T) {
	m := newMonitor("p", "p.yaml", time.Second, time.Minute, nil, nil)
	m.windows = newWindowCache(&countingReader{err: pluginclient.ErrWindowsUnsupported}, time.Second)
	srv := httptest.NewServer(m.handler())
	defer srv.Close()
	for path, want := range map[string]string{
		"/windows":                  "does not report recent windows",
		"/":                         `<div id="windows-chart"`,
		"/vendor/uPlot.iife.min.js": "uPlot",
	} {
		resp, err := srv.Client().Get(srv.URL + path)
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != 200 || !strings.Contains(string(body), want) {
			t.Errorf("GET %s: %d, body without %q:\n%.300s", path, resp.StatusCode, want, body)
		}
	}
}
