package command

import (
	"context"
	"errors"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/kappa-stream/kappa/sdk"
)

// generationsSink is a sink whose generation 1 is frozen after a few looks.
type generationsSink struct {
	sdk.Sink
	mu    sync.Mutex
	looks int
}

func (s *generationsSink) Generations(ctx context.Context, req sdk.GenerationsRequest) (sdk.GenerationsResult, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.looks++
	state := sdk.GenerationLive
	if s.looks > 2 {
		state = sdk.GenerationFrozen
	}
	return sdk.GenerationsResult{Table: "db.twitter", Bound: 1, Generations: []sdk.Generation{
		{Number: 1, Pipeline: "twitter", State: state},
		{Number: 2, Pipeline: "twitter-by-lang", State: sdk.GenerationShadow, Previous: 1},
	}}, nil
}

// A run on an idle topic commits nothing, so only the watch notices that
// its generation was frozen; it names the generation replacing it.
func TestWatchGenerationEndsWhenFrozen(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	err := watchGeneration(ctx, &generationsSink{}, time.Millisecond)
	if !errors.Is(err, sdk.ErrGenerationEnded) || !strings.Contains(err.Error(), `generation 2 (pipeline "twitter-by-lang") is shadow`) {
		t.Fatalf("watch: %v, want ErrGenerationEnded naming generation 2", err)
	}
	// A sink without generations is not watched.
	if err := watchGeneration(ctx, struct{ sdk.Sink }{}, time.Millisecond); err != nil {
		t.Fatalf("watch of a sink without generations: %v", err)
	}
}
