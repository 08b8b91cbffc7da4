// Command kappa-runtime runs a Kappa pipeline: it loads the pipeline file,
// starts the source, extractor and sink plugins it names, and drives
// micro-batches through them until stopped.
//
//	kappa-runtime [--drain] PIPELINE.yaml
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"os"
	"os/signal"
	"syscall"

	"github.com/hashicorp/go-hclog"
	"github.com/kappa-stream/kappa/runtime/engine"
	"github.com/kappa-stream/kappa/runtime/launch"
	"github.com/kappa-stream/kappa/runtime/pipeline"
	"github.com/kappa-stream/kappa/sdk"
)

const usage = `usage: kappa-runtime [flags] PIPELINE.yaml

Runs the pipeline until SIGINT or SIGTERM (or, with --drain, until every
partition has reached the end its log had at start), then exits 0.

Flags:
`

func main() {
	flags := flag.NewFlagSet("kappa-runtime", flag.ContinueOnError)
	drain := flags.Bool("drain", false, "exit 0 once every partition has reached the end its log had at start")
	logJSON := flags.Bool("log-json", false, "log as JSON lines instead of text")
	flags.Usage = func() {
		fmt.Fprint(os.Stderr, usage)
		flags.PrintDefaults()
	}
	if err := flags.Parse(os.Args[1:]); err != nil {
		os.Exit(2)
	}
	if flags.NArg() != 1 {
		flags.Usage()
		os.Exit(2)
	}

	var handler slog.Handler = slog.NewTextHandler(os.Stderr, nil)
	if *logJSON {
		handler = slog.NewJSONHandler(os.Stderr, nil)
	}
	logger := slog.New(handler)

	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	err := run(ctx, flags.Arg(0), *drain, logger)
	launch.StopAll()
	if err != nil {
		fmt.Fprintf(os.Stderr, "kappa-runtime: %v\n", err)
		os.Exit(1)
	}
}

func run(ctx context.Context, file string, drain bool, logger *slog.Logger) error {
	p, err := pipeline.Load(file)
	if err != nil {
		return err
	}

	// Resolve all three binaries before starting any, so a missing one is
	// reported before anything connects anywhere.
	dirs := launch.SearchPath(file)
	kinds := []struct {
		kind   string
		plugin pipeline.Plugin
		block  string
	}{{sdk.KindSource, p.Source, "source"}, {sdk.KindExtractor, p.Extractor, "extractor"}, {sdk.KindSink, p.Sink, "sink"}}
	paths := make([]string, len(kinds))
	var missing []error
	for i, k := range kinds {
		if paths[i], err = launch.Find(k.plugin.Name, file, dirs); err != nil {
			missing = append(missing, fmt.Errorf("%s: %s.plugin: %w", file, k.block, err))
		}
	}
	if err := errors.Join(missing...); err != nil {
		return err
	}

	pluginLog := hclog.New(&hclog.LoggerOptions{Name: "plugin", Output: os.Stderr, Level: hclog.Info})
	procs := make([]*launch.Process, len(kinds))
	for i, k := range kinds {
		if procs[i], err = launch.Start(k.kind, paths[i], pluginLog, p.Timeouts.Open); err != nil {
			return err
		}
		defer procs[i].Stop()
	}
	source, extractor, sink := procs[0].Source(), procs[1].Extractor(), procs[2].Sink()

	setup := func(pl pipeline.Plugin) sdk.Setup {
		return sdk.Setup{Pipeline: p.Name, Config: pl.Config, Window: p.Window, Dimensions: p.Dimensions}
	}
	openCtx, cancel := context.WithTimeout(ctx, p.Timeouts.Open)
	defer cancel()
	// The source opens first: it reaches the broker, and an unreachable one
	// must stop the run before the sink creates anything.
	info, err := source.Open(openCtx, setup(p.Source))
	if err != nil {
		return pluginError(p, p.Source, "source", err)
	}
	defer source.Close(context.Background())
	if err := extractor.Open(openCtx, setup(p.Extractor)); err != nil {
		return pluginError(p, p.Extractor, "extractor", err)
	}
	defer extractor.Close(context.Background())
	if err := sink.Open(openCtx, setup(p.Sink)); err != nil {
		return pluginError(p, p.Sink, "sink", err)
	}
	defer sink.Close(context.Background())

	logger.Info("pipeline started", "pipeline", p.Name, "file", file, "stream", info.Stream,
		"window", p.Window, "drain", drain, "source", paths[0], "extractor", paths[1], "sink", paths[2])
	eng := engine.New(engine.Config{
		Window:         p.Window,
		Dimensions:     p.Dimensions,
		Limits:         sdk.Limits{MaxRecords: p.Batch.MaxRecords, MaxBytes: p.Batch.MaxBytes, MaxWait: p.Batch.Interval},
		PollTimeout:    p.Timeouts.Poll,
		ExtractTimeout: p.Timeouts.Extract,
		CommitTimeout:  p.Timeouts.Commit,
		Drain:          drain,
		Logger:         logger,
	}, info.Stream, source, extractor, sink)
	if err := eng.Run(ctx); err != nil {
		return fmt.Errorf("pipeline %s: %w", p.Name, err)
	}
	t := eng.Totals()
	logger.Info("pipeline stopped", "pipeline", p.Name, "batches", t.Batches, "records", t.Records,
		"facts", t.Facts, "skipped", t.Skipped, "rejected", t.Rejected, "rows", t.Rows)
	return nil
}

// pluginError places a plugin's config problems at their lines in the
// pipeline file; other errors are named by the plugin that returned them.
func pluginError(p *pipeline.Pipeline, pl pipeline.Plugin, block string, err error) error {
	var problems sdk.ConfigErrors
	if errors.As(err, &problems) {
		return pl.ConfigErrors(problems)
	}
	return fmt.Errorf("%s: %s: %w", p.File, block, err)
}
