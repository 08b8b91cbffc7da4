package main

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"strings"
	"text/tabwriter"

	"github.com/kappa-stream/kappa/runtime/internal/command"
)

const pluginsUsage = `usage: kappa-runtime plugins [--json] [PIPELINE.yaml]

Lists the plugins kappa-runtime finds beside the kappa-runtime binary and
in each folder of $KAPPA_PLUGIN_PATH (and, given a pipeline file, in its
folder first), with kind, version and the config fields each accepts.
Only Go binaries built with the Kappa SDK's Serve functions are started, and
only to ask them; other executables are never run. (A plugin written in
another language is not listed, but runs, and validate checks it.)

Flags:
`

func pluginsCommand(ctx context.Context, args []string) int {
	flags := newFlags("plugins", pluginsUsage)
	asJSON := flags.Bool("json", false, "print a JSON array instead of text")
	if err := flags.Parse(args); err != nil {
		return 2
	}
	if flags.NArg() > 1 {
		flags.Usage()
		return 2
	}
	found, skipped, dirs := command.ListPlugins(ctx, flags.Arg(0))
	if *asJSON {
		enc := json.NewEncoder(os.Stdout)
		enc.SetIndent("", "  ")
		if err := enc.Encode(found); err != nil {
			return fail(err)
		}
	} else {
		printPlugins(found)
	}
	for _, s := range skipped {
		fmt.Fprintf(os.Stderr, "skipped %s\n", s)
	}
	if len(found) == 0 {
		fmt.Fprintf(os.Stderr, "no plugins found in %s\n", strings.Join(dirs, ", "))
	}
	return 0
}

func printPlugins(found []command.FoundPlugin) {
	w := tabwriter.NewWriter(os.Stdout, 0, 4, 2, ' ', 0)
	for i, p := range found {
		if i > 0 {
			fmt.Fprintln(w)
		}
		fmt.Fprintf(w, "%s\t%s\t%s\t%s\n", p.Name, p.Kind, p.Version, p.Path)
		if p.Description != "" {
			fmt.Fprintf(w, "  %s\n", p.Description)
		}
		if !p.ConfigDescribed {
			fmt.Fprintln(w, "  config: not described")
			continue
		}
		if len(p.Fields) == 0 {
			fmt.Fprintln(w, "  config: none")
			continue
		}
		fmt.Fprintln(w, "  config:")
		for _, f := range p.Fields {
			var attrs []string
			if f.Required {
				attrs = append(attrs, "required")
			}
			if f.Default != "" {
				attrs = append(attrs, "default "+f.Default)
			}
			typ := f.Type
			if len(f.Enum) > 0 {
				typ = "one of " + strings.Join(f.Enum, ", ")
			}
			fmt.Fprintf(w, "    %s\t%s\t%s\t%s\n", f.Name, typ, strings.Join(attrs, ", "), f.Description)
		}
	}
	w.Flush()
}
