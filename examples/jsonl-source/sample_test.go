package main

import (
	"context"
	"testing"

	"github.com/kappa-stream/kappa/plugins/tweet-extractor/tweets"
	"github.com/kappa-stream/kappa/sdk"
)

// TestSampleData reads testdata/, the files pipeline.yaml names with
// KAPPA_JSONL_DIR=examples/jsonl-source/testdata, and hands the lines to
// the stock tweet-extractor, as that pipeline does: ten tweets and a
// deletion notice, offsets counted per file from 0.
func TestSampleData(t *testing.T) {
	ctx := context.Background()
	s := &Files{}
	if _, err := s.Open(ctx, sdk.Setup{Config: []byte("files: [testdata/tweets-0.jsonl, testdata/tweets-1.jsonl]\nstream: tweets\n")}); err != nil {
		t.Fatal(err)
	}
	if err := s.Seek(ctx, nil); err != nil {
		t.Fatal(err)
	}
	batch, err := s.Poll(ctx, sdk.Limits{MaxRecords: 100, MaxBytes: 1 << 20})
	if err != nil {
		t.Fatal(err)
	}
	var records []sdk.Record
	for _, p := range batch.Partitions {
		if want := [...]int64{5, 6}[p.Partition]; p.Start != 0 || p.End != want {
			t.Errorf("partition %d: range [%d, %d), want [0, %d)", p.Partition, p.Start, p.End, want)
		}
		records = append(records, p.Records...)
	}
	x := tweets.New()
	if err := x.Open(ctx, sdk.Setup{}); err != nil {
		t.Fatal(err)
	}
	var out sdk.Extraction
	if err := x.Extract(ctx, records, &out); err != nil {
		t.Fatal(err)
	}
	if len(out.Facts) != 10 || len(out.Skipped) != 1 || len(out.Rejected) != 0 {
		t.Errorf("extraction of %d records: %d facts, %d skipped, %d rejected (%v); want 10, 1, 0",
			len(records), len(out.Facts), len(out.Skipped), len(out.Rejected), out.Rejected)
	}
}
