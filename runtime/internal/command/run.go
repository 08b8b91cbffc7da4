package command

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"time"

	"github.com/kappa-stream/kappa/internal/arena"
	"github.com/kappa-stream/kappa/internal/engine"
	"github.com/kappa-stream/kappa/internal/pipeline"
	"github.com/kappa-stream/kappa/internal/supervise"
	"github.com/kappa-stream/kappa/sdk"
)

// ErrDrainInterrupted is what Run returns when ctx ended a drain before
// every partition reached its end; what was committed stays committed.
var ErrDrainInterrupted = engine.ErrDrainInterrupted

// Run runs the pipeline of file until ctx ends or, with drain, until every
// partition has reached the end its log had at start. A drain that ctx
// stops, even while starting, returns an error that is
// ErrDrainInterrupted.
func Run(ctx context.Context, file string, drain bool, logger *slog.Logger) error {
	return RunWith(ctx, file, RunOptions{Drain: drain}, logger)
}

// RunOptions are run's flags.
type RunOptions struct {
	// Drain: see Run.
	Drain bool
	// HTTP, when set, is the address /metrics, /livez, /readyz and
	// /status are served on while the pipeline runs (http.go).
	HTTP string
	// Reprocess makes the run a new generation of the pipeline's output
	// (kappa-runtime reprocess): it reads the retained log from the live
	// generation's first offsets into its own table and swaps it in once
	// every partition is within CatchUp of its log end (generations.go).
	// With Drain it exits once caught up after the swap.
	Reprocess bool
	CatchUp   time.Duration

	// http serves the current run's monitor on HTTP; set by RunWith.
	http *handlerSwitch
}

// RunWith is Run with every option.
func RunWith(ctx context.Context, file string, opts RunOptions, logger *slog.Logger) error {
	drain := opts.Drain
	if opts.HTTP != "" {
		// Listened on once: a run that stood by and resumes (standby.go)
		// serves on the same address without a gap.
		opts.http = &handlerSwitch{}
		stop, err := serve(ctx, opts.HTTP, opts.http, logger)
		if err != nil {
			return err
		}
		defer stop()
	}
	err := run(ctx, file, opts, logger)
	for errors.Is(err, errLiveAgain) {
		err = run(ctx, file, opts, logger)
	}
	if err != nil && drain && ctx.Err() != nil && !errors.Is(err, ErrDrainInterrupted) {
		// Stopped while starting: the drain did not even begin.
		err = fmt.Errorf("%w: %w", ErrDrainInterrupted, err)
	}
	return err
}

