package command

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"time"

	"github.com/hashicorp/go-hclog"
	"github.com/kappa-stream/kappa/internal/launch"
	"github.com/kappa-stream/kappa/internal/pipeline"
	"github.com/kappa-stream/kappa/sdk"
)

// block names one of a pipeline's three plugins.
type block struct {
	name   string // "source", "extractor", "sink": the key in the file
	kind   string // sdk.KindSource, …
	plugin pipeline.Plugin
}

func blocks(p *pipeline.Pipeline) []block {
	return []block{
		{"source", sdk.KindSource, p.Source},
		{"extractor", sdk.KindExtractor, p.Extractor},
		{"sink", sdk.KindSink, p.Sink},
	}
}

// findPlugins resolves every block's binary before any is started, so that
// all missing ones are reported at once and before anything connects.
func findPlugins(p *pipeline.Pipeline, bs []block) ([]string, error) {
	dirs := launch.SearchPath(p.File)
	paths := make([]string, len(bs))
	var errs []error
	for i, b := range bs {
		var err error
		if paths[i], err = launch.Find(b.plugin.Name, p.File, dirs); err != nil {
			errs = append(errs, fmt.Errorf("%s: %s.plugin: %w", p.File, b.name, err))
		}
	}
	return paths, errors.Join(errs...)
}

// commandPluginLogger relays the plugins of a command other than run
// (audit, status, adopt) to stderr as text lines naming p's pipeline.
func commandPluginLogger(p *pipeline.Pipeline) hclog.Logger {
	return pluginLogger(slog.New(slog.NewTextHandler(os.Stderr, nil)).With("pipeline", p.Name))
}

// setup is what every plugin of p is opened with.
func setup(p *pipeline.Pipeline, pl pipeline.Plugin) sdk.Setup {
	return sdk.Setup{Pipeline: p.Name, Config: pl.Config, Window: p.Window, Dimensions: p.Dimensions, Aggregates: p.Aggregates, Definition: definition(p)}
}

// pluginError places a plugin's config problems at their lines in the
// pipeline file; other errors are named by the block that returned them.
func pluginError(p *pipeline.Pipeline, b block, err error) error {
	var problems sdk.ConfigErrors
	if errors.As(err, &problems) {
		return b.plugin.ConfigErrors(problems)
	}
	return fmt.Errorf("%s: %s: %w", p.File, b.name, err)
}

// closeQuietly closes a plugin at the end of a run; its error no longer
// matters to the outcome, and its process is stopped next anyway.
func closeQuietly(c interface{ Close(context.Context) error }) {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	c.Close(ctx)
}
