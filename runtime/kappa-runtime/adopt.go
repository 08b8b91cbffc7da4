package main

import (
	"context"
	"fmt"
	"io"
	"os"
	"slices"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/kappa-stream/kappa/runtime/internal/command"
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
	flags := newFlags("adopt", adoptUsage)
	yes := flags.Bool("yes", false, "record the positions found; without it adopt only shows them")
	file, ok := pipelineArg(flags, args)
	if !ok {
		return 2
	}
	found, err := command.Adopt(ctx, file, *yes)
	if err != nil {
		return fail(err)
	}
	printAdoption(os.Stdout, found)
	switch {
	case len(found.Refusals) > 0:
		return fail(fmt.Errorf("%s: adopt refused: %s", found.File, strings.Join(found.Refusals, "; ")))
	case !found.Recorded:
		fmt.Println("nothing recorded: run again with --yes to record these positions")
	}
	return 0
}

// printAdoption writes what adopt found, per partition, and what it did.
func printAdoption(w io.Writer, a command.Adoption) {
	id := a.Info.StreamID
	if id == "" {
		id = "none reported"
	}
	fmt.Fprintf(w, "pipeline %s: table %s, stream %s (ID %s)\n", a.Pipeline, a.Table, a.Info.Stream, id)
	ends := map[int32]int64{}
	for _, m := range a.LogEnds {
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
	for _, m := range a.LogEnds {
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
