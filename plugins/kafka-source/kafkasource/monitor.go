package kafkasource

import (
	"context"
	"fmt"

	"github.com/kappa-stream/kappa/sdk"
	"github.com/twmb/franz-go/pkg/kadm"
)

// Committed implements sdk.CommitObserver: with monitor_group set, the
// positions the runtime committed are committed to that consumer group
// too (without joining it), so that Kafka's lag tools see the pipeline's
// lag. Nothing ever reads them back. Without monitor_group the runtime is
// told to stop calling.
func (s *Source) Committed(ctx context.Context, positions []sdk.Position) error {
	if s.cfg.MonitorGroup == "" {
		return sdk.ErrNotObserving
	}
	if s.admin == nil {
		return fmt.Errorf("monitor_group %s: source is not open", s.cfg.MonitorGroup)
	}
	var offsets kadm.Offsets
	for _, p := range positions {
		offsets.AddOffset(s.cfg.Topic, p.Partition, p.NextOffset, -1)
	}
	if err := s.admin.CommitAllOffsets(ctx, s.cfg.MonitorGroup, offsets); err != nil {
		return fmt.Errorf("commit %d positions of topic %s to monitor_group %s: %w", len(positions), s.cfg.Topic, s.cfg.MonitorGroup, err)
	}
	return nil
}

var _ sdk.CommitObserver = (*Source)(nil)
