package conformance

import (
	"context"
	"fmt"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/kappa-stream/kappa/sdk"
)

// ExtractorFixture is an extractor under test and sample input.
type ExtractorFixture struct {
	// New returns a new, unopened extractor.
	New func() sdk.Extractor
	// Setup is what the extractor is opened with; set Dimensions to test
	// facts with dimensions.
	Setup sdk.Setup
	// Records are sample inputs: good ones, and bad ones the extractor
	// must reject rather than fail on. At least one must give a fact.
	Records []sdk.Record
	// Timeout bounds each clause; default 60s.
	Timeout time.Duration
}

// TestExtractor runs the extractor contract as subtests of t.
func TestExtractor(t *testing.T, f ExtractorFixture) {
	t.Helper()
	testChecks(t, orDefault(f.Timeout), extractorChecks(f))
}

// CheckExtractor runs the extractor contract and returns every finding.
func CheckExtractor(ctx context.Context, f ExtractorFixture) error {
	return runChecks(ctx, orDefault(f.Timeout), extractorChecks(f))
}

func extractorChecks(f ExtractorFixture) []check {
	f.Setup = withDefaults(f.Setup)
	return []check{
		{"OneOutcomePerRecord", func(ctx context.Context) error {
			outcomes, err := extract(ctx, f, f.New(), f.Records)
			if err != nil {
				return err
			}
			return checkOutcomes(f, outcomes)
		}},
		{"Deterministic", func(ctx context.Context) error { return checkDeterministic(ctx, f) }},
	}
}

// outcome is everything an extraction said about one record, in a form
// that compares: its facts in the order given, its skip and reject reasons.
type outcome struct {
	Facts    []sdk.Fact
	Skipped  []string
	Rejected []string
}

// extraction is one Extract call's result, per record.
type extraction struct {
	outcomes []outcome
	// stray lists record numbers outcomes named that were not given.
	stray []int
	facts int
}

func extract(ctx context.Context, f ExtractorFixture, x sdk.Extractor, records []sdk.Record) (extraction, error) {
	if err := x.Open(ctx, f.Setup); err != nil {
		return extraction{}, fmt.Errorf("open extractor: %w", err)
	}
	defer x.Close(context.WithoutCancel(ctx))
	return extractOpen(ctx, x, records)
}

func extractOpen(ctx context.Context, x sdk.Extractor, records []sdk.Record) (extraction, error) {
	var out sdk.Extraction
	if err := x.Extract(ctx, records, &out); err != nil {
		return extraction{}, fmt.Errorf("extract %d records: %w", len(records), err)
	}
	e := extraction{outcomes: make([]outcome, len(records)), facts: len(out.Facts)}
	valid := func(i int) bool {
		if i < 0 || i >= len(records) {
			e.stray = append(e.stray, i)
			return false
		}
		return true
	}
	for _, fact := range out.Facts {
		if valid(fact.Record) {
			i := fact.Record
			// Compared per record, wherever the record sat in the batch.
			fact.Record, fact.Time = 0, fact.Time.UTC()
			e.outcomes[i].Facts = append(e.outcomes[i].Facts, fact)
		}
	}
	for _, v := range out.Skipped {
		if valid(v.Record) {
			e.outcomes[v.Record].Skipped = append(e.outcomes[v.Record].Skipped, v.Reason)
		}
	}
	for _, v := range out.Rejected {
		if valid(v.Record) {
			e.outcomes[v.Record].Rejected = append(e.outcomes[v.Record].Rejected, v.Reason)
		}
	}
	return e, nil
}

// checkOutcomes: every record has one or more facts, or one skip, or one
// reject, and nothing else; facts have a time and one value per dimension.
func checkOutcomes(f ExtractorFixture, e extraction) error {
	var findings []error
	if len(e.stray) > 0 {
		findings = append(findings, violation(ErrOutcome, "outcomes name records %v of %d given", e.stray, len(f.Records)))
	}
	for i, o := range e.outcomes {
		kinds := 0
		for _, n := range []int{len(o.Facts), len(o.Skipped), len(o.Rejected)} {
			if n > 0 {
				kinds++
			}
		}
		switch {
		case kinds == 0:
			findings = append(findings, violation(ErrOutcome, "record %d (offset %d) got no outcome", i, f.Records[i].Offset))
		case kinds > 1 || len(o.Skipped) > 1 || len(o.Rejected) > 1:
			findings = append(findings, violation(ErrOutcome, "record %d (offset %d) got %d facts, %d skips, %d rejects",
				i, f.Records[i].Offset, len(o.Facts), len(o.Skipped), len(o.Rejected)))
		}
		for _, fact := range o.Facts {
			if fact.Time.IsZero() || len(fact.Dims) != len(f.Setup.Dimensions) {
				findings = append(findings, violation(ErrFactShape, "record %d: fact at %v with %d dimension values for dimensions %v",
					i, fact.Time, len(fact.Dims), f.Setup.Dimensions))
			}
		}
	}
	if e.facts == 0 && len(findings) == 0 {
		return fmt.Errorf("fixture: no record gave a fact; add records the extractor counts")
	}
	return joinFindings(findings)
}

// checkDeterministic: the same records give the same outcomes from a second
// call on the same extractor, from a fresh extractor, and when split into
// two batches (in reverse order, so that no state carries over unnoticed).
func checkDeterministic(ctx context.Context, f ExtractorFixture) error {
	x := f.New()
	if err := x.Open(ctx, f.Setup); err != nil {
		return fmt.Errorf("open extractor: %w", err)
	}
	defer x.Close(context.WithoutCancel(ctx))
	first, err := extractOpen(ctx, x, f.Records)
	if err != nil {
		return err
	}
	again, err := extractOpen(ctx, x, f.Records)
	if err != nil {
		return err
	}
	fresh, err := extract(ctx, f, f.New(), f.Records)
	if err != nil {
		return err
	}
	half := len(f.Records) / 2
	tail, err := extractOpen(ctx, x, f.Records[half:])
	if err != nil {
		return err
	}
	head, err := extractOpen(ctx, x, f.Records[:half])
	if err != nil {
		return err
	}
	split := extraction{outcomes: append(slices.Clone(head.outcomes), tail.outcomes...)}
	var findings []error
	for _, run := range []struct {
		name string
		e    extraction
	}{{"a second call", again}, {"a fresh extractor", fresh}, {"two batches", split}} {
		if d := diffOutcomes(f.Records, first.outcomes, run.e.outcomes); d != "" {
			findings = append(findings, violation(ErrNondeterministic, "%s: %s", run.name, d))
		}
	}
	return joinFindings(findings)
}

func diffOutcomes(records []sdk.Record, want, got []outcome) string {
	var diffs []string
	for i := range min(len(want), len(got)) {
		if !reflect.DeepEqual(normalize(want[i]), normalize(got[i])) {
			diffs = append(diffs, fmt.Sprintf("record %d (offset %d): %+v, first %+v", i, records[i].Offset, got[i], want[i]))
		}
	}
	if len(diffs) > 5 {
		diffs = append(diffs[:5], fmt.Sprintf("and %d more", len(diffs)-5))
	}
	return strings.Join(diffs, "; ")
}

// normalize makes nil and empty slices compare equal.
func normalize(o outcome) outcome {
	for i := range o.Facts {
		if len(o.Facts[i].Dims) == 0 {
			o.Facts[i].Dims = nil
		}
	}
	if len(o.Facts) == 0 {
		o.Facts = nil
	}
	if len(o.Skipped) == 0 {
		o.Skipped = nil
	}
	if len(o.Rejected) == 0 {
		o.Rejected = nil
	}
	return o
}
