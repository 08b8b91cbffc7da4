package sdk

import (
	"context"
	"errors"
	"slices"
	"testing"
	"time"

	"github.com/kappa-stream/kappa/internal/rpc"
)

// observingSource is an echoSource that observes commits, or refuses to.
type observingSource struct {
	echoSource
	told   []Position
	refuse bool
}

func (s *observingSource) Committed(_ context.Context, ps []Position) error {
	if s.refuse {
		return ErrNotObserving
	}
	s.told = ps
	return nil
}

// Committed crosses the process boundary; a source that is no
// CommitObserver, or refuses, is reported as unsupported.
func TestCommittedCrossesTheBoundary(t *testing.T) {
	ctx := context.Background()
	want := []Position{{Partition: 1, NextOffset: 7, StreamID: "id"}}
	impl := &observingSource{}
	src := dispense(t, KindSource, &sourcePlugin{impl: impl}).(CommitObserver)
	if err := src.Committed(ctx, want); err != nil || !slices.Equal(impl.told, want) {
		t.Errorf("Committed = %v; source told %v, want %v", err, impl.told, want)
	}
	refusing := dispense(t, KindSource, &sourcePlugin{impl: &observingSource{refuse: true}}).(CommitObserver)
	if err := refusing.Committed(ctx, want); !errors.Is(err, rpc.ErrCommittedUnsupported) {
		t.Errorf("refusing source: %v, want ErrCommittedUnsupported", err)
	}
	plain := dispense(t, KindSource, &sourcePlugin{impl: &echoSource{}}).(CommitObserver)
	if err := plain.Committed(ctx, want); !errors.Is(err, rpc.ErrCommittedUnsupported) {
		t.Errorf("source without Committed: %v, want ErrCommittedUnsupported", err)
	}
}

// A position's commit time crosses the boundary; none stays none.
func TestPositionCommitTimeCrosses(t *testing.T) {
	at := time.Date(2026, 11, 30, 15, 0, 0, 123, time.UTC)
	got := positionsFromPB(positionsToPB([]Position{{Partition: 1, NextOffset: 2, CommittedAt: at}, {Partition: 2}}))
	if !got[0].CommittedAt.Equal(at) || !got[1].CommittedAt.IsZero() {
		t.Errorf("commit times after the round trip: %v, %v", got[0].CommittedAt, got[1].CommittedAt)
	}
}
