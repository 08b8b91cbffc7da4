package auditreport

import (
	"reflect"
	"testing"

	"github.com/kappa-stream/kappa/sdk"
)

func TestReportAttributesRowsToTheOnlyStream(t *testing.T) {
	var r Report
	rg := sdk.OffsetRange{Partition: 0, Start: 0, End: 10}
	r.Position("twitter", sdk.Position{Partition: 0, NextOffset: 20})
	r.Batch("twitter", sdk.RangeStats{OffsetRange: rg, Records: 10, Facts: 9}, false)
	r.Batch("twitter", sdk.RangeStats{OffsetRange: sdk.OffsetRange{Start: 10, End: 20}}, true)
	r.Aggregate(sdk.AggregateRange{OffsetRange: rg, Rows: 2, Count: 9})
	got, err := r.Streams("tweets", "twitter")
	want := []sdk.StreamAudit{{
		Stream:     "twitter",
		Positions:  []sdk.Position{{Partition: 0, NextOffset: 20}},
		Batches:    []sdk.RangeStats{{OffsetRange: rg, Records: 10, Facts: 9}},
		Adopted:    []sdk.OffsetRange{{Start: 10, End: 20}},
		Aggregates: []sdk.AggregateRange{{OffsetRange: rg, Rows: 2, Count: 9}},
	}}
	if err != nil || !reflect.DeepEqual(got, want) {
		t.Errorf("report %+v, %v\nwant %+v", got, err, want)
	}

	var orphans Report
	orphans.Aggregate(sdk.AggregateRange{OffsetRange: rg, Rows: 1, Count: 1})
	if got, err := orphans.Streams("tweets", "twitter"); err != nil || len(got) != 1 || got[0].Stream != "" || len(got[0].Aggregates) != 1 {
		t.Errorf("rows without a stream: %+v, %v; want them under stream \"\"", got, err)
	}

	var two Report
	two.Position("a", sdk.Position{})
	two.Position("b", sdk.Position{})
	two.Aggregate(sdk.AggregateRange{OffsetRange: rg})
	if _, err := two.Streams("tweets", "twitter"); err == nil || err.Error() != ManyStreams("tweets", 2, "twitter").Error() {
		t.Errorf("two streams into one table: %v", err)
	}
}
