package main

import (
	"context"
	"fmt"
	"strconv"
	"syscall"
	"time"
)

// FreshnessStats is how soon produced tweets became visible in MySQL while
// the firehose wrote at a steady rate and the pipeline ran continuously.
type FreshnessStats struct {
	Rate     float64 `json:"rate_per_s"`
	Seconds  float64 `json:"seconds"`
	Tweets   int64   `json:"tweets"`
	Records  int64   `json:"records"`
	Batches  int64   `json:"batches"`
	Interval float64 `json:"batch_interval_ms"`
	// VisibleMS is, over every record produced after the warm-up, the
	// time from its produce (the record timestamp the producer sets) to the
	// end of the commit that made its count visible in MySQL.
	VisibleMS *Percentiles `json:"visible_ms"`
	// WarmupMS is how long after the first record the records count for
	// VisibleMS; VisibleAllMS counts every record, the warm-up included
	// (the first second's records wait for the pipeline's first batches).
	WarmupMS     float64      `json:"warmup_ms"`
	VisibleAllMS *Percentiles `json:"visible_all_ms"`
	CommitMS     *Percentiles `json:"commit_ms"`
	Processes    []ProcStats  `json:"processes"`
	Exact        bool         `json:"exact"`
}

// runFreshness runs the pipeline (not draining) on an empty topic, lets the
// firehose produce at cfg.rate for cfg.freshFor, waits for the last tweet
// to be committed, and stops the runtime.
func runFreshness(ctx context.Context, cfg benchConfig, brokers, db, tmp string) (FreshnessStats, error) {
	fs := FreshnessStats{Rate: cfg.rate, Interval: float64(cfg.interval.Milliseconds()), WarmupMS: float64(cfg.warmup.Milliseconds())}
	if err := dropDatabase(ctx, cfg.dsn, db); err != nil {
		return fs, err
	}
	env := []string{"KAPPA_BROKERS=" + brokers, "KAPPA_MYSQL_DSN=" + cfg.dsn + db}
	r, err := startLive(ctx, cfg.bin+"/kappa-runtime", cfg.pipeline, env)
	if err != nil {
		return fs, err
	}
	stopped := false
	defer func() {
		if !stopped {
			r.cmd.Process.Kill()
			r.wait()
		}
	}()

	count := int(cfg.rate * cfg.freshFor.Seconds())
	produced, err := produceTweets(ctx, cfg, brokers, tmp+"/fresh-truth.csv", count,
		"--rate", strconv.FormatFloat(cfg.rate, 'f', -1, 64),
		// Simulated time runs as fast as the wall clock, as in a live stream.
		"--per-minute", strconv.Itoa(int(cfg.rate*60)))
	if err != nil {
		return fs, err
	}
	fs.Seconds, fs.Tweets = produced.Seconds, produced.Tweets

	// Wait until every tweet is visible, then stop the runtime.
	deadline := time.Now().Add(60 * time.Second)
	for {
		_, counted, err := tableTotals(ctx, cfg.dsn, db)
		if err == nil && counted >= produced.Tweets {
			fs.Exact = counted == produced.Tweets
			break
		}
		if time.Now().After(deadline) {
			return fs, fmt.Errorf("after 60s, %d of %d tweets visible (last error: %v)", counted, produced.Tweets, err)
		}
		time.Sleep(100 * time.Millisecond)
	}
	r.cmd.Process.Signal(syscall.SIGTERM)
	_, procs, err := r.wait()
	stopped = true
	if err != nil {
		return fs, err
	}
	fs.Processes = procs

	var (
		commits, visible, all []float64
		firstProduced         time.Time
	)
	batches := r.committed()
	for _, b := range batches {
		fs.Batches++
		fs.Records += b.Records
		commits = append(commits, b.CommitMS)
		if b.Oldest != nil {
			if t := b.Time.Add(-ms(*b.Oldest)); firstProduced.IsZero() || t.Before(firstProduced) {
				firstProduced = t
			}
		}
	}
	steadyFrom := firstProduced.Add(cfg.warmup)
	all = recordAges(batches, time.Time{})
	visible = recordAges(batches, steadyFrom)
	fs.CommitMS, fs.VisibleMS, fs.VisibleAllMS = percentiles(commits), percentiles(visible), percentiles(all)
	if produced.Records != fs.Records {
		fs.Exact = false
	}
	return fs, nil
}

func ms(f float64) time.Duration { return time.Duration(f * float64(time.Millisecond)) }

// recordAges estimates, for every record of the batches produced at or
// after from, how long after its produce its count became visible. A
// steady producer spreads a batch's records evenly between its newest and
// oldest; each record counts once. The log line's time is the commit's
// end, give or take microseconds.
func recordAges(batches []batchLine, from time.Time) []float64 {
	var ages []float64
	for _, b := range batches {
		if b.Oldest == nil || b.Newest == nil || b.Records == 0 {
			continue
		}
		for i := range b.Records {
			frac := 0.0
			if b.Records > 1 {
				frac = float64(i) / float64(b.Records-1)
			}
			age := *b.Newest + frac*(*b.Oldest-*b.Newest)
			if !b.Time.Add(-ms(age)).Before(from) {
				ages = append(ages, age)
			}
		}
	}
	return ages
}
