// Package command is what kappa-runtime's subcommands do: run a pipeline
// (Run), check a pipeline file and its plugins' config (Validate), list the
// plugins on the search path (ListPlugins), check what a sink committed
// (ReadAudit, CheckAudit) and roll settled history up (Compact). The
// binary's package main (runtime/kappa-runtime) parses the flags, calls one
// of these and prints the outcome; nothing here reads flags or picks an
// exit code.
package command

import "github.com/kappa-stream/kappa/internal/launch"

// StopPlugins stops every plugin process still running and removes their
// sockets' folder; kappa-runtime calls it once, on the way out.
func StopPlugins() { launch.StopAll() }
