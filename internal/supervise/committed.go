package supervise

import (
	"context"

	"github.com/kappa-stream/kappa/internal/pluginclient"
	"github.com/kappa-stream/kappa/sdk"
)

// Committed passes positions to the live process's source;
// ErrCommittedUnsupported when the plugin's source is no CommitObserver.
func (s *Source) Committed(ctx context.Context, positions []sdk.Position) error {
	proc, err := s.p.acquire(ctx)
	if err != nil {
		return err
	}
	o, ok := proc.Source().(sdk.CommitObserver)
	if !ok {
		return s.p.done(ctx, proc, pluginclient.ErrCommittedUnsupported)
	}
	return s.p.done(ctx, proc, o.Committed(ctx, positions))
}

var _ sdk.CommitObserver = (*Source)(nil)