func run(ctx context.Context, file string, opts RunOptions, logger *slog.Logger) error {
	drain := opts.Drain
	if opts.Reprocess {
		// The cutover drains, after the swap; the engine runs until then.
		drain = false
	}
	p, err := pipeline.Load(file)
	if err != nil {
		return err
	}
	var prog *progress
	if drain && stderrIsTerminal() {
		prog = newProgress(os.Stderr)
		logger = slog.New(prog.handler(logger.Handler()))
		defer prog.done()
	}
	// Every line names the pipeline, the plugins' too.
	logger = logger.With("pipeline", p.Name)
	bs := blocks(p)
	paths, err := findPlugins(p, bs)
	if err != nil {
		return err
	}
	shared := newArena(p.Batch.MaxBytes, logger)
	defer shared.Close()
	// Each plugin runs under a supervisor that restarts it when it dies or
	// stops answering; the engine then resumes from committed positions.
	procs := make([]*supervise.Plugin, len(bs))
	for i, b := range bs {
		cfg := supervise.Config{StartTimeout: p.Timeouts.Open, Logger: logger, PluginLogger: pluginLogger(logger), Arena: shared, Env: b.plugin.Env}
		if procs[i], err = supervise.Start(b.kind, paths[i], cfg); err != nil {
			return err
		}
		defer procs[i].Stop()
	}
	source, extractor, sink := procs[0].Source(), procs[1].Extractor(), procs[2].Sink()
	var observer engine.Observer
	var m *monitor
	if opts.HTTP != "" {
		views := make([]pluginView, len(bs))
		for i, b := range bs {
			views[i] = pluginView{kind: b.kind, binary: paths[i], restarts: procs[i].Restarts, pid: procs[i].Pid, lastDeath: procs[i].LastDeath}
		}
		// The longest a turn of the engine's loop may take: a poll, an
		// extraction and a commit in a row, and the longest backoff.
		stall := p.Batch.Interval + p.Timeouts.Poll + p.Timeouts.Extract + p.Timeouts.Commit + 10*time.Second
		m = newMonitor(p.Name, file, p.Batch.Interval, stall, views, p.Redacted())
		m.windows = newWindowCache(sink, p.Timeouts.Commit)
		opts.http.set(m.handler())
		observer = m
	}
	if prog != nil {
		observer = observers{prog}
		if m != nil {
			observer = observers{m, prog}
		}
	}

	openCtx, cancel := context.WithTimeout(ctx, p.Timeouts.Open)
	defer cancel()
	// The source opens first: it reaches the broker, and an unreachable one
	// must stop the run before the sink creates anything.
	info, err := source.Open(openCtx, setup(p, p.Source))
	if err != nil {
		return pluginError(p, bs[0], err)
	}
	defer closeQuietly(source)
	if m != nil && info.Group != "" {
		m.setGroup(info.Group)
	}
	if err := extractor.Open(openCtx, setup(p, p.Extractor)); err != nil {
		return pluginError(p, bs[1], err)
	}
	defer closeQuietly(extractor)
	sinkSetup := setup(p, p.Sink)
	sinkSetup.Reprocessing = opts.Reprocess
	if err := sink.Open(openCtx, sinkSetup); err != nil {
		return pluginError(p, bs[2], err)
	}
	defer closeQuietly(sink)
	var cut *cutover
	if opts.Reprocess {
		// Read before the engine starts: a source's calls are never
		// concurrent.
		marks, err := source.Watermarks(openCtx)
		if err != nil {
			return pluginError(p, bs[0], fmt.Errorf("read the log starts of stream %s: %w", info.Stream, err))
		}
		res, err := beginReprocess(openCtx, p, sink, info, marks)
		if err != nil {
			return err
		}
		logger.Info("reprocessing", "generation", res.Bound, "table", res.Table)
		readMarks, stop, err := startMarksSource(ctx, p, paths[0])
		if err != nil {
			return err
		}
		defer stop()
		cut = &cutover{gens: sink, marks: readMarks, stream: info.Stream, catchUp: opts.CatchUp, drain: opts.Drain, logger: logger}
	}
	limits, sinkVersion, err := factLimits(openCtx, procs[2])
	if err != nil {
		return pluginError(p, bs[2], err)
	}
	dead, err := deadLetterPolicy(openCtx, sink)
	if err != nil {
		return pluginError(p, bs[2], err)
	}
	if m != nil {
		// One Describe each, for /status; the sink's was the one above.
		m.setPluginVersion(sdk.KindSource, pluginVersion(openCtx, procs[0]))
		m.setPluginVersion(sdk.KindExtractor, pluginVersion(openCtx, procs[1]))
		m.setPluginVersion(sdk.KindSink, sinkVersion)
	}

	logger.Info("pipeline started", "file", file, "stream", info.Stream, "stream_id", info.StreamID,
		"window", p.Window, "drain", drain, "source", paths[0], "extractor", paths[1], "sink", paths[2])
	eng := engine.New(engine.Config{
		Window:         p.Window,
		Dimensions:     p.Dimensions,
		FactLimits:     limits,
		Limits:         sdk.Limits{MaxRecords: p.Batch.MaxRecords, MaxBytes: p.Batch.MaxBytes, MaxWait: p.Batch.Interval},
		PollTimeout:    p.Timeouts.Poll,
		ExtractTimeout: p.Timeouts.Extract,
		CommitTimeout:  p.Timeouts.Commit,
		Drain:          drain,
		OnFenced:       p.OnFenced,
		RetryFor:       p.GiveUpAfter,
		Logger:         logger,
		Compaction:     compaction(p.Compaction),
		StreamID:       info.StreamID,
		Group:          info.Group != "",
		Observer:       observer,
		DeadLetters:    dead,
	}, info.Stream, source, extractor, sink)
	err = runEngine(ctx, eng, cut, sink)
	if errors.Is(err, sdk.ErrGenerationEnded) && p.OnGenerationEnded == pipeline.GenerationEndedStandby && !opts.Reprocess {
		gens, ok := any(sink).(sdk.Generations)
		if !ok {
			return fmt.Errorf("pipeline %s: %w", p.Name, err)
		}
		if err := standBy(ctx, gens, err, m, logger); err != nil {
			return err
		}
		return nil
	}
	if kind, ok := engine.ContractBreaker(err); ok {
		for i, b := range bs {
			if b.kind == kind {
				return fmt.Errorf("pipeline %s: %w (the %s plugin run is %s)", p.Name, err, kind, paths[i])
			}
		}
	}
	if err != nil {
		return fmt.Errorf("pipeline %s: %w", p.Name, err)
	}
	t := eng.Totals()
	logger.Info("pipeline stopped", "batches", t.Batches, "records", t.Records,
		"facts", t.Facts, "skipped", t.Skipped, "rejected", t.Rejected, "rows", t.Rows)
	return nil
}

// arenaSlots is how many batches' values the arena holds at once: the
// engine releases a batch once it is extracted, so besides the one being
// extracted there are those polled ahead, one of which may still be
// polling. A Poll that finds no free slot sends its values inside the
// message.
const arenaSlots = engine.DefaultPollAhead + 1

// newArena creates the memory the source and extractor processes share
// (internal/arena), with slots for batches of maxBytes and the one record
// a batch may hold beyond them; a partition's values that do not fit are
// sent inside the message. Without an arena every value is; that is only
// slower, so a failure is logged, not returned.
func newArena(maxBytes int64, logger *slog.Logger) *arena.Arena {
	if !arena.Supported {
		return nil
	}
	slot := maxBytes + max(maxBytes/4, 1<<20)
	a, err := arena.New(arenaSlots, slot)
	if err != nil {
		logger.Warn("no shared memory for batches; their values travel inside the messages", "err", err)
		return nil
	}
	return a
}

// runEngine runs eng, and beside it the reprocess's cutover when there is
// one: an error of either stops both; a drained cutover stops the engine.
func runEngine(ctx context.Context, eng *engine.Engine, cut *cutover, sink sdk.Sink) error {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	cutErr := make(chan error, 1)
	go func() {
		var err error
		if cut != nil {
			err = cut.run(ctx)
		} else {
			// A generation replaced while the topic is idle is noticed
			// here, not at a commit.
			err = watchGeneration(ctx, sink, generationWatch)
		}
		if err != nil {
			cancel()
		}
		cutErr <- err
	}()
	err := eng.Run(ctx)
	cancel()
	cerr := <-cutErr
	switch {
	case err != nil:
		return err
	case errors.Is(cerr, errDrained):
		return nil
	case errors.Is(cerr, sdk.ErrGenerationEnded):
		return cerr
	case cerr != nil && !errors.Is(cerr, context.Canceled):
		return fmt.Errorf("cutover: %w", cerr)
	}
	return nil
}
