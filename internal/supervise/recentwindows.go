package supervise

import (
	"context"
	"fmt"

	"github.com/kappa-stream/kappa/internal/pluginclient"
	"github.com/kappa-stream/kappa/sdk"
)

// RecentWindows asks the live process's sink for its last n windows'
// totals; ErrWindowsUnsupported when the plugin's sink is no WindowReader.
// It is for the status page, not the engine: it neither waits for a
// restart nor treats a failed or slow answer as the plugin's death (the
// call may wait behind a long Commit), so it never kills the process.
func (s *Sink) RecentWindows(ctx context.Context, n int) ([]sdk.WindowTotal, error) {
	proc := s.p.current()
	if proc == nil {
		return nil, fmt.Errorf("sink recent windows: %w", errNotRunning)
	}
	r, ok := proc.Sink().(sdk.WindowReader)
	if !ok {
		return nil, pluginclient.ErrWindowsUnsupported
	}
	return r.RecentWindows(ctx, n)
}

var _ sdk.WindowReader = (*Sink)(nil)
