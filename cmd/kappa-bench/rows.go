package main

import (
	"context"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"syscall"
	"time"
)

// RowsStats is how the tables grow while the pipeline runs live at a
// steady rate, how they shrink under `kappa-runtime compact`, and what the
// original query costs before and after: the original job's promise that
// rows grow with partitions × windows per interval, not with traffic.
type RowsStats struct {
	Rate    float64 `json:"rate_per_s"`
	Seconds float64 `json:"seconds"`
	Tweets  int64   `json:"tweets"`
	Batches int64   `json:"batches"`
	// Rows and BatchRows are the aggregate and kappa_batches rows the live
	// run left; the per-minute figures divide them by its length.
	Rows               int64   `json:"rows"`
	BatchRows          int64   `json:"batch_rows"`
	RowsPerMinute      float64 `json:"rows_per_minute"`
	BatchRowsPerMinute float64 `json:"batch_rows_per_minute"`
	// QueryMS is the original query over what the live run left (best of
	// three), CompactedQueryMS over the table after one full pass.
	QueryMS          float64 `json:"query_ms"`
	CompactSeconds   float64 `json:"compact_seconds"`
	CompactRowsPerS  float64 `json:"compact_rows_per_s"`
	CompactedRows    int64   `json:"compacted_rows"`
	CompactedBatches int64   `json:"compacted_batch_rows"`
	CompactedQueryMS float64 `json:"compacted_query_ms"`
	// Compaction says whether compaction ran inside the live run
	// (pipeline compaction: after 5s, every 5s).
	Compaction bool         `json:"compaction_live"`
	CommitMS   *Percentiles `json:"commit_ms"`
	// VisibleMS is how long after its produce each tweet's count became
	// visible (estimated as in FreshnessStats).
	VisibleMS *Percentiles `json:"visible_ms"`
	Exact     bool         `json:"exact"`
}

// liveCompaction is what the pipeline file gains for the run that
// measures commits while compaction runs beside them.
const liveCompaction = "\ncompaction:\n  after: 5s\n  every: 5s\n"

// runRows runs the pipeline live while the firehose writes at rate for
// cfg.rowsFor into a fresh broker and database, stops it, counts the rows,
// times the original query, then compacts everything (`kappa-runtime
// compact --older-than 0s`) and counts and times again. With compacting,
// compaction also runs inside the live run.
func runRows(ctx context.Context, cfg benchConfig, rate float64, compacting bool, tmp string) (RowsStats, error) {
	rs := RowsStats{Rate: rate, Compaction: compacting}
	const db = "kappa_bench_rows"
	dir, err := os.MkdirTemp(tmp, "rows-")
	if err != nil {
		return rs, err
	}
	broker, err := startBroker(cfg, filepath.Join(dir, "data"))
	if err != nil {
		return rs, err
	}
	defer broker.stop()
	if err := dropDatabase(ctx, cfg.dsn, db); err != nil {
		return rs, err
	}
	pipelineFile := cfg.pipeline
	if compacting {
		if pipelineFile, err = withText(cfg.pipeline, liveCompaction, dir); err != nil {
			return rs, err
		}
	}
	env := []string{"KAPPA_BROKERS=" + broker.addr, "KAPPA_MYSQL_DSN=" + cfg.dsn + db}
	r, err := startLive(ctx, cfg.bin+"/kappa-runtime", pipelineFile, env)
	if err != nil {
		return rs, err
	}
	stopped := false
	defer func() {
		if !stopped {
			r.cmd.Process.Kill()
			r.wait()
		}
	}()

	started := time.Now()
	produced, err := produceTweets(ctx, cfg, broker.addr, filepath.Join(dir, "truth.csv"), int(rate*cfg.rowsFor.Seconds()),
		"--rate", strconv.FormatFloat(rate, 'f', -1, 64), "--per-minute", strconv.Itoa(int(rate*60)))
	if err != nil {
		return rs, err
	}
	rs.Tweets = produced.Tweets
	deadline := time.Now().Add(60 * time.Second)
	for {
		_, counted, err := tableTotals(ctx, cfg.dsn, db)
		if err == nil && counted >= produced.Tweets {
			break
		}
		if time.Now().After(deadline) {
			return rs, fmt.Errorf("after 60s, %d of %d tweets visible (last error: %v)", counted, produced.Tweets, err)
		}
		time.Sleep(100 * time.Millisecond)
	}
	rs.Seconds = time.Since(started).Seconds()
	r.cmd.Process.Signal(syscall.SIGTERM)
	_, _, err = r.wait()
	stopped = true
	if err != nil {
		return rs, err
	}
	var commits []float64
	batches := r.committed()
	for _, b := range batches {
		rs.Batches++
		commits = append(commits, b.CommitMS)
	}
	rs.CommitMS = percentiles(commits)
	rs.VisibleMS = percentiles(recordAges(batches, time.Time{}))

	if rs.Rows, rs.BatchRows, rs.QueryMS, err = tableShape(ctx, cfg.dsn, db); err != nil {
		return rs, err
	}
	rs.RowsPerMinute = float64(rs.Rows) / rs.Seconds * 60
	rs.BatchRowsPerMinute = float64(rs.BatchRows) / rs.Seconds * 60

	compactStarted := time.Now()
	compact := exec.CommandContext(ctx, cfg.bin+"/kappa-runtime", "compact", "--older-than", "0s", pipelineFile)
	compact.Env = append(os.Environ(), env...)
	if out, err := compact.CombinedOutput(); err != nil {
		return rs, fmt.Errorf("kappa-runtime compact: %w\n%s", err, out)
	}
	rs.CompactSeconds = time.Since(compactStarted).Seconds()
	rs.CompactRowsPerS = float64(rs.Rows) / rs.CompactSeconds
	if rs.CompactedRows, rs.CompactedBatches, rs.CompactedQueryMS, err = tableShape(ctx, cfg.dsn, db); err != nil {
		return rs, err
	}
	_, counted, err := tableTotals(ctx, cfg.dsn, db)
	if err != nil {
		return rs, err
	}
	rs.Exact = counted == produced.Tweets
	return rs, nil
}

