// Package conformance drives a Source, Extractor or Sink through the
// contract the runtime relies on for exactly-once results. Plugin authors
// call it from their own tests:
//
//	func TestConformance(t *testing.T) {
//		conformance.TestExtractor(t, conformance.ExtractorFixture{
//			New:     func() sdk.Extractor { return hashtags.New() },
//			Records: sampleRecords,
//		})
//	}
//
// Test* runs one subtest per clause of the contract and fails it with what
// was seen; Check* returns the same findings as one error, each a
// *Violation matching one of the Err* sentinels with errors.Is, for tools
// and for tests of the kit itself.
package conformance

import (
	"context"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/kappa-stream/kappa/sdk"
)

// The clauses of the contract. A finding wraps exactly one of them.
var (
	// ErrNotContiguous: a partition's ranges do not follow each other from
	// the seek position (a range starts past or before the previous End).
	ErrNotContiguous = errors.New("ranges are not contiguous from the seek position")
	// ErrRecordOutsideRange: a record's offset lies outside its range, or
	// records are not in increasing offset order, or on another partition.
	ErrRecordOutsideRange = errors.New("record outside its range")
	// ErrIncomplete: reading up to the watermarks did not return every
	// record the fixture holds, or did not reach the watermarks in time.
	ErrIncomplete = errors.New("records missing")
	// ErrReplayDiffers: reading again from a position gave other records.
	ErrReplayDiffers = errors.New("re-read records differ")
	// ErrPositionsLost: committed positions did not read back as committed.
	ErrPositionsLost = errors.New("committed positions do not round-trip")
	// ErrNotAtomic: a fenced commit changed some position anyway.
	ErrNotAtomic = errors.New("commit is not all-or-nothing")
	// ErrNotFenced: a commit from a stale start was accepted, or its error
	// does not wrap sdk.ErrFenced.
	ErrNotFenced = errors.New("stale start not fenced")
	// ErrOutcome: a record got no outcome, or more than one kind of outcome,
	// or an outcome names a record that was not given.
	ErrOutcome = errors.New("not exactly one outcome per record")
	// ErrFactShape: a fact has no event time or not one value per dimension.
	ErrFactShape = errors.New("malformed fact")
	// ErrNondeterministic: the same records gave different outcomes.
	ErrNondeterministic = errors.New("extraction is not deterministic")
)

// Violation is one finding: which clause, and what was seen.
type Violation struct {
	Clause error
	Detail string
}

func (v *Violation) Error() string { return v.Clause.Error() + ": " + v.Detail }

// Unwrap makes errors.Is(v, ErrNotContiguous) and the like work.
func (v *Violation) Unwrap() error { return v.Clause }

func violation(clause error, format string, args ...any) error {
	return &Violation{Clause: clause, Detail: fmt.Sprintf(format, args...)}
}

// check is one clause's test: it returns its findings (joined) or nil, and
// a plain error when the fixture itself failed (a source that does not
// open), which is reported as such rather than as a violation.
type check struct {
	name string
	run  func(ctx context.Context) error
}

// runChecks runs every check, each bounded by timeout, so that a source
// that never reaches its watermarks fails instead of hanging.
func runChecks(ctx context.Context, timeout time.Duration, checks []check) error {
	var errs []error
	for _, c := range checks {
		cctx, cancel := context.WithTimeout(ctx, timeout)
		err := c.run(cctx)
		cancel()
		if err != nil {
			errs = append(errs, fmt.Errorf("%s: %w", c.name, err))
		}
	}
	return errors.Join(errs...)
}

func testChecks(t *testing.T, timeout time.Duration, checks []check) {
	t.Helper()
	for _, c := range checks {
		t.Run(c.name, func(t *testing.T) {
			ctx, cancel := context.WithTimeout(context.Background(), timeout)
			defer cancel()
			if err := c.run(ctx); err != nil {
				t.Error(err)
			}
		})
	}
}

const defaultTimeout = 60 * time.Second

func orDefault(d time.Duration) time.Duration {
	if d <= 0 {
		return defaultTimeout
	}
	return d
}

// withDefaults fills what the runtime always sets.
func withDefaults(s sdk.Setup) sdk.Setup {
	if s.Pipeline == "" {
		s.Pipeline = "conformance"
	}
	if s.Window == 0 {
		s.Window = time.Minute
	}
	if s.Config == nil {
		s.Config = []byte("{}\n")
	}
	return s
}
