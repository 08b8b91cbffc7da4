// Command kappa-bench measures Kappa on this machine in one run: it starts
// a development broker with a data directory, preloads it with simulated
// tweets, and measures
//
//	a. the limit: one franz-go consumer in this process running the tweet
//	   extractor's and the engine's aggregation code, no plugins, no database;
//	b. the full pipeline: kappa-runtime --drain with its three plugin
//	   processes, committing to MariaDB, and the same into PostgreSQL
//	   (postgres-sink) in the same round, so that the two sinks' throughput
//	   and commit latency compare on one machine state;
//	c. freshness: the pipeline running while the firehose writes at a
//	   steady rate, from a record's produce to its count being visible;
//	d. rows: the pipeline running live at 45 and 5,000 tweets/s, the rows
//	   and batch rows per minute it writes, the original query's time, the
//	   same after `kappa-runtime compact`, and the commits at 5,000/s while
//	   compaction runs inside the pipeline.
//
// It prints the figures and writes them as JSON. Binaries come from bin/
// (make build); MariaDB must answer at KAPPA_TEST_MYSQL_DSN, by default as
// root on 127.0.0.1:3306 (./scripts/services starts it; `make bench` sets
// the variable as scripts/services says).
//
//	kappa-bench [--records 1000000] [--json bench/results/X.json] [--profile DIR]
package main

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"time"

	_ "github.com/go-sql-driver/mysql"

	"github.com/kappa-stream/kappa/internal/pipeline"
	"github.com/kappa-stream/kappa/internal/testenv"
)

type benchConfig struct {
	bin, pipeline, dsn, jsonPath, profileDir string
	// pgPipeline and pgDSN: the PostgreSQL run of b ("" skips it).
	pgPipeline, pgDSN                   string
	httpAddr                            string
	tweets, partitions, rounds          int
	seed                                uint64
	rate                                float64
	freshFor, warmup, interval, rowsFor time.Duration
	rowsRates                           []float64
	rowsCompaction                      bool
	// groupMembers, when set, replaces runs a to d: the backlog is
	// drained once per entry by that many runtimes in one consumer group
	// (0: one runtime without group:), group.go.
	groupMembers []int
}

// Report is everything one run measured; it is written as JSON.
type Report struct {
	Time     time.Time `json:"time"`
	Machine  Machine   `json:"machine"`
	Preload  preload   `json:"preload"`
	Rounds   int       `json:"rounds"`
	Limit    RunStats  `json:"a_limit"`
	Pipeline RunStats  `json:"b_pipeline"`
	// PipelinePostgres is b into PostgreSQL (the best round), when run.
	PipelinePostgres     *RunStats `json:"b_pipeline_postgres,omitempty"`
	PipelinePostgresRuns []float64 `json:"b_postgres_rounds_tweets_per_s,omitempty"`
	// LimitRuns and PipelineRuns are every round's tweets/s; Limit and
	// Pipeline are the best round of each.
	LimitRuns    []float64      `json:"a_rounds_tweets_per_s"`
	PipelineRuns []float64      `json:"b_rounds_tweets_per_s"`
	Ratio        float64        `json:"ratio_b_over_a"`
	Freshness    FreshnessStats `json:"freshness"`
	Rows         []RowsStats    `json:"rows"`
	Group        []GroupRun     `json:"group,omitempty"`
}

// Machine names where the figures were taken.
type Machine struct {
	Cores     int    `json:"cores"`
	CPU       string `json:"cpu"`
	GoVersion string `json:"go_version"`
}

// preload is kappa-dev tweets' JSON summary.
type preload struct {
	Tweets  int64   `json:"tweets"`
	Records int64   `json:"records"`
	Bytes   int64   `json:"bytes"`
	Seconds float64 `json:"seconds"`
}

