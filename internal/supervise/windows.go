package supervise

import (
	"context"

	"github.com/kappa-stream/kappa/internal/pluginclient"
	"github.com/kappa-stream/kappa/sdk"
)

// RecentWindows asks the live process's sink for its last n windows'
// totals; ErrWindowsUnsupported when the plugin's sink is no WindowReader.
func (s *Sink) RecentWindows(ctx context.Context, n int) ([]sdk.WindowTotal, error) {
	proc, err := s.p.acquire(ctx)
	if err != nil {
		return nil, err
	}
	r, ok := proc.Sink().(sdk.WindowReader)
	if !ok {
		return nil, s.p.done(ctx, proc, pluginclient.ErrWindowsUnsupported)
	}
	windows, err := r.RecentWindows(ctx, n)
	return windows, s.p.done(ctx, proc, err)
}

var _ sdk.WindowReader = (*Sink)(nil)
