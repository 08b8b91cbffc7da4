package command

import (
	"cmp"
	"context"
	"debug/elf"
	"debug/gosym"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/hashicorp/go-hclog"

	"github.com/kappa-stream/kappa/internal/launch"
	"github.com/kappa-stream/kappa/internal/pluginclient"
	"github.com/kappa-stream/kappa/sdk"
)

// FoundPlugin is a plugin binary found on the search path and what it
// says it is.
type FoundPlugin struct {
	Path string `json:"path"`
	sdk.Info
}

// ListPlugins asks every executable of the plugin search path (beside the
// kappa-runtime binary, then each folder of $KAPPA_PLUGIN_PATH, and first
// the folder of pipelineFile when it is not empty) what it is. It returns
// the plugins by kind (source, extractor, sink) and name, the executables
// that looked like plugins but did not answer, and the folders searched.
func ListPlugins(ctx context.Context, pipelineFile string) (found []FoundPlugin, skipped, dirs []string) {
	dirs = launch.SearchPath(pipelineFile)
	if pipelineFile == "" {
		dirs = dirs[1:] // SearchPath puts the pipeline's folder first
	}
	found, skipped = findAllPlugins(ctx, dirs)
	order := []string{sdk.KindSource, sdk.KindExtractor, sdk.KindSink}
	slices.SortStableFunc(found, func(a, b FoundPlugin) int {
		return cmp.Or(cmp.Compare(slices.Index(order, a.Kind), slices.Index(order, b.Kind)), strings.Compare(a.Name, b.Name))
	})
	return found, skipped, dirs
}

// findAllPlugins asks every executable of dirs what it is. A name found in
// several folders is listed once, from the first, as Find resolves it.
func findAllPlugins(ctx context.Context, dirs []string) (found []FoundPlugin, skipped []string) {
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
			found = append(found, FoundPlugin{Path: path, Info: pi})
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
		if !errors.Is(err, pluginclient.ErrNotDescribed) {
			return sdk.Info{}, err
		}
	}
	return sdk.Info{}, fmt.Errorf("%s: %w", path, errNotAPlugin)
}

func describeProcess(ctx context.Context, proc *launch.Process) (sdk.Info, error) {
	inspector, ok := dispensed(proc).(pluginclient.Inspector)
	if !ok {
		return sdk.Info{}, pluginclient.ErrNotDescribed
	}
	ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	return inspector.Describe(ctx)
}
