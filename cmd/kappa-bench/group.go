package main

import (
	"context"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"time"
)

// GroupRun is one drain of the preloaded backlog by Members runtimes in
// one consumer group (the source's `group:` key), started together; the
// time runs from the first start to the last exit. Members 0 is the same
// drain by one runtime without `group:`.
type GroupRun struct {
	Members int `json:"members"`
	RunStats
}

// runGroups drains the backlog once per entry of cfg.groupMembers.
func runGroups(ctx context.Context, cfg benchConfig, brokers, tmp string, want preload) ([]GroupRun, error) {
	original, err := os.ReadFile(cfg.pipeline)
	if err != nil {
		return nil, err
	}
	const anchor = "  plugin: kafka-source\n  config:\n"
	if !strings.Contains(string(original), anchor) {
		return nil, fmt.Errorf("%s: no %q to add group: under", cfg.pipeline, anchor)
	}
	var runs []GroupRun
	for i, n := range cfg.groupMembers {
		step("group: drain by %d runtime(s) in one consumer group (0: one without group:)", n)
		db := fmt.Sprintf("kappa_bench_group_%d", i)
		if err := dropDatabase(ctx, cfg.dsn, db); err != nil {
			return runs, err
		}
		text := string(original)
		if n > 0 {
			text = strings.Replace(text, anchor, anchor+fmt.Sprintf("    group: kappa-bench-%d-%d\n", i, time.Now().UnixNano()), 1)
		}
		file := filepath.Join(tmp, fmt.Sprintf("group-%d.yaml", i))
		if err := os.WriteFile(file, []byte(text), 0o644); err != nil {
			return runs, err
		}
		env := []string{"KAPPA_BROKERS=" + brokers, "KAPPA_MYSQL_DSN=" + cfg.dsn + db}
		started := time.Now()
		var members []*runtimeRun
		for range max(n, 1) {
			r, err := startRuntime(ctx, cfg.bin+"/kappa-runtime", file, env, "--drain")
			if err != nil {
				return runs, err
			}
			members = append(members, r)
		}
		run := GroupRun{Members: n}
		var firstErr error
		for _, r := range members {
			_, procs, err := r.wait()
			if err != nil && firstErr == nil {
				firstErr = err
			}
			run.Processes = append(run.Processes, procs...)
			for _, b := range r.committed() {
				run.Batches++
				run.Records += b.Records
			}
		}
		if firstErr != nil {
			return runs, firstErr
		}
		run.Seconds = time.Since(started).Seconds()
		run.Bytes = want.Bytes
		if run.Rows, run.Tweets, err = tableTotals(ctx, cfg.dsn, db); err != nil {
			return runs, err
		}
		run.Exact = run.Tweets == want.Tweets && run.Records == want.Records
		run.rates()
		runs = append(runs, run)
		if err := dropDatabase(ctx, cfg.dsn, db); err != nil {
			return runs, err
		}
	}
	return runs, nil
}

func printGroups(w io.Writer, runs []GroupRun) {
	for _, r := range runs {
		name := fmt.Sprintf("%d runtime(s) in a group", r.Members)
		if r.Members == 0 {
			name = "1 runtime, no group"
		}
		fmt.Fprintf(w, "group drain, %-22s: %.0f tweets/s, %.2fs, %d batches, exact=%v\n", name, r.TweetsPerS, r.Seconds, r.Batches, r.Exact)
	}
}