// withText writes a copy of the pipeline file with text appended into dir
// and returns its path.
func withText(pipelineFile, text, dir string) (string, error) {
	data, err := os.ReadFile(pipelineFile)
	if err != nil {
		return "", err
	}
	path := filepath.Join(dir, filepath.Base(pipelineFile))
	return path, os.WriteFile(path, append(data, text...), 0o644)
}

// tableShape counts the aggregate and batch rows of db and times the
// original query over them, best of three.
func tableShape(ctx context.Context, dsn, db string) (rows, batchRows int64, queryMS float64, err error) {
	h, err := openDB(dsn, db)
	if err != nil {
		return 0, 0, 0, err
	}
	defer h.Close()
	if err := h.QueryRowContext(ctx, "SELECT COUNT(*) FROM twitter").Scan(&rows); err != nil {
		return 0, 0, 0, fmt.Errorf("count rows of %s.twitter: %w", db, err)
	}
	if err := h.QueryRowContext(ctx, "SELECT COUNT(*) FROM kappa_batches").Scan(&batchRows); err != nil {
		return 0, 0, 0, fmt.Errorf("count rows of %s.kappa_batches: %w", db, err)
	}
	for range 3 {
		began := time.Now()
		res, err := h.QueryContext(ctx, "SELECT timestamp, sum(count) FROM twitter GROUP BY timestamp ORDER BY timestamp")
		if err != nil {
			return 0, 0, 0, fmt.Errorf("the original query on %s: %w", db, err)
		}
		for res.Next() {
		}
		res.Close()
		if ms := float64(time.Since(began).Microseconds()) / 1000; queryMS == 0 || ms < queryMS {
			queryMS = ms
		}
	}
	return rows, batchRows, queryMS, nil
}

// printRows prints the rows section of the report.
func printRows(w io.Writer, runs []RowsStats) {
	for _, s := range runs {
		live := "compaction off"
		if s.Compaction {
			live = "compaction every 5s"
		}
		commit, visible := Percentiles{}, Percentiles{}
		if s.CommitMS != nil {
			commit = *s.CommitMS
		}
		if s.VisibleMS != nil {
			visible = *s.VisibleMS
		}
		fmt.Fprintf(w, "d. rows at %.0f/s for %.0fs (%s): %d batches, %.0f rows/min, %.0f batch rows/min (%d, %d); original query %.1f ms; commit ms p50 %.1f p99 %.1f; produce→visible ms p50 %.0f p99 %.0f\n",
			s.Rate, s.Seconds, live, s.Batches, s.RowsPerMinute, s.BatchRowsPerMinute, s.Rows, s.BatchRows, s.QueryMS, commit.P50, commit.P99, visible.P50, visible.P99)
		fmt.Fprintf(w, "   compact --older-than 0s: %.2fs, %.0f rows/s → %d rows, %d batch rows; original query %.1f ms; exact=%v\n",
			s.CompactSeconds, s.CompactRowsPerS, s.CompactedRows, s.CompactedBatches, s.CompactedQueryMS, s.Exact)
	}
}