func main() {
	var cfg benchConfig
	flag.StringVar(&cfg.bin, "bin", "bin", "`dir` holding kappa-runtime, kappa-dev and the plugins (make build)")
	flag.StringVar(&cfg.pipeline, "pipeline", "pipelines/twitter.yaml", "pipeline `file` to run")
	flag.StringVar(&cfg.dsn, "dsn", "", "MySQL DSN without the database name, default $KAPPA_TEST_MYSQL_DSN or "+testenv.DefaultMySQLDSN+"; databases kappa_bench and kappa_bench_fresh are dropped and recreated")
	flag.StringVar(&cfg.pgPipeline, "postgres-pipeline", "pipelines/twitter-postgres.yaml", "pipeline `file` of b's run into PostgreSQL; empty skips it")
	flag.StringVar(&cfg.pgDSN, "postgres-dsn", "", "PostgreSQL URL of a database to connect to, default $KAPPA_TEST_POSTGRES_DSN or "+testenv.DefaultPostgresDSN+"; database kappa_bench is dropped and recreated")
	flag.StringVar(&cfg.jsonPath, "json", "", "write the report here (default bench/results/UTC-TIME.json)")
	flag.StringVar(&cfg.httpAddr, "http", "", "run b's runtime with --http `ADDR` (127.0.0.1:0 picks a port), to measure what serving metrics costs")
	flag.StringVar(&cfg.profileDir, "profile", "", "write CPU and allocation profiles of every pipeline process (b) to `dir`")
	flag.IntVar(&cfg.tweets, "tweets", 1_000_000, "tweets to preload (notices and malformed records come in addition)")
	flag.IntVar(&cfg.partitions, "partitions", 8, "partitions of the topic")
	flag.IntVar(&cfg.rounds, "rounds", 2, "runs of a and b, alternated; the best of each is reported (other load on the machine only slows a run down)")
	flag.Uint64Var(&cfg.seed, "seed", 1, "firehose seed")
	flag.Float64Var(&cfg.rate, "rate", 20_000, "records per second the firehose writes while freshness is measured")
	flag.DurationVar(&cfg.freshFor, "freshness", 30*time.Second, "how long the firehose writes while freshness is measured; 0 skips it")
	flag.DurationVar(&cfg.rowsFor, "rows", 60*time.Second, "how long the firehose writes in each run that measures rows (45/s, 5,000/s, 5,000/s with compaction); 0 skips them")
	flag.Func("rows-rates", "comma-separated tweets/s of the runs that measure rows (default 45,5000)", func(v string) error {
		cfg.rowsRates = nil
		for _, f := range strings.Split(v, ",") {
			r, err := strconv.ParseFloat(strings.TrimSpace(f), 64)
			if err != nil || r <= 0 {
				return fmt.Errorf("%q is not a positive rate", f)
			}
			cfg.rowsRates = append(cfg.rowsRates, r)
		}
		return nil
	})
	flag.Func("group-members", "comma-separated numbers of runtimes that drain the backlog together in one consumer group, instead of runs a to d (0: one runtime without group:), e.g. 0,1,2,3", func(v string) error {
		cfg.groupMembers = nil
		for _, f := range strings.Split(v, ",") {
			n, err := strconv.Atoi(strings.TrimSpace(f))
			if err != nil || n < 0 {
				return fmt.Errorf("%q is not a number of runtimes", f)
			}
			cfg.groupMembers = append(cfg.groupMembers, n)
		}
		return nil
	})
	flag.BoolVar(&cfg.rowsCompaction, "rows-compaction", true, "run the highest of --rows-rates once more with compaction every 5s inside the pipeline")
	flag.DurationVar(&cfg.warmup, "warmup", 5*time.Second, "records produced this long after the first are left out of the steady-state freshness")
	cfg.rowsRates = []float64{45, 5000}
	flag.Parse()
	if cfg.dsn == "" {
		var err error
		if cfg.dsn, err = testenv.ServerMySQLDSN(); err != nil {
			fmt.Fprintf(os.Stderr, "kappa-bench: %v\n", err)
			os.Exit(2)
		}
	}
	if cfg.pgDSN == "" && cfg.pgPipeline != "" {
		var err error
		if cfg.pgDSN, err = testenv.ServerPostgresDSN(); err != nil {
			fmt.Fprintf(os.Stderr, "kappa-bench: %v\n", err)
			os.Exit(2)
		}
	}
	if cfg.jsonPath == "" {
		cfg.jsonPath = filepath.Join("bench", "results", time.Now().UTC().Format("20060102T150405Z")+".json")
	}
	p, err := pipeline.Load(cfg.pipeline)
	if err != nil {
		fmt.Fprintf(os.Stderr, "kappa-bench: %v\n", err)
		os.Exit(1)
	}
	cfg.interval = p.Batch.Interval // the freshness target is this + 500 ms
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := bench(ctx, cfg); err != nil {
		fmt.Fprintf(os.Stderr, "kappa-bench: %v\n", err)
		os.Exit(1)
	}
}

