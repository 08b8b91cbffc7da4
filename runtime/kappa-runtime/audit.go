package main

import (
	"context"
	"fmt"
	"os"

	"github.com/kappa-stream/kappa/runtime/internal/command"
)

const auditUsage = `usage: kappa-runtime audit PIPELINE.yaml

Checks what the pipeline's sink committed: per partition, the committed
ranges are contiguous and non-overlapping from the first committed offset up
to the committed position (a position without ranges is where a partition
starts, nothing read yet), every aggregate row belongs to a committed range,
and each range's counters add up (facts = the sum of its rows' counts;
skipped + rejected <= records <= end - start). Prints a summary table and
exits 1 on any gap, overlap or mismatch. Only the sink is started; the
broker is not needed. The sink must implement audits (sdk.Auditor).
`

func auditCommand(ctx context.Context, args []string) int {
	file, ok := pipelineArg(newFlags("audit", auditUsage), args)
	if !ok {
		return 2
	}
	streams, err := command.ReadAudit(ctx, file)
	if err != nil {
		return fail(err)
	}
	clean := true
	for _, st := range streams {
		r := command.CheckAudit(st)
		r.Print(os.Stdout)
		clean = clean && r.Clean()
	}
	if !clean {
		fmt.Fprintln(os.Stderr, "kappa-runtime: audit failed")
		return 1
	}
	return 0
}
