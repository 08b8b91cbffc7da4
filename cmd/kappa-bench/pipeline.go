package main

import (
	"bufio"
	"bytes"
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"os/exec"
	"slices"
	"sync"
	"time"
)

// Percentiles summarises a latency distribution in milliseconds.
type Percentiles struct {
	N   int     `json:"n"`
	P50 float64 `json:"p50"`
	P99 float64 `json:"p99"`
	Max float64 `json:"max"`
}

func percentiles(xs []float64) *Percentiles {
	if len(xs) == 0 {
		return nil
	}
	s := slices.Clone(xs)
	slices.Sort(s)
	at := func(q float64) float64 { return s[min(len(s)-1, int(q*float64(len(s))))] }
	return &Percentiles{N: len(s), P50: at(0.50), P99: at(0.99), Max: s[len(s)-1]}
}

// batchLine is the part of the runtime's JSON "batch committed" log line
// the harness reads.
type batchLine struct {
	Time     time.Time `json:"time"`
	Msg      string    `json:"msg"`
	Records  int64     `json:"records"`
	Facts    int64     `json:"facts"`
	Rows     int64     `json:"rows"`
	CommitMS float64   `json:"commit_ms"`
	BatchMS  float64   `json:"batch_ms"`
	Lag      int64     `json:"lag"`
	Oldest   *float64  `json:"oldest_record_ms"`
	Newest   *float64  `json:"newest_record_ms"`
	// Binary is set on a plugin's own lines, which the runtime relays
	// in its format (with the plugin's kind and binary).
	Binary string `json:"binary"`
}

// runtimeRun is one kappa-runtime process and what its log said.
type runtimeRun struct {
	cmd     *exec.Cmd
	watcher *treeWatcher
	stopW   func()
	started time.Time
	logDone chan struct{}

	mu      sync.Mutex
	batches []batchLine
	resumed chan struct{}
	tail    [][]byte // the last lines, for an error message
}

// startRuntime starts bin/kappa-runtime on the pipeline file with the
// given extra arguments and environment, and starts sampling its process
// tree.
func startRuntime(ctx context.Context, bin, pipelineFile string, env []string, args ...string) (*runtimeRun, error) {
	cmd := exec.Command(bin, append(append([]string{"--log-json"}, args...), pipelineFile)...)
	cmd.Env = append(os.Environ(), env...)
	stderr, err := cmd.StderrPipe()
	if err != nil {
		return nil, err
	}
	r := &runtimeRun{cmd: cmd, logDone: make(chan struct{}), resumed: make(chan struct{})}
	r.started = time.Now()
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("start %s: %w", bin, err)
	}
	r.watcher, r.stopW = watchTree(ctx, cmd.Process.Pid, 50*time.Millisecond)
	go r.readLog(stderr)
	return r, nil
}

// startLive starts the runtime on a pipeline that runs until stopped and
// waits until it has resumed at the committed positions; a runtime that
// ends or does not resume within 30 s is an error (and is gone).
func startLive(ctx context.Context, bin, pipelineFile string, env []string) (*runtimeRun, error) {
	r, err := startRuntime(ctx, bin, pipelineFile, env)
	if err != nil {
		return nil, err
	}
	select {
	case <-r.resumed:
		return r, nil
	case <-r.logDone:
		_, _, err := r.wait()
		return nil, fmt.Errorf("runtime ended before it resumed: %w", err)
	case <-time.After(30 * time.Second):
		r.cmd.Process.Kill()
		r.wait()
		return nil, fmt.Errorf("runtime did not resume within 30s")
	}
}

func (r *runtimeRun) readLog(stderr io.Reader) {
	defer close(r.logDone)
	sc := bufio.NewScanner(stderr)
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	var resumedOnce sync.Once
	for sc.Scan() {
		line := sc.Bytes()
		r.mu.Lock()
		r.tail = append(r.tail, bytes.Clone(line))
		if len(r.tail) > 20 {
			r.tail = r.tail[1:]
		}
		r.mu.Unlock()
		var b batchLine
		if len(line) == 0 || line[0] != '{' || json.Unmarshal(line, &b) != nil || b.Binary != "" {
			continue // not a line of the runtime's own
		}
		switch b.Msg {
		case "batch committed":
			r.mu.Lock()
			r.batches = append(r.batches, b)
			r.mu.Unlock()
		case "resumed at committed positions":
			resumedOnce.Do(func() { close(r.resumed) })
		}
	}
}

