package main

import (
	"context"
	"errors"
	"fmt"
	"os"

	"github.com/kappa-stream/kappa/runtime/internal/command"
)

const runUsage = `usage: kappa-runtime [run] [flags] PIPELINE.yaml

Runs the pipeline until SIGINT or SIGTERM (or, with --drain, until every
partition has reached the end its log had at start), then exits 0.

Exit status: 0 when stopped or drained, or when another generation
replaced this pipeline's (kappa-runtime reprocess, rollback; with
on_generation_ended: standby it stands by instead, until its generation is
live again); 1 on an error, including batches
that kept failing for the pipeline's give_up_after; 2 on a usage error;
3 when SIGINT or SIGTERM interrupted --drain before the end (what was
committed stays committed: run --drain again to finish).

Flags:
`

// exitDrainInterrupted is the exit status of a --drain that SIGINT or
// SIGTERM stopped before the end, so that a script can tell it from a
// finished drain (0) and from a failure (1).
const exitDrainInterrupted = 3

func runCommand(ctx context.Context, args []string) int {
	flags := newFlags("run", runUsage)
	drain := flags.Bool("drain", false, "exit 0 once every partition has reached the end its log had at start")
	logJSON := flags.Bool("log-json", false, "log as JSON lines instead of text")
	httpAddr := flags.String("http", "", "serve /metrics, /livez, /readyz and /status on this address (e.g. 127.0.0.1:9464); off when empty")
	file, ok := pipelineArg(flags, args)
	if !ok {
		return 2
	}
	logger := newLogger(*logJSON)
	err := command.RunWith(ctx, file, command.RunOptions{Drain: *drain, HTTP: *httpAddr}, logger)
	if generationEnded(err) {
		// Another generation replaced this one (kappa-runtime reprocess or
		// rollback): said once, and the run is over.
		logger.Info("generation ended: this pipeline's generation was replaced, nothing more is committed", "reason", err)
		return 0
	}
	if errors.Is(err, command.ErrDrainInterrupted) {
		fmt.Fprintf(os.Stderr, "kappa-runtime: %v; run --drain again to finish\n", err)
		return exitDrainInterrupted
	}
	if err != nil {
		return fail(err)
	}
	return 0
}
