package command

import (
	"context"
	"errors"
	"fmt"

	"github.com/kappa-stream/kappa/internal/pluginclient"
	"github.com/kappa-stream/kappa/internal/supervise"
	"github.com/kappa-stream/kappa/sdk"
)

// factLimits asks the opened sink what it can store of a fact, so that the
// engine rejects records it could not store instead of failing their
// batch at every try. A sink that publishes nothing (or predates
// Describe) gets no screening beyond the event-time range. It also
// returns the sink's version, for /status.
func factLimits(ctx context.Context, sink *supervise.Plugin) (sdk.FactLimits, string, error) {
	info, err := sink.Describe(ctx)
	if errors.Is(err, pluginclient.ErrNotDescribed) {
		return sdk.FactLimits{}, "", nil
	}
	if err != nil {
		return sdk.FactLimits{}, "", fmt.Errorf("ask the sink what it can store: %w", err)
	}
	return info.FactLimits, info.Version, nil
}

// pluginVersion is what the plugin says its version is, "" when it does
// not say (it predates Describe, or the call failed: /status then shows
// none, and the run goes on).
func pluginVersion(ctx context.Context, p *supervise.Plugin) string {
	info, err := p.Describe(ctx)
	if err != nil {
		return ""
	}
	return info.Version
}

// deadLetterPolicy asks the opened sink whether it keeps rejected records
// (sdk.DeadLetterStore); a sink that cannot is sent none.
func deadLetterPolicy(ctx context.Context, sink sdk.DeadLetterStore) (sdk.DeadLetterPolicy, error) {
	policy, err := sink.DeadLetterPolicy(ctx)
	if errors.Is(err, pluginclient.ErrDeadLettersUnsupported) {
		return sdk.DeadLetterPolicy{}, nil
	}
	if err != nil {
		return sdk.DeadLetterPolicy{}, fmt.Errorf("ask the sink whether it keeps dead letters: %w", err)
	}
	if policy.Enabled && policy.MaxBytes <= 0 {
		policy.MaxBytes = sdk.DefaultDeadLetterMaxBytes
	}
	return policy, nil
}
