package sdk

import (
	"context"
	"errors"
	"slices"
	"testing"

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
