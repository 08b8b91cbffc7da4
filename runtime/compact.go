package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"time"

	"github.com/kappa-stream/kappa/runtime/engine"
	"github.com/kappa-stream/kappa/runtime/pipeline"
	"github.com/kappa-stream/kappa/sdk"
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
	flags := flag.NewFlagSet("compact", flag.ContinueOnError)
	olderThan := time.Duration(-1) // the pipeline's compaction.after
	flags.Func("older-than", "merge ranges committed longer ago than `D`; 0s merges everything committed (default: the pipeline's compaction.after)", func(v string) error {
		d, err := time.ParseDuration(v)
		if err == nil && d < 0 {
			err = fmt.Errorf("negative")
		}
		olderThan = d
		return err
	})
	flags.Usage = func() {
		fmt.Fprint(os.Stderr, compactUsage)
		flags.PrintDefaults()
	}
	if err := flags.Parse(args); err != nil {
		return 2
	}
	if flags.NArg() != 1 {
		flags.Usage()
		return 2
	}
	if err := compact(ctx, flags.Arg(0), olderThan); err != nil {
		return fail(err)
	}
	return 0
}

// compact starts and opens only the pipeline's sink, as readAudit does, and
// runs one full pass, counting rows before and after from the audit.
func compact(ctx context.Context, file string, olderThan time.Duration) error {
	p, err := pipeline.Load(file)
	if err != nil {
		return err
	}
	if olderThan < 0 {
		olderThan = p.Compaction.After
	}
	sink, closeSink, err := openSinkOnly(ctx, p)
	if err != nil {
		return err
	}
	defer closeSink()
	compactor, ok := sink.(sdk.Compactor)
	if !ok {
		return fmt.Errorf("%s: sink: %w", p.File, sdk.ErrCompactUnsupported)
	}
	auditor, _ := sink.(sdk.Auditor)
	count := func() (rows, batches int64, err error) {
		if auditor == nil {
			return -1, -1, nil
		}
		streams, err := auditor.Audit(ctx)
		if err != nil {
			return 0, 0, fmt.Errorf("%s: sink: count rows: %w", p.File, err)
		}
		for _, st := range streams {
			batches += int64(len(st.Batches))
			for _, g := range st.Aggregates {
				rows += g.Rows
			}
		}
		return rows, batches, nil
	}
	rowsBefore, batchesBefore, err := count()
	if err != nil {
		return err
	}
	began := time.Now()
	res, err := compactor.Compact(ctx, sdk.CompactRequest{OlderThan: olderThan, Full: true})
	took := time.Since(began)
	if err != nil {
		return fmt.Errorf("%s: sink: %w (merged %d spans before it)", p.File, err, res.Spans)
	}
	rowsAfter, batchesAfter, err := count()
	if err != nil {
		return err
	}
	fmt.Printf("pipeline %s: compacted ranges committed more than %v ago in %v\n", p.Name, olderThan, took.Round(time.Millisecond))
	fmt.Printf("spans merged: %d (raced: %d), replacing %d batch records and %d aggregate rows by %d rows\n",
		res.Spans, res.Raced, res.Batches, res.RowsBefore, res.RowsAfter)
	fmt.Printf("aggregate rows: %d before, %d after\n", rowsBefore, rowsAfter)
	fmt.Printf("batch records:  %d before, %d after\n", batchesBefore, batchesAfter)
	return nil
}

// compaction maps the pipeline's compaction keys to the engine's.
func compaction(c pipeline.Compaction) engine.Compaction {
	if !c.Enabled {
		return engine.Compaction{}
	}
	return engine.Compaction{Every: c.Every, After: c.After}
}