func bench(ctx context.Context, cfg benchConfig) error {
	tmp, err := os.MkdirTemp("", "kappa-bench-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(tmp)
	rep := Report{Time: time.Now().UTC(), Machine: machine()}

	broker, err := startBroker(cfg, tmp+"/data")
	if err != nil {
		return err
	}
	defer broker.stop()
	step("preloading %d tweets into %s (%d partitions)", cfg.tweets, broker.addr, cfg.partitions)
	if rep.Preload, err = produceTweets(ctx, cfg, broker.addr, tmp+"/truth.csv", cfg.tweets); err != nil {
		return err
	}
	step("preloaded %d records, %.0f MB in %.1fs", rep.Preload.Records, float64(rep.Preload.Bytes)/1e6, rep.Preload.Seconds)
	if len(cfg.groupMembers) > 0 {
		if rep.Group, err = runGroups(ctx, cfg, broker.addr, tmp, rep.Preload); err != nil {
			return fmt.Errorf("group: %w", err)
		}
		printGroups(os.Stdout, rep.Group)
		for _, g := range rep.Group {
			if !g.Exact {
				return errors.New("a group drain did not count exactly the tweets produced")
			}
		}
		return nil
	}

	rep.Rounds = max(cfg.rounds, 1)
	exact := true // every round, not only the best, must count exactly
	for round := 1; round <= rep.Rounds; round++ {
		step("round %d of %d: a. in-process limit", round, rep.Rounds)
		watched := broker.watch(ctx)
		limit, err := runLimit(ctx, broker.addr, "twitter")
		limit.Processes = append(limit.Processes, watched()...)
		if err != nil {
			return fmt.Errorf("a. limit: %w", err)
		}
		limit.Exact = limit.Tweets == rep.Preload.Tweets && limit.Records == rep.Preload.Records
		exact = exact && limit.Exact
		rep.LimitRuns = append(rep.LimitRuns, limit.TweetsPerS)
		if limit.TweetsPerS > rep.Limit.TweetsPerS {
			rep.Limit = limit
		}

		step("round %d of %d: b. full pipeline (kappa-runtime --drain)", round, rep.Rounds)
		watched = broker.watch(ctx)
		pipe, err := runPipeline(ctx, cfg, broker.addr, "kappa_bench", rep.Preload)
		pipe.Processes = append(pipe.Processes, watched()...)
		if err != nil {
			return fmt.Errorf("b. pipeline: %w", err)
		}
		exact = exact && pipe.Exact
		rep.PipelineRuns = append(rep.PipelineRuns, pipe.TweetsPerS)
		if pipe.TweetsPerS > rep.Pipeline.TweetsPerS {
			rep.Pipeline = pipe
		}

		if cfg.pgPipeline != "" {
			step("round %d of %d: b. full pipeline into PostgreSQL (kappa-runtime --drain)", round, rep.Rounds)
			watched = broker.watch(ctx)
			pg, err := runPipelineInto(ctx, cfg, postgresTarget(cfg), broker.addr, "kappa_bench", rep.Preload)
			pg.Processes = append(pg.Processes, watched()...)
			if err != nil {
				return fmt.Errorf("b. pipeline into PostgreSQL: %w", err)
			}
			exact = exact && pg.Exact
			rep.PipelinePostgresRuns = append(rep.PipelinePostgresRuns, pg.TweetsPerS)
			if rep.PipelinePostgres == nil || pg.TweetsPerS > rep.PipelinePostgres.TweetsPerS {
				rep.PipelinePostgres = &pg
			}
		}
	}
	rep.Ratio = rep.Pipeline.TweetsPerS / rep.Limit.TweetsPerS
	broker.stop()

	if cfg.freshFor > 0 {
		step("c. freshness at %.0f records/s for %s", cfg.rate, cfg.freshFor)
		fresh, err := startBroker(cfg, tmp+"/fresh-data")
		if err != nil {
			return err
		}
		defer fresh.stop()
		if rep.Freshness, err = runFreshness(ctx, cfg, fresh.addr, "kappa_bench_fresh", tmp); err != nil {
			return fmt.Errorf("c. freshness: %w", err)
		}
		fresh.stop()
	}

	if cfg.rowsFor > 0 {
		type rowsRun struct {
			rate       float64
			compacting bool
		}
		var runs []rowsRun
		for _, r := range cfg.rowsRates {
			runs = append(runs, rowsRun{r, false})
		}
		if cfg.rowsCompaction {
			runs = append(runs, rowsRun{slices.Max(cfg.rowsRates), true})
		}
		for _, run := range runs {
			step("d. rows at %.0f tweets/s for %s (compaction in the pipeline: %v)", run.rate, cfg.rowsFor, run.compacting)
			rs, err := runRows(ctx, cfg, run.rate, run.compacting, tmp)
			if err != nil {
				return fmt.Errorf("d. rows: %w", err)
			}
			rep.Rows = append(rep.Rows, rs)
			exact = exact && rs.Exact
		}
	}

	printReport(os.Stdout, &rep)
	if err := os.MkdirAll(filepath.Dir(cfg.jsonPath), 0o755); err != nil {
		return err
	}
	data, err := json.MarshalIndent(rep, "", "  ")
	if err != nil {
		return err
	}
	if err := os.WriteFile(cfg.jsonPath, append(data, '\n'), 0o644); err != nil {
		return err
	}
	fmt.Printf("\nwrote %s\n", cfg.jsonPath)
	if !exact || cfg.freshFor > 0 && !rep.Freshness.Exact {
		return errors.New("a run did not count exactly the tweets produced (see report)")
	}
	return nil
}

func step(format string, args ...any) {
	fmt.Fprintf(os.Stderr, "kappa-bench: "+format+"\n", args...)
}

// devBroker is a kappa-dev broker process.
type devBroker struct {
	cmd  *exec.Cmd
	addr string
	done bool
}

func startBroker(cfg benchConfig, dataDir string) (*devBroker, error) {
	cmd := exec.Command(cfg.bin+"/kappa-dev", "broker", "--addr", "127.0.0.1:0", "--topic", "twitter",
		"--partitions", strconv.Itoa(cfg.partitions), "--data-dir", dataDir)
	cmd.Stderr = os.Stderr
	out, err := cmd.StdoutPipe()
	if err != nil {
		return nil, err
	}
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("start %s (make build first): %w", cmd.Path, err)
	}
	b := &devBroker{cmd: cmd}
	line, err := bufio.NewReader(out).ReadString('\n')
	addr, ok := strings.CutPrefix(line, "broker listening on ")
	if err != nil || !ok {
		b.stop()
		return nil, fmt.Errorf("kappa-dev broker printed %q: %v", line, err)
	}
	b.addr, _, _ = strings.Cut(addr, " ")
	go io.Copy(io.Discard, out)
	return b, nil
}

