package main

import (
	"context"
	"testing"
	"time"

	"github.com/kappa-stream/kappa/sdk"
	"github.com/kappa-stream/kappa/sdk/conformance"
)

var samples = []string{
	`{"timestamp_ms":"1464809760000","entities":{"hashtags":[{"text":"Go"},{"text":"kafka"},{"text":"go"}]}}`,
	`{"timestamp_ms":"1464809820000","entities":{"hashtags":[]}}`,
	`{"delete":{"status":{"id":1}},"timestamp_ms":"1464809760000"}`,
	`{"entities":{"hashtags":[{"text":"notime"}]}}`,
	`{not json`,
}

func records() []sdk.Record {
	rs := make([]sdk.Record, len(samples))
	for i, s := range samples {
		rs[i] = sdk.Record{Offset: int64(i), Value: []byte(s)}
	}
	return rs
}

func TestConformance(t *testing.T) {
	conformance.TestExtractor(t, conformance.ExtractorFixture{
		New:     func() sdk.Extractor { return Hashtags{} },
		Setup:   sdk.Setup{Dimensions: []string{"hashtag"}},
		Records: records(),
	})
}

func TestOneFactPerDistinctHashtag(t *testing.T) {
	var out sdk.Extraction
	if err := (Hashtags{}).Extract(context.Background(), records(), &out); err != nil {
		t.Fatal(err)
	}
	at := time.UnixMilli(1464809760000)
	want := []sdk.Fact{{Record: 0, Time: at, Dims: []string{"go"}}, {Record: 0, Time: at, Dims: []string{"kafka"}}}
	if len(out.Facts) != len(want) {
		t.Fatalf("facts %+v, want %+v", out.Facts, want)
	}
	for i, f := range out.Facts {
		if f.Record != want[i].Record || !f.Time.Equal(want[i].Time) || f.Dims[0] != want[i].Dims[0] {
			t.Errorf("fact %d = %+v, want %+v", i, f, want[i])
		}
	}
	if len(out.Skipped) != 2 || out.Skipped[0].Record != 1 || out.Skipped[1].Record != 2 {
		t.Errorf("skipped %+v, want records 1 and 2", out.Skipped)
	}
	if len(out.Rejected) != 2 || out.Rejected[0].Reason != "no timestamp_ms" || out.Rejected[1].Reason != "malformed json" {
		t.Errorf("rejected %+v, want records 3 (no timestamp_ms) and 4 (malformed json)", out.Rejected)
	}
}

func TestOpenWantsOneDimension(t *testing.T) {
	if err := (Hashtags{}).Open(context.Background(), sdk.Setup{}); err == nil {
		t.Error("Open without dimensions succeeded; facts would not match the pipeline")
	}
}
