package conformance

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"maps"
	"testing"
	"time"

	"github.com/kappa-stream/kappa/sdk"
)

// SinkFixture is a sink under test.
type SinkFixture struct {
	// New returns a new, unopened sink. The kit opens two at once on the
	// same Setup, as a zombie and its successor would be.
	New func() sdk.Sink
	// Setup is what each sink is opened with; Pipeline and Window default
	// to "conformance" and 1m. Rows carry one value per Setup.Dimensions.
	Setup sdk.Setup
	// Timeout bounds each clause; default 60s.
	Timeout time.Duration
}

// TestSink runs the sink contract as subtests of t. Every clause commits
// to a stream of its own with a random name, so that runs against a
// database that outlives the test do not see each other.
func TestSink(t *testing.T, f SinkFixture) {
	t.Helper()
	testChecks(t, orDefault(f.Timeout), sinkChecks(f))
}

// CheckSink runs the sink contract and returns every finding.
func CheckSink(ctx context.Context, f SinkFixture) error {
	return runChecks(ctx, orDefault(f.Timeout), sinkChecks(f))
}

func sinkChecks(f SinkFixture) []check {
	f.Setup = withDefaults(f.Setup)
	return []check{
		{"CommittedPositionsRoundTrip", func(ctx context.Context) error { return checkRoundTrip(ctx, f) }},
		{"StaleStartIsFenced", func(ctx context.Context) error { return checkFenced(ctx, f) }},
		{"CommitIsAllOrNothing", func(ctx context.Context) error { return checkAllOrNothing(ctx, f) }},
		{"DeadLettersLandWithTheirBatch", func(ctx context.Context) error { return checkDeadLetters(ctx, f) }},
		{"RowsBeyondFactLimitsArePermanent", func(ctx context.Context) error { return checkFactLimits(ctx, f) }},
	}
}

func openSink(ctx context.Context, f SinkFixture) (sdk.Sink, error) {
	s := f.New()
	if err := s.Open(ctx, f.Setup); err != nil {
		return nil, fmt.Errorf("open sink: %w", err)
	}
	return s, nil
}

func streamName() string {
	var b [6]byte
	_, _ = rand.Read(b[:])
	return "conformance-" + hex.EncodeToString(b[:])
}

// commitOf builds a commit of the given ranges with one row per range.
func commitOf(f SinkFixture, stream string, ranges ...sdk.OffsetRange) sdk.Commit {
	c := sdk.Commit{Stream: stream}
	window := baseWindow(stream, f.Setup.Window)
	for i, r := range ranges {
		n := r.End - r.Start
		c.Ranges = append(c.Ranges, sdk.RangeStats{OffsetRange: r, Records: n, Facts: n})
		row := sdk.Row{OffsetRange: r, Window: window.Add(time.Duration(i) * f.Setup.Window), Count: n}
		for j := range f.Setup.Dimensions {
			row.Dims = append(row.Dims, fmt.Sprintf("d%d", j))
		}
		c.Rows = append(c.Rows, row)
	}
	return c
}

// baseWindow picks the windows of a stream's rows at random, once per
// stream: a sink's aggregate table may be shared by streams (the 2016
// layout has no stream column), and the rows of one clause must not collide
// with another's.
func baseWindow(stream string, window time.Duration) time.Time {
	var n uint64
	for _, c := range []byte(stream) {
		n = n*31 + uint64(c)
	}
	start := time.Date(2016, 6, 1, 0, 0, 0, 0, time.UTC)
	return start.Add(time.Duration(n%(1<<16)) * 16 * window)
}

func rng(p int32, start, end int64) sdk.OffsetRange {
	return sdk.OffsetRange{Partition: p, Start: start, End: end}
}

func readPositions(ctx context.Context, s sdk.Sink, stream string) (map[int32]int64, error) {
	ps, err := s.Positions(ctx, stream)
	if err != nil {
		return nil, fmt.Errorf("positions: %w", err)
	}
	m := map[int32]int64{}
	for _, p := range ps {
		m[p.Partition] = p.NextOffset
	}
	return m, nil
}

// expectPositions is a finding of clause when s's positions differ from want.
func expectPositions(ctx context.Context, s sdk.Sink, stream string, want map[int32]int64, clause error, after string) error {
	got, err := readPositions(ctx, s, stream)
	if err != nil {
		return err
	}
	if !maps.Equal(got, want) {
		return violation(clause, "after %s: positions %v, want %v", after, got, want)
	}
	return nil
}

