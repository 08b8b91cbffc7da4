package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/kappa-stream/kappa/runtime/internal/command"
	"github.com/kappa-stream/kappa/sdk"
)

const reprocessUsage = `usage: kappa-runtime reprocess [--drain] [--catch-up D] [--log-json] PIPELINE.yaml

The Kappa recipe in one command. Creates the next generation of the
pipeline's table with its own table (<table>__gN) and its own positions,
starting at the live generation's first offsets, and reprocesses the
retained log into it while the live pipeline keeps running. It refuses,
naming the offsets it would miss, when retention deleted history the live
generation read. When every partition is within --catch-up of its log
end it cuts over: it freezes the live generation (no commit of it lands
afterwards; its runtimes exit 0), lets the new one pass the frozen
positions, renames the tables (RENAME TABLE <table> TO <table>__g<M>,
<table>__gN TO <table>: atomic for readers) and marks the new generation
live and the old one retired (its table kept for rollback). Each step is
recorded: run the command again after a crash and it resumes. Afterwards
it keeps running as the live pipeline, or with --drain exits 0 once
caught up. PIPELINE.yaml may differ from the live one (extractor,
dimensions, window) but writes the same table. The sink must keep
generations (sdk.Generations).

Flags:
`

func reprocessCommand(ctx context.Context, args []string) int {
	flags := newFlags("reprocess", reprocessUsage)
	drain := flags.Bool("drain", false, "exit 0 once caught up after the swap")
	catchUp := flags.Duration("catch-up", 5*time.Second, "cut over once every partition is within this of its log end")
	logJSON := flags.Bool("log-json", false, "log as JSON lines instead of text")
	file, ok := pipelineArg(flags, args, func() bool { return *catchUp >= 0 })
	if !ok {
		return 2
	}
	err := command.RunWith(ctx, file, command.RunOptions{Drain: *drain, Reprocess: true, CatchUp: *catchUp}, newLogger(*logJSON))
	if err != nil && ctx.Err() == nil {
		return fail(err)
	}
	return 0
}

const generationsUsage = `usage: kappa-runtime generations PIPELINE.yaml

Lists the generations of the pipeline's table: each one's pipeline, state
(shadow, live, frozen, retired, dropped), cutover step, physical table,
positions and lag behind the log end. The source and the sink are started;
the broker must be up.
`

func generationsCommand(ctx context.Context, args []string) int {
	file, ok := pipelineArg(newFlags("generations", generationsUsage), args)
	if !ok {
		return 2
	}
	res, marks, err := command.Generations(ctx, file, sdk.GenerationList, true)
	if err != nil {
		return fail(err)
	}
	printGenerations(os.Stdout, res, marks)
	return 0
}

const rollbackUsage = `usage: kappa-runtime rollback PIPELINE.yaml

Swaps the generation the live one replaced back in, while its table is
kept (not retired with kappa-runtime retire): the live generation is
frozen (its runtimes exit 0), the tables are renamed back and the previous
generation is marked live; run its pipeline file to continue it from its
positions (it counts what arrived since the cutover). Each step is
recorded: run it again after a crash.
`

func rollbackCommand(ctx context.Context, args []string) int {
	return generationStep(ctx, "rollback", rollbackUsage, sdk.GenerationRollback, args)
}

const retireUsage = `usage: kappa-runtime retire PIPELINE.yaml

Drops the tables of retired generations of the pipeline's table (needs
the DROP privilege); they can no longer be rolled back to.
`

func retireCommand(ctx context.Context, args []string) int {
	return generationStep(ctx, "retire", retireUsage, sdk.GenerationRetire, args)
}

func generationStep(ctx context.Context, name, usage string, op sdk.GenerationOp, args []string) int {
	file, ok := pipelineArg(newFlags(name, usage), args)
	if !ok {
		return 2
	}
	res, _, err := command.Generations(ctx, file, op, false)
	if err != nil {
		return fail(err)
	}
	printGenerations(os.Stdout, res, nil)
	if len(res.Refusals) > 0 {
		return fail(fmt.Errorf("%s: %s refused: %s", file, name, strings.Join(res.Refusals, "; ")))
	}
	if !res.Done {
		fmt.Printf("%s: nothing to do\n", name)
	}
	return 0
}

// printGenerations writes one line per generation and partition.
func printGenerations(w io.Writer, res sdk.GenerationsResult, marks []sdk.Watermark) {
	ends := map[int32]int64{}
	for _, m := range marks {
		ends[m.Partition] = m.End
	}
	fmt.Fprintf(w, "table %s\n", res.Table)
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "generation\tpipeline\tstate\tstep\ttable\tpartition\tposition\tlag")
	for _, g := range res.Generations {
		if len(g.Positions) == 0 {
			fmt.Fprintf(tw, "%d\t%s\t%s\t%s\t%s\t\t\t\n", g.Number, g.Pipeline, g.State, g.Step, g.PhysicalTable)
		}
		for _, p := range g.Positions {
			lag := ""
			if e, ok := ends[p.Partition]; ok {
				lag = fmt.Sprint(e - p.NextOffset)
			}
			fmt.Fprintf(tw, "%d\t%s\t%s\t%s\t%s\t%d\t%d\t%s\n", g.Number, g.Pipeline, g.State, g.Step, g.PhysicalTable, p.Partition, p.NextOffset, lag)
		}
	}
	tw.Flush()
	for _, r := range res.Refusals {
		fmt.Fprintln(w, "REFUSED:", r)
	}
}

// generationEnded reports a run that stopped because its generation was
// replaced: that is the end of its work, not a failure.
func generationEnded(err error) bool { return errors.Is(err, command.ErrGenerationEnded) }
