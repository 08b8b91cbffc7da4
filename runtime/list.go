package main

import (
	"cmp"
	"context"
	"debug/elf"
	"debug/gosym"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/hashicorp/go-hclog"

	"github.com/kappa-stream/kappa/runtime/launch"
	"github.com/kappa-stream/kappa/sdk"
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

// listedPlugin is one line of the listing.
type listedPlugin struct {
	Path string `json:"path"`
	sdk.Info
}

func pluginsCommand(ctx context.Context, args []string) int {
	flags := flag.NewFlagSet("plugins", flag.ContinueOnError)
	asJSON := flags.Bool("json", false, "print a JSON array instead of text")
	flags.Usage = func() {
		fmt.Fprint(os.Stderr, pluginsUsage)
		flags.PrintDefaults()
	}
	if err := flags.Parse(args); err != nil {
		return 2
	}
	if flags.NArg() > 1 {
		flags.Usage()
		return 2
	}
	dirs := launch.SearchPath(flags.Arg(0))
	if flags.NArg() == 0 {
		dirs = dirs[1:] // SearchPath puts the pipeline's folder first
	}
	found, skipped := findAllPlugins(ctx, dirs)
	order := []string{sdk.KindSource, sdk.KindExtractor, sdk.KindSink}
	slices.SortStableFunc(found, func(a, b listedPlugin) int {
		return cmp.Or(cmp.Compare(slices.Index(order, a.Kind), slices.Index(order, b.Kind)), strings.Compare(a.Name, b.Name))
	})
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

// findAllPlugins asks every executable of dirs what it is. A name found in
// several folders is listed once, from the first, as Find resolves it.
func findAllPlugins(ctx context.Context, dirs []string) (found []listedPlugin, skipped []string) {
	self, _ := os.Executable()
	self, _ = filepath.EvalSymlinks(self)
	seen := map[string]bool{}
	for _, dir := range dirs {
		entries, err := os.ReadDir(dir)
		if err != nil {
			continue // a folder of the path that does not exist
		}
		for _, e := range entries {
			path := filepath.Join(dir, e.Name())
			info, err := os.Stat(path)
			if err != nil || info.IsDir() || info.Mode()&0o111 == 0 || seen[e.Name()] {
				continue
			}
			if resolved, _ := filepath.EvalSymlinks(path); resolved == self {
				continue
			}
			seen[e.Name()] = true
			if !servesPlugin(path) {
				continue
			}
			pi, err := probe(ctx, path)
			if err != nil {
				skipped = append(skipped, err.Error())
				continue
			}
			found = append(found, listedPlugin{Path: path, Info: pi})
		}
	}
	return found, skipped
}

// servesPlugin reports whether the executable at path is a Go binary that
// links the SDK's serve function, which only a plugin's main reaches (the
// linker drops it from every other binary). Running an executable to ask
// it would run whatever it does: a benchmark, a server.
func servesPlugin(path string) bool {
	f, err := elf.Open(path)
	if err != nil {
		return false
	}
	defer f.Close()
	if syms, err := f.Symbols(); err == nil {
		for _, s := range syms {
			if s.Name == sdkServe {
				return true
			}
		}
		return false
	}
	// A stripped binary (-ldflags=-s) keeps Go's own function table.
	pcln, text := f.Section(".gopclntab"), f.Section(".text")
	if pcln == nil || text == nil {
		return false
	}
	data, err := pcln.Data()
	if err != nil {
		return false
	}
	table, err := gosym.NewTable(nil, gosym.NewLineTable(data, text.Addr))
	return err == nil && table.LookupFunc(sdkServe) != nil
}

const sdkServe = "github.com/kappa-stream/kappa/sdk.serve"

// errNotAPlugin says that no kind's Describe answered.
var errNotAPlugin = errors.New("not a Kappa plugin")

// probe starts path once per kind until its Describe answers: a plugin
// process serves one kind, and asking it for another finds no service.
func probe(ctx context.Context, path string) (sdk.Info, error) {
	for _, kind := range []string{sdk.KindSource, sdk.KindExtractor, sdk.KindSink} {
		proc, err := launch.Start(kind, path, hclog.NewNullLogger(), 5*time.Second, nil, nil)
		if err != nil {
			// The handshake failed: no kind will do better.
			return sdk.Info{}, fmt.Errorf("%s: %w", path, err)
		}
		info, err := describeProcess(ctx, proc)
		proc.Stop()
		if err == nil {
			return info, nil
		}
		if !errors.Is(err, sdk.ErrNotDescribed) {
			return sdk.Info{}, err
		}
	}
	return sdk.Info{}, fmt.Errorf("%s: %w", path, errNotAPlugin)
}

func describeProcess(ctx context.Context, proc *launch.Process) (sdk.Info, error) {
	inspector, ok := dispensed(proc).(sdk.Inspector)
	if !ok {
		return sdk.Info{}, sdk.ErrNotDescribed
	}
	ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	return inspector.Describe(ctx)
}

func printPlugins(found []listedPlugin) {
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
			fmt.Fprintf(w, "    %s\t%s\t%s\t%s\n", f.Name, f.Type, strings.Join(attrs, ", "), f.Description)
		}
	}
	w.Flush()
}