// wait waits for the runtime to exit and returns the stats of it and of
// its plugins.
func (r *runtimeRun) wait() (time.Duration, []ProcStats, error) {
	<-r.logDone
	err := r.cmd.Wait()
	elapsed := time.Since(r.started)
	r.stopW()
	procs := r.watcher.stats(true)
	slices.SortFunc(procs, func(a, b ProcStats) int { return a.PID - b.PID })
	if err != nil {
		r.mu.Lock()
		defer r.mu.Unlock()
		return elapsed, procs, fmt.Errorf("kappa-runtime: %w; last lines:\n%s", err, bytes.Join(r.tail, []byte("\n")))
	}
	return elapsed, procs, nil
}

func (r *runtimeRun) committed() []batchLine {
	r.mu.Lock()
	defer r.mu.Unlock()
	return slices.Clone(r.batches)
}

// target is a database the full pipeline drains into: MariaDB through
// cfg.pipeline, or PostgreSQL through cfg.pgPipeline (postgres.go).
type target struct {
	pipeline string
	// prepare empties database db and returns the environment that points
	// the pipeline file at it.
	prepare func(ctx context.Context, db string) ([]string, error)
	// totals counts the aggregate rows and the tweets they sum to.
	totals func(ctx context.Context, db string) (rows, tweets int64, err error)
}

func mariaDBTarget(cfg benchConfig) target {
	return target{
		pipeline: cfg.pipeline,
		prepare: func(ctx context.Context, db string) ([]string, error) {
			return []string{"KAPPA_MYSQL_DSN=" + cfg.dsn + db}, dropDatabase(ctx, cfg.dsn, db)
		},
		totals: func(ctx context.Context, db string) (int64, int64, error) { return tableTotals(ctx, cfg.dsn, db) },
	}
}

// runPipeline drains the whole backlog through kappa-runtime and its three
// plugin processes into database db of MariaDB.
func runPipeline(ctx context.Context, cfg benchConfig, brokers, db string, want preload) (RunStats, error) {
	return runPipelineInto(ctx, cfg, mariaDBTarget(cfg), brokers, db, want)
}

// runPipelineInto drains the whole backlog into database db of to.
func runPipelineInto(ctx context.Context, cfg benchConfig, to target, brokers, db string, want preload) (RunStats, error) {
	var st RunStats
	dbEnv, err := to.prepare(ctx, db)
	if err != nil {
		return st, err
	}
	env := append([]string{"KAPPA_BROKERS=" + brokers}, dbEnv...)
	if cfg.profileDir != "" {
		env = append(env, "KAPPA_PROFILE_DIR="+cfg.profileDir)
	}
	args := []string{"--drain"}
	if cfg.httpAddr != "" {
		args = append(args, "--http", cfg.httpAddr)
	}
	r, err := startRuntime(ctx, cfg.bin+"/kappa-runtime", to.pipeline, env, args...)
	if err != nil {
		return st, err
	}
	elapsed, procs, err := r.wait()
	if err != nil {
		return st, err
	}
	st.Seconds, st.Processes = elapsed.Seconds(), procs
	var commits []float64
	for _, b := range r.committed() {
		st.Batches++
		st.Records += b.Records
		commits = append(commits, b.CommitMS)
	}
	st.CommitMS = percentiles(commits)
	st.Bytes = want.Bytes
	rows, counted, err := to.totals(ctx, db)
	if err != nil {
		return st, err
	}
	st.Rows, st.Tweets = rows, counted
	st.Exact = counted == want.Tweets && st.Records == want.Records
	st.rates()
	return st, nil
}

func openDB(dsn, db string) (*sql.DB, error) {
	return sql.Open("mysql", dsn+db)
}

func dropDatabase(ctx context.Context, dsn, db string) error {
	h, err := openDB(dsn, "")
	if err != nil {
		return err
	}
	defer h.Close()
	if _, err := h.ExecContext(ctx, "DROP DATABASE IF EXISTS `"+db+"`"); err != nil {
		return fmt.Errorf("drop database %s (is MariaDB up? run ./scripts/services): %w", db, err)
	}
	return nil
}

// tableTotals counts the aggregate rows and the tweets they sum to.
func tableTotals(ctx context.Context, dsn, db string) (rows, tweets int64, err error) {
	h, err := openDB(dsn, db)
	if err != nil {
		return 0, 0, err
	}
	defer h.Close()
	err = h.QueryRowContext(ctx, "SELECT COUNT(*), COALESCE(SUM(count), 0) FROM twitter").Scan(&rows, &tweets)
	if err != nil {
		return 0, 0, fmt.Errorf("count rows of %s.twitter: %w", db, err)
	}
	return rows, tweets, nil
}
