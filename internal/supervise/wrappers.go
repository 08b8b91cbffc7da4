package supervise

import (
	"context"
	"errors"
	"fmt"

	"github.com/kappa-stream/kappa/internal/launch"
	"github.com/kappa-stream/kappa/internal/pluginclient"
	"github.com/kappa-stream/kappa/sdk"
)

// errNotSeeked is returned by Poll on a source process that was started
// again and not yet told where to read: reading from its configured start
// could produce ranges the engine never asked for.
var errNotSeeked = errors.New("source was restarted and has not been seeked to the committed positions yet")

// Source is a supervised sdk.Source.
type Source struct {
	p *Plugin
	// info is what the first Open reported; a restarted source must read
	// the same stream, and the same instance of it.
	info sdk.SourceInfo
	// seeked is the process last seeked; Poll refuses any other.
	seeked *launch.Process
}

// Source returns the plugin as a supervised source.
func (p *Plugin) Source() *Source { return &Source{p: p} }

// Open opens the first process and remembers setup for the restarts.
func (s *Source) Open(ctx context.Context, setup sdk.Setup) (sdk.SourceInfo, error) {
	proc := s.p.current()
	if proc == nil {
		return sdk.SourceInfo{}, fmt.Errorf("source open: %w", errNotRunning)
	}
	info, err := proc.Source().Open(ctx, setup)
	if err != nil {
		return info, err
	}
	s.info = info
	s.p.mu.Lock()
	s.p.open = func(ctx context.Context, proc *launch.Process) error {
		again, err := proc.Source().Open(ctx, setup)
		if err == nil && again.Stream != s.info.Stream {
			return fmt.Errorf("restarted source reads stream %q, not %q", again.Stream, s.info.Stream)
		}
		if err == nil && again.StreamID != s.info.StreamID {
			// The stream was deleted and created again while running: its
			// offsets no longer name what the positions counted.
			return sdk.Permanent(fmt.Errorf("restarted source reads stream %s with ID %s, but the run began on ID %s: "+
				"the stream was deleted and created again; delete the pipeline's positions (and its rows) or run it as a new pipeline",
				again.Stream, again.StreamID, s.info.StreamID))
		}
		return err
	}
	s.p.mu.Unlock()
	return info, nil
}

func (s *Source) Seek(ctx context.Context, positions []sdk.Position) error {
	proc, err := s.p.acquire(ctx)
	if err != nil {
		return err
	}
	err = s.p.done(ctx, proc, proc.Source().Seek(ctx, positions))
	if err == nil {
		s.seeked = proc
	}
	return err
}

func (s *Source) Poll(ctx context.Context, limits sdk.Limits) (sdk.Batch, error) {
	proc, err := s.p.acquire(ctx)
	if err != nil {
		return sdk.Batch{}, err
	}
	if proc != s.seeked {
		return sdk.Batch{}, errNotSeeked
	}
	b, err := proc.Source().Poll(ctx, limits)
	return b, s.p.done(ctx, proc, err)
}

func (s *Source) Watermarks(ctx context.Context) ([]sdk.Watermark, error) {
	proc, err := s.p.acquire(ctx)
	if err != nil {
		return nil, err
	}
	ws, err := proc.Source().Watermarks(ctx)
	return ws, s.p.done(ctx, proc, err)
}

// Close closes the live process; a dead one has nothing left to close.
func (s *Source) Close(ctx context.Context) error {
	if proc := s.p.current(); proc != nil {
		return proc.Source().Close(ctx)
	}
	return nil
}

// Extractor is a supervised sdk.Extractor.
type Extractor struct{ p *Plugin }

// Extractor returns the plugin as a supervised extractor.
func (p *Plugin) Extractor() *Extractor { return &Extractor{p: p} }

// Open opens the first process and remembers setup for the restarts.
func (x *Extractor) Open(ctx context.Context, setup sdk.Setup) error {
	proc := x.p.current()
	if proc == nil {
		return fmt.Errorf("extractor open: %w", errNotRunning)
	}
	if err := proc.Extractor().Open(ctx, setup); err != nil {
		return err
	}
	x.p.mu.Lock()
	x.p.open = func(ctx context.Context, proc *launch.Process) error { return proc.Extractor().Open(ctx, setup) }
	x.p.mu.Unlock()
	return nil
}

