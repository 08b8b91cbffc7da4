package sdk

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/kappa-stream/kappa/internal/rpc"
)

type compactingSink struct {
	recordingSink
	req CompactRequest
}

func (s *compactingSink) Compact(_ context.Context, req CompactRequest) (CompactResult, error) {
	s.req = req
	return CompactResult{Spans: 3, Batches: 40, RowsBefore: 120, RowsAfter: 9, Raced: 1, Done: true}, nil
}

func TestCompactShimCarriesRequestAndResult(t *testing.T) {
	impl := &compactingSink{}
	sink := dispense(t, KindSink, &sinkPlugin{impl: impl}).(Compactor)
	req := CompactRequest{OlderThan: 10 * time.Minute, Budget: time.Second, Full: true}
	res, err := sink.Compact(context.Background(), req)
	if err != nil {
		t.Fatal(err)
	}
	if impl.req != req {
		t.Errorf("sink received %+v, want %+v", impl.req, req)
	}
	if want := (CompactResult{Spans: 3, Batches: 40, RowsBefore: 120, RowsAfter: 9, Raced: 1, Done: true}); res != want {
		t.Errorf("result %+v, want %+v", res, want)
	}
}

func TestCompactShimSaysUnsupportedForASinkWithoutIt(t *testing.T) {
	sink := dispense(t, KindSink, &sinkPlugin{impl: &recordingSink{}}).(Compactor)
	if _, err := sink.Compact(context.Background(), CompactRequest{}); !errors.Is(err, rpc.ErrCompactUnsupported) {
		t.Fatalf("got %v, want rpc.ErrCompactUnsupported", err)
	}
}
