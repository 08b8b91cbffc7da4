package command

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"net"
	"net/http"
	"slices"
	"time"

	"github.com/kappa-stream/kappa/internal/engine"
	"github.com/prometheus/client_golang/prometheus/promhttp"
)

// readyAfter is how many batch intervals (at least readyFloor) may pass
// without a commit or a read of the positions before /readyz says the
// pipeline is not progressing.
const (
	readyIntervals = 5
	readyFloor     = 10 * time.Second
)

// handler serves /metrics, /livez, /readyz, /status, and the status page
// with its /windows (statuspage.go).
func (m *monitor) handler() http.Handler {
	mux := http.NewServeMux()
	mux.Handle("GET /metrics", promhttp.HandlerFor(m.reg, promhttp.HandlerOpts{Registry: m.reg}))
	mux.HandleFunc("GET /livez", func(w http.ResponseWriter, r *http.Request) {
		if why := m.live(time.Now()); why != "" {
			w.WriteHeader(http.StatusServiceUnavailable)
			fmt.Fprintf(w, "not live: %s\n", why)
			return
		}
		fmt.Fprintln(w, "ok")
	})
	mux.HandleFunc("GET /readyz", func(w http.ResponseWriter, r *http.Request) {
		why, role := m.ready(time.Now())
		if why != "" {
			w.WriteHeader(http.StatusServiceUnavailable)
			fmt.Fprintf(w, "not ready: %s\nrole: %s\n", why, role)
			return
		}
		fmt.Fprintf(w, "ready\nrole: %s\n", role)
	})
	mux.HandleFunc("GET /status", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		enc := json.NewEncoder(w)
		enc.SetIndent("", "  ")
		enc.Encode(m.status(time.Now()))
	})
	m.pageRoutes(mux)
	return mux
}

// live says why the engine's loop is not turning ("" when it is): it has
// reported nothing for longer than any plugin call may take.
func (m *monitor) live(now time.Time) string {
	m.mu.Lock()
	defer m.mu.Unlock()
	if quiet := now.Sub(m.turned); quiet > m.stall {
		return fmt.Sprintf("the engine has reported nothing for %s (longer than any plugin call may take, %s)",
			quiet.Round(time.Second), m.stall)
	}
	return ""
}

// ready says why the pipeline is not ready ("" when it is), and its role:
// active, or standby while another runtime commits.
func (m *monitor) ready(now time.Time) (why, role string) {
	m.mu.Lock()
	defer m.mu.Unlock()
	role = "active"
	if m.state == engine.StateStandby {
		role = "standby"
	}
	for _, p := range m.plugins {
		if p.pid() == 0 {
			return fmt.Sprintf("the %s plugin (%s) is down", p.kind, p.binary), role
		}
	}
	window := max(readyFloor, readyIntervals*m.interval)
	switch {
	case m.generation != "":
		return "standing by, committing nothing: " + m.generation, role
	case m.state == engine.StateStarting:
		return "starting: the committed positions have not been read yet", role
	case m.state == engine.StateBackoff:
		return fmt.Sprintf("backing off after a failure: %s", m.lastErr), role
	case m.progress.IsZero() || now.Sub(m.progress) > window:
		return fmt.Sprintf("no commit nor read of the committed positions for %s (last error: %q)",
			now.Sub(m.progress).Round(time.Second), m.lastErr), role
	}
	return "", role
}

type statusJSON struct {
	Pipeline    string       `json:"pipeline"`
	File        string       `json:"file"`
	Version     string       `json:"version"`
	UptimeS     float64      `json:"uptime_seconds"`
	State       engine.State `json:"state"`
	Ready       bool         `json:"ready"`
	NotReady    string       `json:"not_ready,omitempty"`
	Role        string       `json:"role"`
	LastError   string       `json:"last_error,omitempty"`
	LastErrorAt *time.Time   `json:"last_error_time,omitempty"`
	LastCommit  *time.Time   `json:"last_commit_time,omitempty"`
	// Generation says, while the run stands by because another generation
	// replaced its own (on_generation_ended: standby), what happened to
	// its generation and which one is live; absent otherwise.
	Generation string `json:"generation_ended,omitempty"`
	// Group and OwnedPartitions show a consumer-group member's share:
	// absent outside a group.
	Group           string          `json:"group,omitempty"`
	OwnedPartitions []int32         `json:"owned_partitions,omitempty"`
	Plugins         []pluginJSON    `json:"plugins"`
	Partitions      []partitionJSON `json:"partitions"`
	Batches         []batchView     `json:"recent_batches"`
	Config          any             `json:"config"`
}

