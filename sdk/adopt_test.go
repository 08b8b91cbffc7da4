package sdk

import (
	"context"
	"errors"
	"reflect"
	"testing"
	"time"

	"github.com/kappa-stream/kappa/internal/rpc"
)

type adoptingSink struct {
	recordingSink
	setup Setup
	req   AdoptRequest
}

func (s *adoptingSink) Open(_ context.Context, setup Setup) error {
	s.setup = setup
	return nil
}

func (s *adoptingSink) Adopt(_ context.Context, req AdoptRequest) (Adoption, error) {
	s.req = req
	return adoptionFound, nil
}

var adoptionFound = Adoption{
	Table: "aggregates.twitter",
	Partitions: []AdoptedRange{{
		OffsetRange: OffsetRange{Partition: 0, Start: 0, End: 900}, Ranges: 13, Rows: 25, Count: 900,
		FirstWindow: time.Date(2016, 6, 1, 19, 36, 0, 0, time.UTC), LastWindow: time.Date(2016, 6, 1, 19, 50, 0, 0, time.UTC),
	}},
	Refusals: []string{"partition 0: past the log end"},
	Recorded: true,
}

// Setup.Adopting, the request and what the sink found cross the process
// boundary whole.
func TestAdoptShimCarriesSetupRequestAndAdoption(t *testing.T) {
	impl := &adoptingSink{}
	sink := dispense(t, KindSink, &sinkPlugin{impl: impl}).(Sink)
	if err := sink.Open(context.Background(), Setup{Pipeline: "twitter", Adopting: true}); err != nil {
		t.Fatal(err)
	}
	if !impl.setup.Adopting {
		t.Errorf("sink opened with %+v, want Adopting", impl.setup)
	}
	req := AdoptRequest{Stream: "twitter", StreamID: "v9So3sQ8PRpLZqlC65m2Tg", LogEnds: []Watermark{{Partition: 0, Start: 0, End: 1735}, {Partition: 1, End: 7}}, Record: true}
	got, err := sink.(Adopter).Adopt(context.Background(), req)
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(impl.req, req) {
		t.Errorf("sink received %+v, want %+v", impl.req, req)
	}
	if !reflect.DeepEqual(got, adoptionFound) {
		t.Errorf("adoption %+v, want %+v", got, adoptionFound)
	}
}

func TestAdoptShimSaysUnsupportedForASinkWithoutIt(t *testing.T) {
	sink := dispense(t, KindSink, &sinkPlugin{impl: &recordingSink{}}).(Adopter)
	if _, err := sink.Adopt(context.Background(), AdoptRequest{}); !errors.Is(err, rpc.ErrAdoptUnsupported) {
		t.Fatalf("got %v, want rpc.ErrAdoptUnsupported", err)
	}
}

func (s *adoptingSink) Audit(context.Context) ([]StreamAudit, error) {
	return []StreamAudit{{Stream: "twitter", Positions: []Position{{Partition: 0, NextOffset: 930}},
		Adopted: []OffsetRange{{Partition: 0, Start: 0, End: 900}}}}, nil
}

// An audit's adopted ranges cross the process boundary.
func TestAuditShimCarriesAdoptedRanges(t *testing.T) {
	sink := dispense(t, KindSink, &sinkPlugin{impl: &adoptingSink{}}).(Auditor)
	got, err := sink.Audit(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 1 || !reflect.DeepEqual(got[0].Adopted, []OffsetRange{{Partition: 0, Start: 0, End: 900}}) {
		t.Errorf("audit %+v, want stream twitter with adopted range [0, 900) of partition 0", got)
	}
}
