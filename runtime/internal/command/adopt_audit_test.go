package command

import (
	"bytes"
	"strings"
	"testing"

	"github.com/kappa-stream/kappa/sdk"
)

// adoptedThenCommitted is partition 0 adopted over [0, 100), whose rows
// carry the old job's ranges [0, 40) and [40, 100), and then committed by
// Kappa in [100, 130).
func adoptedThenCommitted() sdk.StreamAudit {
	return sdk.StreamAudit{
		Stream:     "twitter",
		Positions:  []sdk.Position{{Partition: 0, NextOffset: 130}},
		Adopted:    []sdk.OffsetRange{{Partition: 0, Start: 0, End: 100}},
		Batches:    []sdk.RangeStats{rs(0, 100, 130, 30, 30, 0, 0)},
		Aggregates: []sdk.AggregateRange{agg(0, 0, 40, 3, 39), agg(0, 40, 100, 2, 60), agg(0, 100, 130, 2, 30)},
	}
}

// An adopted range has unknown counters: the audit places it in the
// partition's ranges, counts its rows as its own and says it is adopted,
// instead of failing it.
func TestAuditAcceptsAnAdoptedRange(t *testing.T) {
	r := CheckAudit(adoptedThenCommitted())
	if len(r.problems) > 0 {
		t.Fatalf("problems in the audit of an adopted range: %q", r.problems)
	}
	var out bytes.Buffer
	r.Print(&out)
	for _, want := range []string{"audit clean", "ADOPTED: partition 0: offsets [0, 100) adopted", "counters unknown", "5 aggregate rows counting 99"} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("audit output lacks %q:\n%s", want, out.String())
		}
	}
	if p := r.partitions[0]; p.first != 0 || p.next != 130 || p.counted != 129 || p.batches != 1 {
		t.Errorf("partition 0 summed as %+v, want first 0, next 130, 129 counted, 1 committed batch", *p)
	}
}

// Only the place of an adopted range goes unchecked: a gap after it, a
// committed range overlapping it and rows reaching out of it still fail.
func TestAuditChecksWhereAnAdoptedRangeLies(t *testing.T) {
	for _, c := range []struct {
		name    string
		breakIt func(*sdk.StreamAudit)
		want    string
	}{
		{"gap after it", func(a *sdk.StreamAudit) { a.Adopted[0].End = 90 }, "partition 0: gap: offsets [90, 100)"},
		{"overlap with a commit", func(a *sdk.StreamAudit) { a.Adopted[0].End = 110 }, "partition 0: overlap"},
		{"rows reaching out of it", func(a *sdk.StreamAudit) { a.Aggregates[1].End = 105 }, "carry range [40, 105), which no commit recorded"},
	} {
		t.Run(c.name, func(t *testing.T) {
			a := adoptedThenCommitted()
			c.breakIt(&a)
			r := CheckAudit(a)
			if !strings.Contains(strings.Join(r.problems, "\n"), c.want) {
				t.Fatalf("problems %q, want one containing %q", r.problems, c.want)
			}
		})
	}
}
