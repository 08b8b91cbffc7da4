package command

import (
	"context"
	"embed"
	"encoding/json"
	"errors"
	"io/fs"
	"net/http"
	"slices"
	"sync"
	"time"

	"github.com/kappa-stream/kappa/internal/pluginclient"
	"github.com/kappa-stream/kappa/sdk"
)

// The status page (/) is static: files embedded in the binary, uPlot
// vendored among them, so it works offline. It reads /status and /windows.
//
//go:embed statuspage
var statusPageFiles embed.FS

// chartWindows is how many windows the aggregate chart shows.
const chartWindows = 60

// windowsRefresh is the least time between two reads of the recent
// windows from the sink: the page polls every second or so, and a read
// waits for the sink's lock behind a Commit, so it is kept rare.
const windowsRefresh = time.Second

// windowCache reads the sink's recent windows for /windows, at most once
// per windowsRefresh however many pages poll; the engine never waits for it.
type windowCache struct {
	reader  sdk.WindowReader
	timeout time.Duration

	mu      sync.Mutex
	read    time.Time
	windows []windowJSON
	err     string
}

type windowJSON struct {
	Window time.Time `json:"window"`
	Count  int64     `json:"count"`
}

type windowsJSON struct {
	Supported bool         `json:"supported"`
	Error     string       `json:"error,omitempty"`
	ReadAt    *time.Time   `json:"read_at,omitempty"`
	Windows   []windowJSON `json:"windows"` // oldest first
}

func newWindowCache(r sdk.WindowReader, timeout time.Duration) *windowCache {
	return &windowCache{reader: r, timeout: timeout}
}

// get returns the windows read within the last windowsRefresh, reading
// them again when they are older. Concurrent callers share one read.
func (c *windowCache) get(ctx context.Context, now time.Time) windowsJSON {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.read.IsZero() || now.Sub(c.read) >= windowsRefresh {
		ctx, cancel := context.WithTimeout(ctx, c.timeout)
		windows, err := c.reader.RecentWindows(ctx, chartWindows)
		cancel()
		c.read = time.Now()
		switch {
		case errors.Is(err, pluginclient.ErrWindowsUnsupported):
			c.err = "the sink plugin does not report recent windows (no sdk.WindowReader): " + err.Error()
			c.windows = nil
		case err != nil:
			c.err = err.Error() // keep the last windows read: the chart stays
		default:
			c.err = ""
			c.windows = make([]windowJSON, len(windows))
			for i, w := range windows {
				c.windows[i] = windowJSON{Window: w.Window, Count: w.Count}
			}
			slices.Reverse(c.windows)
		}
	}
	out := windowsJSON{Supported: c.err == "" || c.windows != nil, Error: c.err, ReadAt: timePtr(c.read), Windows: slices.Clone(c.windows)}
	if out.Windows == nil {
		out.Windows = []windowJSON{}
	}
	return out
}

// pageRoutes adds the status page and /windows to mux.
func (m *monitor) pageRoutes(mux *http.ServeMux) {
	files, err := fs.Sub(statusPageFiles, "statuspage")
	if err != nil {
		panic(err) // the embedded directory is part of the binary
	}
	mux.Handle("GET /", http.FileServerFS(files))
	mux.HandleFunc("GET /windows", func(w http.ResponseWriter, r *http.Request) {
		out := windowsJSON{Windows: []windowJSON{}, Error: "no sink to read windows from"}
		if m.windows != nil {
			out = m.windows.get(r.Context(), time.Now())
		}
		w.Header().Set("Content-Type", "application/json")
		w.Header().Set("Cache-Control", "no-store")
		json.NewEncoder(w).Encode(out)
	})
}
