// Package sinktest holds what mysql-sink's and postgres-sink's tests
// share: opening a sink for a test, a step of its generations, the SDK's
// conformance suite over both layouts, and the checks of the config keys
// both sinks declare (internal/sinkconfig). The servers and the SQL each
// test reads back stay in the sink's own tests.
package sinktest

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/kappa-stream/kappa/sdk"
	"github.com/kappa-stream/kappa/sdk/conformance"
)

// Minute is the window of the tests' rows: a minute of the 2016 job's data.
var Minute = time.Date(2016, 6, 1, 19, 36, 0, 0, time.UTC)

// Open opens s for the test (pipeline "tweets" and a one-minute window
// unless setup says otherwise) and closes it when the test ends.
func Open[S sdk.Sink](tb testing.TB, s S, setup sdk.Setup) S {
	tb.Helper()
	if setup.Pipeline == "" {
		setup.Pipeline = "tweets"
	}
	if setup.Window == 0 {
		setup.Window = time.Minute
	}
	if err := s.Open(context.Background(), setup); err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() {
		if err := s.Close(context.Background()); err != nil {
			tb.Error(err)
		}
	})
	return s
}

// Step performs generations step op with req and fails the test on an
// error.
func Step(t *testing.T, g sdk.Generations, op sdk.GenerationOp, req sdk.GenerationsRequest) sdk.GenerationsResult {
	t.Helper()
	req.Op = op
	res, err := g.Generations(context.Background(), req)
	if err != nil {
		t.Fatalf("%s: %v", op, err)
	}
	return res
}

// Conformance runs the SDK's sink contract without dimensions (the 2016
// layout) and with two and dead letters; config is the sink's config for
// an aggregate table of that name, with extra keys appended.
func Conformance(t *testing.T, newSink func() sdk.Sink, config func(table, extra string) []byte) {
	for name, dims := range map[string][]string{"nodimensions": nil, "twodimensions": {"lang", "source"}} {
		extra := ""
		if dims != nil {
			extra = "dead_letters: kappa_dead_letters\ndead_letters_max_bytes: 64\n"
		}
		t.Run(name, func(t *testing.T) {
			conformance.TestSink(t, conformance.SinkFixture{
				New:   newSink,
				Setup: sdk.Setup{Config: config("t_"+name, extra), Dimensions: dims},
			})
		})
	}
}

// DeadLetterConfigIsChecked checks that each bad dead-letter key is one
// problem at its key; check parses and validates a config of the table
// twitter with extra keys appended.
func DeadLetterConfigIsChecked(t *testing.T, check func(extra string) error) {
	for _, tc := range []struct{ extra, path string }{
		{"dead_letters: kappa_dead_letters\ndead_letters_max_bytes: 0\n", "dead_letters_max_bytes"},
		{"dead_letters: kappa_dead_letters\ndead_letters_max_bytes: 2000000\n", "dead_letters_max_bytes"},
		{"dead_letters_retention: 1h\n", "dead_letters_retention"},
		{"dead_letters: 'Bad name'\n", "dead_letters"},
		{"dead_letters: kappa_batches\n", "dead_letters"},
	} {
		err := check(tc.extra)
		var errs sdk.ConfigErrors
		if !errors.As(err, &errs) || len(errs) != 1 || errs[0].Path != tc.path {
			t.Errorf("%q: %v, want one problem at %s", tc.extra, err, tc.path)
		}
	}
}
