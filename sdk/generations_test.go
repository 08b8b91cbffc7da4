package sdk

import (
	"context"
	"errors"
	"testing"
)

// endedSink refuses every commit as a replaced generation's and reports
// one generation.
type endedSink struct{ recordingSink }

func (s *endedSink) Commit(context.Context, Commit) error {
	return GenerationEnded(errors.New("generation 1 is frozen"))
}

func (s *endedSink) Generations(_ context.Context, req GenerationsRequest) (GenerationsResult, error) {
	return GenerationsResult{Table: "db.twitter", Bound: 2, Refusals: []string{string(req.Op)}, Generations: []Generation{
		{Number: 2, Pipeline: "p", PhysicalTable: "twitter__g2", State: GenerationShadow, Step: "frozen", Previous: 1,
			Positions: []Position{{Partition: 3, NextOffset: 42}}},
	}}, nil
}

// ErrGenerationEnded crosses the process boundary as itself and as
// permanent; the Generations call carries its request and result.
func TestGenerationsCrossTheBoundary(t *testing.T) {
	sink := dispense(t, KindSink, &sinkPlugin{impl: &endedSink{}}).(Sink)
	err := sink.Commit(context.Background(), Commit{Stream: "s"})
	if !errors.Is(err, ErrGenerationEnded) || !errors.Is(err, ErrPermanent) || errors.Is(err, ErrRetryable) {
		t.Fatalf("commit: %v, want ErrGenerationEnded and permanent", err)
	}
	res, err := sink.(Generations).Generations(context.Background(), GenerationsRequest{Op: GenerationFreeze})
	if err != nil {
		t.Fatal(err)
	}
	g := res.Generations[0]
	if res.Bound != 2 || res.Refusals[0] != "freeze" || g.PhysicalTable != "twitter__g2" || g.Step != "frozen" || g.Previous != 1 ||
		len(g.Positions) != 1 || g.Positions[0].NextOffset != 42 {
		t.Fatalf("generations = %+v", res)
	}
	// A plain permanent error is not a generation's end.
	if errors.Is(Permanent(errors.New("x")), ErrGenerationEnded) {
		t.Fatal("Permanent matches ErrGenerationEnded")
	}
}
