package supervise

import (
	"context"

	"github.com/kappa-stream/kappa/internal/pluginclient"
	"github.com/kappa-stream/kappa/sdk"
)

// Compact passes req to the live process's sink; ErrCompactUnsupported
// when the plugin's sink is no Compactor.
func (s *Sink) Compact(ctx context.Context, req sdk.CompactRequest) (sdk.CompactResult, error) {
	proc, err := s.p.acquire(ctx)
	if err != nil {
		return sdk.CompactResult{}, err
	}
	c, ok := proc.Sink().(sdk.Compactor)
	if !ok {
		return sdk.CompactResult{}, s.p.done(ctx, proc, pluginclient.ErrCompactUnsupported)
	}
	res, err := c.Compact(ctx, req)
	return res, s.p.done(ctx, proc, err)
}

var _ sdk.Compactor = (*Sink)(nil)
