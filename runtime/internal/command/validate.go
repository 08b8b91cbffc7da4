package command

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"os"
	"slices"
	"time"

	"github.com/hashicorp/go-hclog"
	"gopkg.in/yaml.v3"

	"github.com/kappa-stream/kappa/internal/launch"
	"github.com/kappa-stream/kappa/internal/pipeline"
	"github.com/kappa-stream/kappa/internal/pluginclient"
	"github.com/kappa-stream/kappa/sdk"
)

// Validate returns every problem of file, positioned, and notes on
// what could not be checked. err is for failures of validation itself.
func Validate(ctx context.Context, file string) (pipeline.Errors, []string, error) {
	p, err := pipeline.Load(file)
	var loadErrs pipeline.Errors
	if errors.As(err, &loadErrs) {
		// The plugins' blocks cannot be checked in a file that does not
		// load; its own problems are all reported.
		return loadErrs, nil, nil
	}
	if err != nil {
		return nil, nil, err
	}
	var problems pipeline.Errors
	var notes []string
	dirs := launch.SearchPath(p.File)
	for _, b := range blocks(p) {
		ps, ns := validateBlock(ctx, p, b, dirs)
		problems = append(problems, ps...)
		notes = append(notes, ns...)
	}
	slices.SortStableFunc(problems, func(a, b *pipeline.Error) int {
		return cmp.Or(cmp.Compare(a.Line, b.Line), cmp.Compare(a.Column, b.Column))
	})
	return problems, notes, nil
}

// validateBlock checks one plugin: found, starts, serves its kind, and
// accepts its config block.
func validateBlock(ctx context.Context, p *pipeline.Pipeline, b block, dirs []string) (pipeline.Errors, []string) {
	at := func(format string, args ...any) pipeline.Errors {
		line, col := pluginKeyPosition(p.File, b.name)
		return pipeline.Errors{{File: p.File, Line: line, Column: col, Path: b.name + ".plugin", Message: fmt.Sprintf(format, args...)}}
	}
	path, err := launch.Find(b.plugin.Name, p.File, dirs)
	if err != nil {
		return at("%v", err), nil
	}
	proc, err := launch.Start(b.kind, path, hclog.NewNullLogger(), min(p.Timeouts.Open, 10*time.Second), nil, b.plugin.Env)
	if err != nil {
		return at("%s does not start as a Kappa plugin: %v", path, err), nil
	}
	defer proc.Stop()
	inspector, ok := dispensed(proc).(pluginclient.Inspector)
	if !ok {
		return at("%s: the runtime's SDK has no Describe call", path), nil
	}
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	if _, err := inspector.Describe(ctx); err != nil {
		if errors.Is(err, pluginclient.ErrNotDescribed) {
			return at("%s is not a %s plugin (or was built with an SDK older than Describe)", path, b.kind), nil
		}
		return at("%s: %v", path, err), nil
	}
	err = inspector.Validate(ctx, setup(p, b.plugin))
	var problems sdk.ConfigErrors
	switch {
	case err == nil:
		return nil, nil
	case errors.As(err, &problems):
		var out pipeline.Errors
		if errors.As(b.plugin.ConfigErrors(problems), &out) {
			return out, nil
		}
		return at("%v", err), nil
	case errors.Is(err, pluginclient.ErrNotDescribed):
		if len(b.plugin.Config) > 0 && string(b.plugin.Config) != "{}\n" {
			return nil, []string{fmt.Sprintf("%s: %s.config not checked: %s gives no config schema; it is checked when the plugin opens", p.File, b.name, b.plugin.Name)}
		}
		return nil, nil
	}
	return at("%s: validate: %v", path, err), nil
}

// dispensed returns the process's interface of its kind.
func dispensed(proc *launch.Process) any {
	switch proc.Kind {
	case sdk.KindSource:
		return proc.Source()
	case sdk.KindExtractor:
		return proc.Extractor()
	}
	return proc.Sink()
}

// pluginKeyPosition finds the `plugin:` key of a block (`source:`, …) in
// file, or the block's key when it has none; 0, 0 when neither is found.
// The pipeline loader keeps these positions to itself.
func pluginKeyPosition(file, blockName string) (line, col int) {
	data, err := os.ReadFile(file)
	if err != nil {
		return 0, 0
	}
	var doc yaml.Node
	if yaml.Unmarshal(data, &doc) != nil || len(doc.Content) == 0 {
		return 0, 0
	}
	key, val := mappingEntry(doc.Content[0], blockName)
	if key == nil {
		return 0, 0
	}
	if pk, _ := mappingEntry(val, "plugin"); pk != nil {
		return pk.Line, pk.Column
	}
	return key.Line, key.Column
}

func mappingEntry(m *yaml.Node, name string) (key, val *yaml.Node) {
	if m == nil || m.Kind != yaml.MappingNode {
		return nil, nil
	}
	for i := 0; i+1 < len(m.Content); i += 2 {
		if m.Content[i].Value == name {
			return m.Content[i], m.Content[i+1]
		}
	}
	return nil, nil
}
