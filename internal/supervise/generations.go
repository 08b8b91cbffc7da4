package supervise

import (
	"context"
	"fmt"

	"github.com/kappa-stream/kappa/internal/rpc"
	"github.com/kappa-stream/kappa/sdk"
)

// Generations passes req to the live process's sink;
// rpc.ErrGenerationsUnsupported when the plugin's sink keeps none.
func (s *Sink) Generations(ctx context.Context, req sdk.GenerationsRequest) (sdk.GenerationsResult, error) {
	proc, err := s.p.acquire(ctx)
	if err != nil {
		return sdk.GenerationsResult{}, err
	}
	g, ok := proc.Sink().(sdk.Generations)
	if !ok {
		return sdk.GenerationsResult{}, s.p.done(ctx, proc, fmt.Errorf("sink: %w", rpc.ErrGenerationsUnsupported))
	}
	res, err := g.Generations(ctx, req)
	return res, s.p.done(ctx, proc, err)
}

var _ sdk.Generations = (*Sink)(nil)
