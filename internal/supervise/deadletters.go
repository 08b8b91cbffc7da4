package supervise

import (
	"context"

	"github.com/kappa-stream/kappa/internal/pluginclient"
	"github.com/kappa-stream/kappa/sdk"
)

// DeadLetterPolicy asks the live process's sink what it keeps of rejected
// records; ErrDeadLettersUnsupported when the plugin's sink is no
// DeadLetterStore.
func (s *Sink) DeadLetterPolicy(ctx context.Context) (sdk.DeadLetterPolicy, error) {
	proc, err := s.p.acquire(ctx)
	if err != nil {
		return sdk.DeadLetterPolicy{}, err
	}
	d, ok := proc.Sink().(sdk.DeadLetterStore)
	if !ok {
		return sdk.DeadLetterPolicy{}, s.p.done(ctx, proc, pluginclient.ErrDeadLettersUnsupported)
	}
	p, err := d.DeadLetterPolicy(ctx)
	return p, s.p.done(ctx, proc, err)
}

// DeadLetters asks the live process's sink for stored dead letters.
func (s *Sink) DeadLetters(ctx context.Context, q sdk.DeadLetterQuery) ([]sdk.StoredDeadLetter, error) {
	proc, err := s.p.acquire(ctx)
	if err != nil {
		return nil, err
	}
	d, ok := proc.Sink().(sdk.DeadLetterStore)
	if !ok {
		return nil, s.p.done(ctx, proc, pluginclient.ErrDeadLettersUnsupported)
	}
	found, err := d.DeadLetters(ctx, q)
	return found, s.p.done(ctx, proc, err)
}

var _ sdk.DeadLetterStore = (*Sink)(nil)