// watch samples the broker's CPU and peak RSS from now until the returned
// function is called, which returns them: the broker serves both runs,
// and its share of the machine is part of either's cost.
func (b *devBroker) watch(ctx context.Context) func() []ProcStats {
	resetPeakRSSOf(b.cmd.Process.Pid)
	w, stop := watchTree(ctx, b.cmd.Process.Pid, 100*time.Millisecond)
	return func() []ProcStats {
		stop()
		ps := w.stats(false)
		for i := range ps {
			ps[i].Name = "kappa-dev broker"
		}
		return ps
	}
}

// stop ends the broker with SIGTERM, which saves its state cleanly.
func (b *devBroker) stop() {
	if b.done {
		return
	}
	b.done = true
	b.cmd.Process.Signal(syscall.SIGTERM)
	b.cmd.Wait()
}

// produceTweets runs kappa-dev tweets and returns its summary.
func produceTweets(ctx context.Context, cfg benchConfig, brokers, truth string, count int, extra ...string) (preload, error) {
	args := append([]string{"tweets", "--brokers", brokers, "--topic", "twitter", "--count", strconv.Itoa(count),
		"--truth", truth, "--seed", strconv.FormatUint(cfg.seed, 10)}, extra...)
	cmd := exec.CommandContext(ctx, cfg.bin+"/kappa-dev", args...)
	cmd.Stderr = os.Stderr
	out, err := cmd.Output()
	if err != nil {
		return preload{}, fmt.Errorf("kappa-dev tweets: %w", err)
	}
	var p preload
	if err := json.Unmarshal(out, &p); err != nil {
		return preload{}, fmt.Errorf("kappa-dev tweets summary %q: %w", out, err)
	}
	return p, nil
}

