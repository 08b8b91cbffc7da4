package sdk

import (
	"context"
	"errors"
	"fmt"
	"testing"
)

// failingSink fails every Commit with the error its stream names.
type failingSink struct{ recordingSink }

func (s *failingSink) Commit(_ context.Context, c Commit) error {
	base := errors.New("Error 1213 (40001): Deadlock found when trying to get lock")
	switch c.Stream {
	case "retryable":
		return Retryable(fmt.Errorf("commit: %w", base))
	case "permanent":
		return Permanent(fmt.Errorf("commit: %w", base))
	case "fenced":
		return Retryable(fmt.Errorf("commit: %w", ErrFenced))
	}
	return fmt.Errorf("commit: %w", base)
}

// Each class of the error vocabulary arrives at the runtime as the plugin
// returned it, with its message, and in one class only.
func TestErrorClassesCrossTheBoundary(t *testing.T) {
	sink := dispense(t, KindSink, &sinkPlugin{impl: &failingSink{}}).(Sink)
	const msg = "sink commit: commit: Error 1213 (40001): Deadlock found when trying to get lock"
	for _, tt := range []struct {
		stream                      string
		retryable, permanent, fence bool
		msg                         string
	}{
		{stream: "retryable", retryable: true, msg: msg},
		{stream: "permanent", permanent: true, msg: msg},
		{stream: "unknown", msg: msg},
		{stream: "fenced", fence: true},
	} {
		t.Run(tt.stream, func(t *testing.T) {
			err := sink.Commit(context.Background(), Commit{Stream: tt.stream})
			if err == nil {
				t.Fatal("Commit = nil, want an error")
			}
			if got := errors.Is(err, ErrRetryable); got != tt.retryable {
				t.Errorf("errors.Is(%v, ErrRetryable) = %v, want %v", err, got, tt.retryable)
			}
			if got := errors.Is(err, ErrPermanent); got != tt.permanent {
				t.Errorf("errors.Is(%v, ErrPermanent) = %v, want %v", err, got, tt.permanent)
			}
			if got := errors.Is(err, ErrFenced); got != tt.fence {
				t.Errorf("errors.Is(%v, ErrFenced) = %v, want %v", err, got, tt.fence)
			}
			if tt.msg != "" && err.Error() != tt.msg {
				t.Errorf("message %q, want %q", err.Error(), tt.msg)
			}
		})
	}
}

func TestRetryableLeavesFencedAndPermanentAlone(t *testing.T) {
	if Retryable(nil) != nil {
		t.Error("Retryable(nil) != nil")
	}
	for _, err := range []error{fmt.Errorf("x: %w", ErrFenced), Permanent(errors.New("x"))} {
		if errors.Is(Retryable(err), ErrRetryable) {
			t.Errorf("Retryable(%v) is retryable; a fenced or permanent error must stay what it is", err)
		}
	}
}

// A source's rebalance notice reaches the runtime with its partitions, as a
// RebalanceError and nothing else; the group a source joined comes with
// its SourceInfo.
func TestRebalanceCrossesTheBoundary(t *testing.T) {
	want := &RebalanceError{Assigned: []int32{4}, Revoked: []int32{1, 2}, Lost: []int32{7}, Owned: []int32{0, 4}}
	src := dispense(t, KindSource, &sourcePlugin{impl: &echoSource{pollErr: fmt.Errorf("poll: %w", want)}}).(Source)
	info, err := src.Open(context.Background(), Setup{Pipeline: "p", Config: []byte("workers")})
	if err != nil || info.Group != "workers" {
		t.Fatalf("Open = %+v, %v; want group workers", info, err)
	}
	_, err = src.Poll(context.Background(), Limits{})
	var got *RebalanceError
	if !errors.As(err, &got) || !errors.Is(err, ErrRebalanced) {
		t.Fatalf("Poll = %v, want a RebalanceError", err)
	}
	if fmt.Sprint(*got) != fmt.Sprint(*want) {
		t.Errorf("got %+v, want %+v", *got, *want)
	}
	if errors.Is(err, ErrFenced) || errors.Is(err, ErrRetryable) || errors.Is(err, ErrPermanent) {
		t.Errorf("%v matches another class", err)
	}
}
