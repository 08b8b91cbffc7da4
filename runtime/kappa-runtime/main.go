// Command kappa-runtime runs a Kappa pipeline: it loads the pipeline file,
// starts the source, extractor and sink plugins it names, and drives
// micro-batches through them until stopped.
//
//	kappa-runtime [run] [--drain] PIPELINE.yaml
//
// This package holds the flags, usage and output of each subcommand (one
// file each); what a subcommand does is in runtime/internal/command.
package main

import (
	"context"
	"flag"
	"fmt"
	"log/slog"
	"os"
	"os/signal"
	"syscall"

	"github.com/kappa-stream/kappa/internal/profile"
	"github.com/kappa-stream/kappa/runtime/internal/command"
)

const usage = `usage:
  kappa-runtime [run] [--drain] [--log-json] [--http ADDR] PIPELINE.yaml   run a pipeline
  kappa-runtime audit PIPELINE.yaml                                        check what the sink committed
  kappa-runtime compact [--older-than D] PIPELINE.yaml                     roll settled history up, once, in full
  kappa-runtime adopt [--yes] PIPELINE.yaml                                take over the 2016 Spark job's table and progress
  kappa-runtime reprocess [--drain] [--catch-up D] PIPELINE.yaml        reprocess history into a new generation and swap it in
  kappa-runtime generations PIPELINE.yaml                                  the table's generations, states, positions and lag
  kappa-runtime rollback PIPELINE.yaml                                     swap the previous generation back in
  kappa-runtime retire PIPELINE.yaml                                       drop the tables of retired generations
  kappa-runtime status PIPELINE.yaml                                       committed positions, high watermarks and lag
  kappa-runtime rejected [--reason R] [--partition P] [--limit N] [--raw] PIPELINE.yaml   the rejected records the sink kept
  kappa-runtime validate PIPELINE.yaml                                     check a pipeline file and its plugins' config
  kappa-runtime plugins [--json] [PIPELINE.yaml]                           list the plugins found, with their config fields

Run "kappa-runtime COMMAND -h" for a command's flags.
`

// commands maps subcommand names to their implementations. Each parses its
// own flags and returns the process exit code.
var commands = map[string]func(ctx context.Context, args []string) int{
	"run":      runCommand,
	"audit":    auditCommand,
	"compact":  compactCommand,
	"adopt":    adoptCommand,
	"validate": validateCommand,
	"plugins":  pluginsCommand,
	"status":   statusCommand,
	"rejected": rejectedCommand,

	"reprocess":   reprocessCommand,
	"generations": generationsCommand,
	"rollback":    rollbackCommand,
	"retire":      retireCommand,
}

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	stopProfile := profile.Start("kappa-runtime")
	code := dispatch(ctx, os.Args[1:])
	stopProfile()
	stop()
	command.StopPlugins()
	os.Exit(code)
}

func dispatch(ctx context.Context, args []string) int {
	if len(args) == 0 || args[0] == "-h" || args[0] == "--help" || args[0] == "help" {
		fmt.Fprint(os.Stderr, usage)
		if len(args) == 0 {
			return 2
		}
		return 0
	}
	if cmd, ok := commands[args[0]]; ok {
		return cmd(ctx, args[1:])
	}
	// A pipeline file (or a flag of run) first: `run` is the default command.
	return runCommand(ctx, args)
}

func newLogger(json bool) *slog.Logger {
	if json {
		return slog.New(slog.NewJSONHandler(os.Stderr, nil))
	}
	return slog.New(slog.NewTextHandler(os.Stderr, nil))
}

// newFlags returns a subcommand's flag set, whose usage (on -h or a bad
// flag) is the command's usage text followed by its flags.
func newFlags(name, usage string) *flag.FlagSet {
	flags := flag.NewFlagSet(name, flag.ContinueOnError)
	flags.Usage = func() {
		fmt.Fprint(os.Stderr, usage)
		flags.PrintDefaults()
	}
	return flags
}

// pipelineArg parses a subcommand's args and returns the one
// PIPELINE.yaml they name. ok is false on a usage error (exit status 2):
// a bad flag, not exactly one file, or flag values valid rejects; the
// usage has been printed then.
func pipelineArg(flags *flag.FlagSet, args []string, valid ...func() bool) (file string, ok bool) {
	if err := flags.Parse(args); err != nil {
		return "", false // flag printed the error and the usage
	}
	ok = flags.NArg() == 1
	for _, v := range valid {
		ok = ok && v()
	}
	if !ok {
		flags.Usage()
		return "", false
	}
	return flags.Arg(0), true
}

// fail prints err as the command's one error and returns exit code 1.
func fail(err error) int {
	fmt.Fprintf(os.Stderr, "kappa-runtime: %v\n", err)
	return 1
}
