package main

import (
	"context"
	"fmt"
	"os"

	"github.com/kappa-stream/kappa/runtime/internal/command"
)

const validateUsage = `usage: kappa-runtime validate PIPELINE.yaml

Checks a pipeline file without running it: the YAML, that every plugin it
names is found, and each plugin's config: block against the schema the
plugin serves. Plugins are started only to answer; none is opened, so
nothing connects to a broker or database, and nothing is read or written.
Every problem is printed at once as FILE:LINE:COL: PATH: MESSAGE; the exit
code is 1 if there is any, 0 otherwise.
`

func validateCommand(ctx context.Context, args []string) int {
	file, ok := pipelineArg(newFlags("validate", validateUsage), args)
	if !ok {
		return 2
	}
	problems, notes, err := command.Validate(ctx, file)
	if err != nil {
		return fail(err)
	}
	for _, n := range notes {
		fmt.Fprintf(os.Stderr, "note: %s\n", n)
	}
	if len(problems) > 0 {
		fmt.Fprintln(os.Stderr, problems.Error())
		fmt.Fprintf(os.Stderr, "%d problem(s)\n", len(problems))
		return 1
	}
	fmt.Fprintf(os.Stderr, "%s: ok\n", file)
	return 0
}