func pidSelf() int { return os.Getpid() }

func machine() Machine {
	m := Machine{Cores: runtime.NumCPU(), GoVersion: runtime.Version()}
	if data, err := os.ReadFile("/proc/cpuinfo"); err == nil {
		for _, l := range strings.Split(string(data), "\n") {
			if name, ok := strings.CutPrefix(l, "model name"); ok {
				m.CPU = strings.TrimSpace(strings.TrimPrefix(strings.TrimSpace(name), ":"))
				break
			}
		}
	}
	return m
}

func printReport(w io.Writer, r *Report) {
	fmt.Fprintf(w, "\nkappa-bench %s — %d cores, %s, %s\n", r.Time.Format(time.RFC3339), r.Machine.Cores, r.Machine.CPU, r.Machine.GoVersion)
	fmt.Fprintf(w, "backlog: %d records (%d tweets), %.0f MB, %d B/record\n\n",
		r.Preload.Records, r.Preload.Tweets, float64(r.Preload.Bytes)/1e6, r.Preload.Bytes/max(r.Preload.Records, 1))
	run := func(name string, s RunStats) {
		fmt.Fprintf(w, "%s: %.0f tweets/s, %.0f records/s, %.0f MB/s, %.2fs, %d batches, %d rows, exact=%v\n",
			name, s.TweetsPerS, s.RecordsPerS, s.MBPerS, s.Seconds, s.Batches, s.Rows, s.Exact)
		if s.CommitMS != nil {
			fmt.Fprintf(w, "   commit ms: p50 %.1f  p99 %.1f  max %.1f\n", s.CommitMS.P50, s.CommitMS.P99, s.CommitMS.Max)
		}
		procs(w, s.Processes)
	}
	fmt.Fprintf(w, "best of %d rounds (tweets/s per round: a %.0f, b %.0f)\n", r.Rounds, r.LimitRuns, r.PipelineRuns)
	run("a. in-process limit", r.Limit)
	run("b. full pipeline   ", r.Pipeline)
	if r.PipelinePostgres != nil {
		fmt.Fprintf(w, "   (PostgreSQL tweets/s per round: %.0f)\n", r.PipelinePostgresRuns)
		run("b. into PostgreSQL ", *r.PipelinePostgres)
	}
	fmt.Fprintf(w, "ratio b/a: %.2f\n", r.Ratio)
	if f := r.Freshness; f.VisibleMS != nil {
		fmt.Fprintf(w, "c. freshness at %.0f/s, %.0f ms batches: produce→visible ms p50 %.0f  p99 %.0f  max %.0f after %.0fs warm-up (all records: p50 %.0f p99 %.0f max %.0f); commit ms p50 %.1f p99 %.1f; %d batches, exact=%v\n",
			f.Rate, f.Interval, f.VisibleMS.P50, f.VisibleMS.P99, f.VisibleMS.Max, f.WarmupMS/1000,
			f.VisibleAllMS.P50, f.VisibleAllMS.P99, f.VisibleAllMS.Max, f.CommitMS.P50, f.CommitMS.P99, f.Batches, f.Exact)
		procs(w, f.Processes)
	}
	printRows(w, r.Rows)
}

func procs(w io.Writer, ps []ProcStats) {
	for _, p := range ps {
		fmt.Fprintf(w, "   %-26s cpu %6.2fs  peak rss %6.1f MB\n", p.Name, p.CPUSeconds, p.PeakRSSMB)
	}
}
