package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"os"
	"slices"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/kappa-stream/kappa/runtime/launch"
	"github.com/kappa-stream/kappa/runtime/pipeline"
	"github.com/kappa-stream/kappa/sdk"
)

const adoptUsage = `usage: kappa-runtime adopt [--yes] PIPELINE.yaml

Takes over a table that a program before Kappa counted the same stream
into (the 2016 Spark job), with its progress, so that the pipeline
continues where that program stopped instead of counting everything
again. Stop the program first. adopt derives each partition's position
from the rows the way the 2016 job resumed, max(end_offset) per
partition, and shows what it found: partitions, positions, rows, the
earliest and latest window. With --yes it records those positions and one
adopted range per partition (counters unknown; the audit says so) in one
transaction; partitions without rows start at the source's start:.
It refuses, with the reason, when the rows cannot be one program's output
read from the stream as it is (overlapping ranges of a partition, a
max(end_offset) past the partition's log end), or when the pipeline has
positions already (adopted before, or run). The source and the sink are
started; the broker must be up. The sink must implement adoption
(sdk.Adopter).

Flags:
`

func adoptCommand(ctx context.Context, args []string) int {
	flags := flag.NewFlagSet("adopt", flag.ContinueOnError)
	yes := flags.Bool("yes", false, "record the positions found; without it adopt only shows them")
	flags.Usage = func() {
		fmt.Fprint(os.Stderr, adoptUsage)
		flags.PrintDefaults()
	}
	if err := flags.Parse(args); err != nil {
		return 2
	}
	if flags.NArg() != 1 {
		flags.Usage()
		return 2
	}
	found, err := adopt(ctx, flags.Arg(0), *yes)
	if err != nil {
		return fail(err)
	}
	found.print(os.Stdout)
	switch {
	case len(found.Refusals) > 0:
		return fail(fmt.Errorf("%s: adopt refused: %s", found.file, strings.Join(found.Refusals, "; ")))
	case !found.Recorded:
		fmt.Println("nothing recorded: run again with --yes to record these positions")
	}
	return 0
}

// adoption is what adopt found, with what the source reported.
type adoption struct {
	sdk.Adoption
	file, pipeline string
	info           sdk.SourceInfo
	logEnds        []sdk.Watermark
}

// adopt starts and opens the pipeline's source, for the stream's ID and
// log ends, and its sink, opened to adopt, and asks the sink to adopt.
func adopt(ctx context.Context, file string, record bool) (adoption, error) {
	p, err := pipeline.Load(file)
	if err != nil {
		return adoption{}, err
	}
	bs := blocks(p)
	src, snk := bs[0], bs[2]
	paths, err := findPlugins(p, []block{src, snk})
	if err != nil {
		return adoption{}, err
	}
	openCtx, cancel := context.WithTimeout(ctx, p.Timeouts.Open)
	defer cancel()

	sourceProc, err := launch.Start(src.kind, paths[0], pluginLogger(), p.Timeouts.Open, nil, src.plugin.Env)
	if err != nil {
		return adoption{}, err
	}
	defer sourceProc.Stop()
	source := sourceProc.Source()
	info, err := source.Open(openCtx, setup(p, p.Source))
	if err != nil {
		return adoption{}, pluginError(p, src, err)
	}
	defer closeQuietly(source)
	logEnds, err := source.Watermarks(openCtx)
	if err != nil {
		return adoption{}, pluginError(p, src, fmt.Errorf("read the log ends of stream %s: %w", info.Stream, err))
	}

	sinkProc, err := launch.Start(snk.kind, paths[1], pluginLogger(), p.Timeouts.Open, nil, snk.plugin.Env)
	if err != nil {
		return adoption{}, err
	}
	defer sinkProc.Stop()
	sink := sinkProc.Sink()
	s := setup(p, p.Sink)
	s.Adopting = true
	if err := sink.Open(openCtx, s); err != nil {
		return adoption{}, pluginError(p, snk, err)
	}
	defer closeQuietly(sink)
	adopter, ok := sink.(sdk.Adopter)
	if !ok {
		return adoption{}, fmt.Errorf("%s: sink: %w", p.File, sdk.ErrAdoptUnsupported)
	}
	found, err := adopter.Adopt(ctx, sdk.AdoptRequest{Stream: info.Stream, StreamID: info.StreamID, LogEnds: logEnds, Record: record})
	if err != nil {
		return adoption{}, pluginError(p, snk, err)
	}
	return adoption{Adoption: found, file: p.File, pipeline: p.Name, info: info, logEnds: logEnds}, nil
}

// print writes what was found, per partition, and what was done.
func (a adoption) print(w io.Writer) {
	id := a.info.StreamID
	if id == "" {
		id = "none reported"
	}
	fmt.Fprintf(w, "pipeline %s: table %s, stream %s (ID %s)\n", a.pipeline, a.Table, a.info.Stream, id)
	ends := map[int32]int64{}
	for _, m := range a.logEnds {
		ends[m.Partition] = m.End
	}
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "partition\tfirst\tposition\tlog end\tranges\trows\tcount\tearliest window\tlatest window")
	var total sdk.AdoptedRange
	for _, p := range a.Partitions {
		end := "none"
		if e, ok := ends[p.Partition]; ok {
			end = fmt.Sprint(e)
		}
		fmt.Fprintf(tw, "%d\t%d\t%d\t%s\t%d\t%d\t%d\t%s\t%s\n", p.Partition, p.Start, p.End, end, p.Ranges, p.Rows, p.Count,
			p.FirstWindow.Format(time.DateTime), p.LastWindow.Format(time.DateTime))
		total.Ranges += p.Ranges
		total.Rows += p.Rows
		total.Count += p.Count
	}
	fmt.Fprintf(tw, "all\t\t\t\t%d\t%d\t%d\t\t\n", total.Ranges, total.Rows, total.Count)
	tw.Flush()
	var fresh []string
	for _, m := range a.logEnds {
		if !slices.ContainsFunc(a.Partitions, func(p sdk.AdoptedRange) bool { return p.Partition == m.Partition }) {
			fresh = append(fresh, fmt.Sprint(m.Partition))
		}
	}
	if len(fresh) > 0 {
		fmt.Fprintf(w, "partitions without rows, which start at the source's start: %s\n", strings.Join(fresh, ", "))
	}
	for _, r := range a.Refusals {
		fmt.Fprintln(w, "REFUSED:", r)
	}
	if a.Recorded {
		fmt.Fprintf(w, "recorded: %d positions and %d adopted ranges; the pipeline continues from them (windows of the adopted rows stay as they were written)\n",
			len(a.Partitions), len(a.Partitions))
	}
}
