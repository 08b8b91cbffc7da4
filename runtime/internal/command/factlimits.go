package command

import (
	"context"
	"errors"
	"fmt"

	"github.com/kappa-stream/kappa/internal/supervise"
	"github.com/kappa-stream/kappa/sdk"
)

// factLimits asks the opened sink what it can store of a fact, so that the
// engine rejects records it could not store instead of failing their
// batch at every try. A sink that publishes nothing (or predates Describe)
// gets no screening beyond the event-time range.
func factLimits(ctx context.Context, sink *supervise.Sink) (sdk.FactLimits, error) {
	info, err := sink.Describe(ctx)
	if errors.Is(err, sdk.ErrNotDescribed) {
		return sdk.FactLimits{}, nil
	}
	if err != nil {
		return sdk.FactLimits{}, fmt.Errorf("ask the sink what it can store: %w", err)
	}
	return info.FactLimits, nil
}
