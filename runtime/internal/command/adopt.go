package command

import (
	"context"
	"fmt"

	"github.com/kappa-stream/kappa/internal/launch"
	"github.com/kappa-stream/kappa/internal/pipeline"
	"github.com/kappa-stream/kappa/internal/pluginclient"
	"github.com/kappa-stream/kappa/sdk"
)

// Adoption is what Adopt found, with what the source reported.
type Adoption struct {
	sdk.Adoption
	File, Pipeline string
	Info           sdk.SourceInfo
	LogEnds        []sdk.Watermark
}

// Adopt starts and opens the pipeline's source, for the stream's ID and
// log ends, and its sink, opened to adopt, and asks the sink to adopt the
// table (kappa-runtime adopt); with record it records what it found.
func Adopt(ctx context.Context, file string, record bool) (Adoption, error) {
	p, err := pipeline.Load(file)
	if err != nil {
		return Adoption{}, err
	}
	bs := blocks(p)
	src, snk := bs[0], bs[2]
	paths, err := findPlugins(p, []block{src, snk})
	if err != nil {
		return Adoption{}, err
	}
	openCtx, cancel := context.WithTimeout(ctx, p.Timeouts.Open)
	defer cancel()

	sourceProc, err := launch.Start(src.kind, paths[0], commandPluginLogger(p), p.Timeouts.Open, nil, src.plugin.Env)
	if err != nil {
		return Adoption{}, err
	}
	defer sourceProc.Stop()
	source := sourceProc.Source()
	info, err := source.Open(openCtx, setup(p, p.Source))
	if err != nil {
		return Adoption{}, pluginError(p, src, err)
	}
	defer closeQuietly(source)
	logEnds, err := source.Watermarks(openCtx)
	if err != nil {
		return Adoption{}, pluginError(p, src, fmt.Errorf("read the log ends of stream %s: %w", info.Stream, err))
	}

	sinkProc, err := launch.Start(snk.kind, paths[1], commandPluginLogger(p), p.Timeouts.Open, nil, snk.plugin.Env)
	if err != nil {
		return Adoption{}, err
	}
	defer sinkProc.Stop()
	sink := sinkProc.Sink()
	s := setup(p, p.Sink)
	s.Adopting = true
	if err := sink.Open(openCtx, s); err != nil {
		return Adoption{}, pluginError(p, snk, err)
	}
	defer closeQuietly(sink)
	adopter, ok := sink.(sdk.Adopter)
	if !ok {
		return Adoption{}, fmt.Errorf("%s: sink: %w", p.File, pluginclient.ErrAdoptUnsupported)
	}
	found, err := adopter.Adopt(ctx, sdk.AdoptRequest{Stream: info.Stream, StreamID: info.StreamID, LogEnds: logEnds, Record: record})
	if err != nil {
		return Adoption{}, pluginError(p, snk, err)
	}
	return Adoption{Adoption: found, File: p.File, Pipeline: p.Name, Info: info, LogEnds: logEnds}, nil
}