type pluginJSON struct {
	Kind     string `json:"kind"`
	Binary   string `json:"binary"`
	Version  string `json:"version,omitempty"`
	Pid      int    `json:"pid"`
	Restarts int    `json:"restarts"`
	// LastRestartReason is why the process last died or was killed for
	// not answering, which made the supervisor start it again.
	LastRestartReason string     `json:"last_restart_reason,omitempty"`
	LastRestartTime   *time.Time `json:"last_restart_time,omitempty"`
}

type partitionJSON struct {
	Partition     int32      `json:"partition"`
	Committed     int64      `json:"committed"`
	HighWatermark int64      `json:"high_watermark"`
	LagRecords    int64      `json:"lag_records"`
	LagSeconds    float64    `json:"lag_seconds"`
	LastCommit    *time.Time `json:"last_commit_time,omitempty"`
	Lost          int64      `json:"lost_offsets"`
	// Owned is whether this runtime reads the partition: always outside
	// a consumer group.
	Owned bool `json:"owned"`
}

func timePtr(t time.Time) *time.Time {
	if t.IsZero() {
		return nil
	}
	return &t
}

// status is what /status shows.
func (m *monitor) status(now time.Time) statusJSON {
	why, role := m.ready(now)
	m.mu.Lock()
	defer m.mu.Unlock()
	s := statusJSON{Pipeline: m.pipeline, File: m.file, Version: m.version, UptimeS: now.Sub(m.started).Seconds(),
		State: m.state, Ready: why == "", NotReady: why, Role: role, LastError: m.lastErr,
		LastErrorAt: timePtr(m.lastErrAt), LastCommit: timePtr(m.lastCommit), Generation: m.generation,
		Batches: slices.Clone(m.recent), Config: m.config, Plugins: []pluginJSON{}, Partitions: []partitionJSON{}}
	if m.group != "" {
		s.Group, s.OwnedPartitions = m.group, append([]int32{}, m.owned...)
	}
	for _, p := range m.plugins {
		pj := pluginJSON{Kind: p.kind, Binary: p.binary, Version: p.version, Pid: p.pid(), Restarts: p.restarts()}
		if p.lastDeath != nil {
			if reason, at := p.lastDeath(); reason != "" {
				pj.LastRestartReason, pj.LastRestartTime = reason, &at
			}
		}
		s.Plugins = append(s.Plugins, pj)
	}
	for _, p := range slices.Sorted(maps.Keys(m.partitions)) {
		v := m.partitions[p]
		records, seconds := v.lag(now)
		s.Partitions = append(s.Partitions, partitionJSON{Partition: p, Committed: v.committed, HighWatermark: v.highWatermark,
			LagRecords: records, LagSeconds: seconds, LastCommit: timePtr(v.lastCommit), Lost: v.lost, Owned: m.ownsLocked(p)})
	}
	return s
}

// serve listens on addr and serves h until ctx ends. A listen failure is
// returned at once: an operator who asked for metrics must not get a
// pipeline without them.
func serve(ctx context.Context, addr string, h http.Handler, logger *slog.Logger) (stop func(), err error) {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("--http %s: %w", addr, err)
	}
	srv := &http.Server{Handler: h, ReadHeaderTimeout: 10 * time.Second}
	logger.Info("serving metrics and health", "addr", ln.Addr().String())
	go func() {
		if err := srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			logger.Error("http server stopped", "addr", addr, "err", err)
		}
	}()
	return func() {
		shutdownCtx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 2*time.Second)
		defer cancel()
		srv.Shutdown(shutdownCtx)
	}, nil
}
