package conformance

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/kappa-stream/kappa/sdk"
)

// ErrDeadLettersLost: a sink that keeps dead letters (sdk.DeadLetterStore
// with its policy enabled) did not give back a commit's dead letters as
// they were committed, or stored those of a fenced commit.
var ErrDeadLettersLost = errors.New("dead letters do not round-trip with their batch")

// checkDeadLetters: the dead letters of a commit read back exactly (bytes,
// position, timestamp, reason, length), filtered by partition and reason
// and limited; a fenced commit's are not stored. A sink that keeps none
// (no DeadLetterStore, or a config that turns them off) passes.
func checkDeadLetters(ctx context.Context, f SinkFixture) error {
	stream := streamName()
	s, err := openSink(ctx, f)
	if err != nil {
		return err
	}
	defer s.Close(context.WithoutCancel(ctx))
	store, ok := s.(sdk.DeadLetterStore)
	if !ok {
		return nil
	}
	policy, err := store.DeadLetterPolicy(ctx)
	if err != nil {
		return fmt.Errorf("dead-letter policy: %w", err)
	}
	if !policy.Enabled {
		return nil
	}
	when := time.Date(2016, 6, 1, 19, 36, 5, 250000000, time.UTC)
	c := commitOf(f, stream, rng(0, 0, 10), rng(1, 0, 10))
	c.Ranges[0].Facts, c.Ranges[0].Rejected = 8, 2
	c.Ranges[1].Facts, c.Ranges[1].Rejected = 9, 1
	c.DeadLetters = []sdk.DeadLetter{
		{Partition: 0, Offset: 3, Time: when, Reason: "malformed json", Value: []byte("{\"a\":\x00\n\xff"), Length: 8},
		{Partition: 0, Offset: 7, Reason: "empty payload", Length: 0},
		{Partition: 1, Offset: 2, Time: when, Reason: "malformed json", Value: []byte("ab"), Length: int64(policy.MaxBytes) + 100},
	}
	if err := s.Commit(ctx, c); err != nil {
		return fmt.Errorf("commit with dead letters: %w", err)
	}
	stale := commitOf(f, stream, rng(0, 0, 10))
	stale.DeadLetters = []sdk.DeadLetter{{Partition: 0, Offset: 5, Reason: "stale", Value: []byte("x"), Length: 1}}
	if err := s.Commit(ctx, stale); !errors.Is(err, sdk.ErrFenced) {
		return violation(ErrNotFenced, "stale commit with a dead letter returned %v, want sdk.ErrFenced", err)
	}
	var findings []error
	expect := func(what string, q sdk.DeadLetterQuery, want ...sdk.DeadLetter) {
		q.Stream = stream
		got, err := store.DeadLetters(ctx, q)
		if err != nil {
			findings = append(findings, fmt.Errorf("dead letters (%s): %w", what, err))
			return
		}
		if len(got) != len(want) {
			findings = append(findings, violation(ErrDeadLettersLost, "%s: %d dead letters, want %d", what, len(got), len(want)))
			return
		}
		for i, d := range got {
			w := want[i]
			if d.Stream != stream || d.Partition != w.Partition || d.Offset != w.Offset || !d.Time.Equal(w.Time) ||
				d.Reason != w.Reason || !bytes.Equal(d.Value, w.Value) || d.Length != w.Length || d.Truncated() != w.Truncated() {
				findings = append(findings, violation(ErrDeadLettersLost, "%s: dead letter %d is %+v, want %+v", what, i, d, w))
			}
		}
	}
	all := c.DeadLetters
	expect("all", sdk.DeadLetterQuery{}, all...)
	p := int32(0)
	expect("partition 0", sdk.DeadLetterQuery{Partition: &p}, all[:2]...)
	expect("reason malformed json", sdk.DeadLetterQuery{Reason: "malformed json"}, all[0], all[2])
	expect("limit 1 after partition 0 offset 3", sdk.DeadLetterQuery{After: &sdk.DeadLetterPosition{Stream: stream, Partition: 0, Offset: 3}, Limit: 1}, all[1])
	return errors.Join(findings...)
}