func (x *Extractor) Extract(ctx context.Context, records []sdk.Record, out *sdk.Extraction) error {
	proc, err := x.p.acquire(ctx)
	if err != nil {
		return err
	}
	return x.p.done(ctx, proc, proc.Extractor().Extract(ctx, records, out))
}

// ExtractBatch lets the batch through to the process's client, which
// forwards it as the source sent it (pluginclient.BatchExtractor).
func (x *Extractor) ExtractBatch(ctx context.Context, b sdk.Batch, out *sdk.Extraction) error {
	proc, err := x.p.acquire(ctx)
	if err != nil {
		return err
	}
	return x.p.done(ctx, proc, pluginclient.ExtractBatch(ctx, proc.Extractor(), b, out))
}

func (x *Extractor) Close(ctx context.Context) error {
	if proc := x.p.current(); proc != nil {
		return proc.Extractor().Close(ctx)
	}
	return nil
}

// Sink is a supervised sdk.Sink.
type Sink struct{ p *Plugin }

// Sink returns the plugin as a supervised sink.
func (p *Plugin) Sink() *Sink { return &Sink{p: p} }

// Open opens the first process and remembers setup for the restarts.
func (s *Sink) Open(ctx context.Context, setup sdk.Setup) error {
	proc := s.p.current()
	if proc == nil {
		return fmt.Errorf("sink open: %w", errNotRunning)
	}
	if err := proc.Sink().Open(ctx, setup); err != nil {
		return err
	}
	s.p.mu.Lock()
	s.p.open = func(ctx context.Context, proc *launch.Process) error { return proc.Sink().Open(ctx, setup) }
	s.p.mu.Unlock()
	return nil
}

func (s *Sink) Positions(ctx context.Context, stream string) ([]sdk.Position, error) {
	proc, err := s.p.acquire(ctx)
	if err != nil {
		return nil, err
	}
	ps, err := proc.Sink().Positions(ctx, stream)
	return ps, s.p.done(ctx, proc, err)
}

// Commit passes c to the live process. A process that dies during the
// call leaves the outcome unknown; the engine resolves it by reading
// Positions, from the next process.
func (s *Sink) Commit(ctx context.Context, c sdk.Commit) error {
	proc, err := s.p.acquire(ctx)
	if err != nil {
		return err
	}
	return s.p.done(ctx, proc, proc.Sink().Commit(ctx, c))
}

// Describe asks the live process what the sink says about itself, such
// as the facts it can store (sdk.Info.FactLimits).
func (s *Sink) Describe(ctx context.Context) (sdk.Info, error) { return s.p.Describe(ctx) }

func (s *Sink) Close(ctx context.Context) error {
	if proc := s.p.current(); proc != nil {
		return proc.Sink().Close(ctx)
	}
	return nil
}

var (
	_ sdk.Source    = (*Source)(nil)
	_ sdk.Extractor = (*Extractor)(nil)
	_ sdk.Sink      = (*Sink)(nil)
)

// Describe asks the live process what the plugin says about itself (its
// version, for one). An error wrapping pluginclient.ErrNotDescribed means it
// predates Describe.
func (p *Plugin) Describe(ctx context.Context) (sdk.Info, error) {
	proc := p.current()
	if proc == nil {
		return sdk.Info{}, fmt.Errorf("%s describe: %w", p.kind, errNotRunning)
	}
	var impl any
	switch p.kind {
	case sdk.KindSource:
		impl = proc.Source()
	case sdk.KindExtractor:
		impl = proc.Extractor()
	default:
		impl = proc.Sink()
	}
	inspector, ok := impl.(pluginclient.Inspector)
	if !ok {
		return sdk.Info{}, fmt.Errorf("%s describe: %w", p.kind, pluginclient.ErrNotDescribed)
	}
	return inspector.Describe(ctx)
}
