package main

import (
	"context"
	"os"

	"github.com/kappa-stream/kappa/runtime/internal/command"
)

const statusUsage = `usage: kappa-runtime status PIPELINE.yaml

Prints each partition's committed position (from the sink), high watermark
(from the source) and lag, the last commit time where the sink records it,
and the total lag. No runtime needs to run: the source and sink plugins are
started on their own, and only read.
`

func statusCommand(ctx context.Context, args []string) int {
	file, ok := pipelineArg(newFlags("status", statusUsage), args)
	if !ok {
		return 2
	}
	s, err := command.ReadStatus(ctx, file)
	if err != nil {
		return fail(err)
	}
	s.Print(os.Stdout)
	return 0
}
