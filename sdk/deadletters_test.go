package sdk

import (
	"context"
	"errors"
	"reflect"
	"testing"
	"time"

	"github.com/kappa-stream/kappa/internal/rpc"
)

// deadLetterSink keeps dead letters as a DeadLetterStore.
type deadLetterSink struct {
	recordingSink
	query DeadLetterQuery
}

func (s *deadLetterSink) DeadLetterPolicy(context.Context) (DeadLetterPolicy, error) {
	return DeadLetterPolicy{Enabled: true, MaxBytes: 1024}, nil
}

func (s *deadLetterSink) DeadLetters(_ context.Context, q DeadLetterQuery) ([]StoredDeadLetter, error) {
	s.query = q
	var out []StoredDeadLetter
	for _, d := range s.got.DeadLetters {
		out = append(out, StoredDeadLetter{DeadLetter: d, Stream: s.got.Stream, CommittedAt: time.Unix(1700000000, 0).UTC()})
	}
	return out, nil
}

func TestSinkShimCarriesDeadLetters(t *testing.T) {
	impl := &deadLetterSink{}
	sink := dispense(t, KindSink, &sinkPlugin{impl: impl}).(Sink)
	store, ok := sink.(DeadLetterStore)
	if !ok {
		t.Fatal("the sink client is no DeadLetterStore")
	}
	ctx := context.Background()
	policy, err := store.DeadLetterPolicy(ctx)
	if err != nil || policy != (DeadLetterPolicy{Enabled: true, MaxBytes: 1024}) {
		t.Fatalf("DeadLetterPolicy = %+v, %v", policy, err)
	}
	when := time.Date(2016, 6, 1, 19, 36, 0, 0, time.UTC)
	commit := Commit{
		Stream: "twitter",
		Ranges: []RangeStats{{OffsetRange: OffsetRange{Partition: 0, Start: 42, End: 50}, Records: 8, Rejected: 2}},
		Rows:   []Row{},
		DeadLetters: []DeadLetter{
			{Partition: 0, Offset: 43, Time: when, Reason: "malformed JSON", Value: []byte("{\x00\xff\n"), Length: 4},
			{Partition: 0, Offset: 45, Reason: "empty payload", Length: 0},
		},
	}
	if err := sink.Commit(ctx, commit); err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(impl.got, commit) {
		t.Errorf("sink received %+v, want %+v", impl.got, commit)
	}
	p := int32(0)
	q := DeadLetterQuery{Stream: "twitter", Reason: "malformed JSON", Partition: &p, After: &DeadLetterPosition{Stream: "twitter", Partition: 0, Offset: 1}, Limit: 10}
	got, err := store.DeadLetters(ctx, q)
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(impl.query, q) {
		t.Errorf("sink was asked %+v, want %+v", impl.query, q)
	}
	if len(got) != 2 || !reflect.DeepEqual(got[0].DeadLetter, commit.DeadLetters[0]) || got[0].Stream != "twitter" || !got[0].CommittedAt.Equal(time.Unix(1700000000, 0)) {
		t.Errorf("DeadLetters = %+v", got)
	}
}

func TestSinkWithoutDeadLettersSaysSo(t *testing.T) {
	store := dispense(t, KindSink, &sinkPlugin{impl: &recordingSink{}}).(DeadLetterStore)
	if _, err := store.DeadLetterPolicy(context.Background()); !errors.Is(err, rpc.ErrDeadLettersUnsupported) {
		t.Errorf("DeadLetterPolicy = %v, want ErrDeadLettersUnsupported", err)
	}
	if _, err := store.DeadLetters(context.Background(), DeadLetterQuery{}); !errors.Is(err, rpc.ErrDeadLettersUnsupported) {
		t.Errorf("DeadLetters = %v, want ErrDeadLettersUnsupported", err)
	}
}