// checkRoundTrip: a new stream has no positions; each commit's Ends read
// back, from the same sink and from a sink opened afterwards, an anchor's
// too.
func checkRoundTrip(ctx context.Context, f SinkFixture) error {
	stream := streamName()
	s, err := openSink(ctx, f)
	if err != nil {
		return err
	}
	defer s.Close(context.WithoutCancel(ctx))
	if err := expectPositions(ctx, s, stream, map[int32]int64{}, ErrPositionsLost, "nothing"); err != nil {
		return err
	}
	steps := []struct {
		commit sdk.Commit
		want   map[int32]int64
	}{
		{commitOf(f, stream, rng(0, 0, 10), rng(1, 0, 5)), map[int32]int64{0: 10, 1: 5}},
		// ranges that hold no row still advance; a partition without a
		// position starts at its first range
		{commitOf(f, stream, rng(0, 10, 25), rng(1, 5, 8), rng(2, 40, 42)), map[int32]int64{0: 25, 1: 8, 2: 42}},
		// an anchor (an empty range, no rows) places a partition's first
		// position (sdk.Source.Poll)
		{sdk.Commit{Stream: stream, Ranges: []sdk.RangeStats{{OffsetRange: rng(3, 7, 7)}}}, map[int32]int64{0: 25, 1: 8, 2: 42, 3: 7}},
	}
	steps[1].commit.Rows = steps[1].commit.Rows[:1]
	for i, st := range steps {
		if err := s.Commit(ctx, st.commit); err != nil {
			return violation(ErrPositionsLost, "commit %d %v: %v", i+1, st.commit.Ranges, err)
		}
		if err := expectPositions(ctx, s, stream, st.want, ErrPositionsLost, fmt.Sprintf("commit %d", i+1)); err != nil {
			return err
		}
	}
	again, err := openSink(ctx, f)
	if err != nil {
		return err
	}
	defer again.Close(context.WithoutCancel(ctx))
	return expectPositions(ctx, again, stream, steps[len(steps)-1].want, ErrPositionsLost, "reopening")
}

// checkFenced: two sinks read the same positions; once one has committed,
// the other's commit from the same start is fenced and changes nothing.
func checkFenced(ctx context.Context, f SinkFixture) error {
	stream := streamName()
	winner, err := openSink(ctx, f)
	if err != nil {
		return err
	}
	defer winner.Close(context.WithoutCancel(ctx))
	zombie, err := openSink(ctx, f)
	if err != nil {
		return err
	}
	defer zombie.Close(context.WithoutCancel(ctx))
	if err := winner.Commit(ctx, commitOf(f, stream, rng(0, 0, 10))); err != nil {
		return fmt.Errorf("first commit: %w", err)
	}
	if err := winner.Commit(ctx, commitOf(f, stream, rng(0, 10, 20))); err != nil {
		return fmt.Errorf("second commit: %w", err)
	}
	var findings []error
	for _, stale := range []sdk.OffsetRange{rng(0, 10, 30), rng(0, 0, 10), rng(0, 25, 30)} {
		err := zombie.Commit(ctx, commitOf(f, stream, stale))
		if !errors.Is(err, sdk.ErrFenced) {
			findings = append(findings, violation(ErrNotFenced, "position 20, commit of [%d, %d) returned %v, want an error wrapping sdk.ErrFenced", stale.Start, stale.End, err))
		}
	}
	if err := expectPositions(ctx, winner, stream, map[int32]int64{0: 20}, ErrNotFenced, "stale commits"); err != nil {
		findings = append(findings, err)
	}
	return errors.Join(findings...)
}

// checkAllOrNothing: a commit of several ranges of which one is stale is
// fenced as a whole, whichever position the stale range has in the commit.
func checkAllOrNothing(ctx context.Context, f SinkFixture) error {
	stream := streamName()
	s, err := openSink(ctx, f)
	if err != nil {
		return err
	}
	defer s.Close(context.WithoutCancel(ctx))
	base := map[int32]int64{0: 10, 1: 10, 2: 10}
	if err := s.Commit(ctx, commitOf(f, stream, rng(0, 0, 10), rng(1, 0, 10), rng(2, 0, 10))); err != nil {
		return fmt.Errorf("first commit: %w", err)
	}
	var findings []error
	for _, c := range [][]sdk.OffsetRange{
		{rng(0, 10, 20), rng(1, 10, 20), rng(2, 3, 20)}, // stale last
		{rng(0, 3, 20), rng(1, 10, 20), rng(2, 10, 20)}, // stale first
		{rng(0, 10, 20), rng(1, 11, 20), rng(2, 10, 20)},
	} {
		err := s.Commit(ctx, commitOf(f, stream, c...))
		if !errors.Is(err, sdk.ErrFenced) {
			findings = append(findings, violation(ErrNotFenced, "commit %v with one stale range returned %v, want an error wrapping sdk.ErrFenced", c, err))
		}
		if err := expectPositions(ctx, s, stream, base, ErrNotAtomic, fmt.Sprintf("fenced commit %v", c)); err != nil {
			findings = append(findings, err)
			break
		}
	}
	return errors.Join(findings...)
}
