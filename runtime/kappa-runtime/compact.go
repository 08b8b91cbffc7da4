package main

import (
	"context"
	"fmt"
	"time"

	"github.com/kappa-stream/kappa/runtime/internal/command"
)

const compactUsage = `usage: kappa-runtime compact [--older-than D] PIPELINE.yaml

Runs one full compaction pass on the pipeline's sink: for every partition,
the ranges committed longer than D ago become one span, with one aggregate
row per window (and dimensions) and one batch record. Sums per window never
change, each span is one transaction, and it may run while the pipeline
runs. Prints the aggregate rows and batch records before and after, and
exits 0. Only the sink is started; the sink must implement compaction
(sdk.Compactor) and audits (sdk.Auditor, for the counts).

Flags:
`

func compactCommand(ctx context.Context, args []string) int {
	flags := newFlags("compact", compactUsage)
	olderThan := time.Duration(-1) // the pipeline's compaction.after
	flags.Func("older-than", "merge ranges committed longer ago than `D`; 0s merges everything committed (default: the pipeline's compaction.after)", func(v string) error {
		d, err := time.ParseDuration(v)
		if err == nil && d < 0 {
			err = fmt.Errorf("negative")
		}
		olderThan = d
		return err
	})
	file, ok := pipelineArg(flags, args)
	if !ok {
		return 2
	}
	c, err := command.Compact(ctx, file, olderThan)
	if err != nil {
		return fail(err)
	}
	fmt.Printf("pipeline %s: compacted ranges committed more than %v ago in %v\n", c.Pipeline, c.OlderThan, c.Took.Round(time.Millisecond))
	fmt.Printf("spans merged: %d (raced: %d), replacing %d batch records and %d aggregate rows by %d rows\n",
		c.Result.Spans, c.Result.Raced, c.Result.Batches, c.Result.RowsBefore, c.Result.RowsAfter)
	fmt.Printf("aggregate rows: %d before, %d after\n", c.RowsBefore, c.RowsAfter)
	fmt.Printf("batch records:  %d before, %d after\n", c.BatchesBefore, c.BatchesAfter)
	return 0
}
