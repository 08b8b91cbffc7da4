package command

import (
	"bytes"
	"strings"
	"testing"

	"github.com/kappa-stream/kappa/sdk"
)

func rs(p int32, start, end, records, facts, skipped, rejected int64) sdk.RangeStats {
	return sdk.RangeStats{OffsetRange: sdk.OffsetRange{Partition: p, Start: start, End: end}, Records: records, Facts: facts, Skipped: skipped, Rejected: rejected}
}

func agg(p int32, start, end, rows, count int64) sdk.AggregateRange {
	return sdk.AggregateRange{OffsetRange: sdk.OffsetRange{Partition: p, Start: start, End: end}, Rows: rows, Count: count}
}

// clean is two partitions committed in contiguous ranges whose counters
// add up; partition 1 has a range of notices only (no aggregate row) and
// a range with a transaction marker (one offset without a record).
func clean() sdk.StreamAudit {
	return sdk.StreamAudit{
		Stream:    "twitter",
		Positions: []sdk.Position{{Partition: 0, NextOffset: 30}, {Partition: 1, NextOffset: 25}},
		Batches: []sdk.RangeStats{
			rs(0, 0, 10, 10, 9, 1, 0), rs(0, 10, 30, 20, 18, 0, 2),
			rs(1, 5, 15, 10, 0, 10, 0), rs(1, 15, 25, 9, 9, 0, 0),
		},
		Aggregates: []sdk.AggregateRange{agg(0, 0, 10, 2, 9), agg(0, 10, 30, 3, 18), agg(1, 15, 25, 1, 9)},
	}
}

func TestAuditOfCleanCommits(t *testing.T) {
	r := CheckAudit(clean())
	if len(r.problems) > 0 {
		t.Fatalf("problems in a clean audit: %q", r.problems)
	}
	var out bytes.Buffer
	r.Print(&out)
	for _, want := range []string{"audit clean", "next_offset", "\n        all  "} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("summary lacks %q:\n%s", want, out.String())
		}
	}
	if r.partitions[0].first != 0 || r.partitions[1].first != 5 || r.partitions[0].counted != 27 {
		t.Errorf("summary %+v %+v", *r.partitions[0], *r.partitions[1])
	}
}

func TestAuditFindsEachKindOfProblem(t *testing.T) {
	for _, c := range []struct {
		name    string
		breakIt func(*sdk.StreamAudit)
		want    string
	}{
		{"gap between ranges", func(a *sdk.StreamAudit) { a.Batches[1].Start = 12 }, "partition 0: gap: offsets [10, 12)"},
		{"overlap of ranges", func(a *sdk.StreamAudit) { a.Batches = append(a.Batches, rs(0, 5, 10, 5, 5, 0, 0)) }, "partition 0: overlap"},
		{"position past the last range", func(a *sdk.StreamAudit) { a.Positions[1].NextOffset = 26 }, "partition 1: gap: committed position 26"},
		{"range past the position", func(a *sdk.StreamAudit) { a.Positions[0].NextOffset = 29 }, "partition 0: overlap: committed range [10, 30) ends past"},
		{"rows counting more than the facts", func(a *sdk.StreamAudit) { a.Aggregates[0].Count++ }, "range [0, 10): 9 facts committed but its aggregate rows count 10"},
		{"rows of no committed range", func(a *sdk.StreamAudit) { a.Aggregates = append(a.Aggregates, agg(1, 0, 5, 1, 3)) }, "partition 1: 1 aggregate rows counting 3 carry range [0, 5), which no commit"},
		{"more records than offsets", func(a *sdk.StreamAudit) { a.Batches[3].Records = 11 }, "11 records read and 0 offsets lost of 10 offsets"},
		{"more lost than offsets", func(a *sdk.StreamAudit) { a.Batches[3].Lost = 3 }, "9 records read and 3 offsets lost of 10 offsets"},
		{"records without outcome", func(a *sdk.StreamAudit) { a.Batches[0].Facts, a.Aggregates[0].Count = 8, 8 }, "8 facts for 9 records"},
		{"rows of an anchored partition", func(a *sdk.StreamAudit) {
			a.Positions = append(a.Positions, sdk.Position{Partition: 2, NextOffset: 4})
			a.Aggregates = append(a.Aggregates, agg(2, 0, 4, 1, 3))
		}, "partition 2: 1 aggregate rows counting 3 carry range [0, 4), which no commit"},
	} {
		t.Run(c.name, func(t *testing.T) {
			a := clean()
			c.breakIt(&a)
			r := CheckAudit(a)
			if len(r.problems) == 0 || !strings.Contains(strings.Join(r.problems, "\n"), c.want) {
				t.Fatalf("problems %q, want one containing %q", r.problems, c.want)
			}
			var out bytes.Buffer
			r.Print(&out)
			if strings.Contains(out.String(), "audit clean") {
				t.Errorf("a failed audit printed clean:\n%s", out.String())
			}
		})
	}
}

// A position without ranges is an anchor (sdk.Source.Poll): where a
// partition starts, nothing read yet. It is clean.
func TestAuditTakesAPositionWithoutRangesForAnAnchor(t *testing.T) {
	a := clean()
	a.Positions = append(a.Positions, sdk.Position{Partition: 2, NextOffset: 4})
	r := CheckAudit(a)
	if len(r.problems) != 0 {
		t.Fatalf("problems %q, want none", r.problems)
	}
	p := r.partitions[len(r.partitions)-1]
	if p.partition != 2 || p.first != 4 || p.next != 4 || p.batches != 0 {
		t.Errorf("anchored partition summed as %+v, want first = next = 4 and no batches", *p)
	}
}
