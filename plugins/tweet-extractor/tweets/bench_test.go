package tweets

import (
	"context"
	"encoding/json"
	"testing"

	"github.com/kappa-stream/kappa/sdk"
)

// BenchmarkExtract measures throughput over the real payloads, one batch of
// a whole file per operation.
//
//	go test -run '^$' -bench Extract -benchmem ./plugins/tweet-extractor/tweets/
func BenchmarkExtract(b *testing.B) {
	for _, bc := range []struct {
		name string
		file string
		dims []string
	}{
		{"v1", "tweets-v1.jsonl", nil},
		{"v1/dims=lang,source", "tweets-v1.jsonl", bothDims},
		{"v2", "tweets-v2.jsonl", nil},
	} {
		b.Run(bc.name, func(b *testing.B) {
			lines := realLines(b, bc.file)
			records := make([]sdk.Record, len(lines))
			var size int64
			for i, l := range lines {
				records[i] = sdk.Record{Offset: int64(i), Value: l}
				size += int64(len(l))
			}
			x := New()
			if err := x.Open(context.Background(), sdk.Setup{Dimensions: bc.dims}); err != nil {
				b.Fatal(err)
			}
			out := &sdk.Extraction{}
			b.SetBytes(size)
			b.ReportAllocs()
			for b.Loop() {
				out.Reset()
				if err := x.Extract(context.Background(), records, out); err != nil {
					b.Fatal(err)
				}
			}
			b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*len(records)), "ns/record")
		})
	}
}

// BenchmarkEncodingJSONValid is the yardstick: encoding/json only checking
// the same bytes, without decoding anything.
func BenchmarkEncodingJSONValid(b *testing.B) {
	lines := realLines(b, "tweets-v1.jsonl")
	var size int64
	for _, l := range lines {
		size += int64(len(l))
	}
	b.SetBytes(size)
	for b.Loop() {
		for _, l := range lines {
			if !json.Valid(l) {
				b.Fatal("invalid line")
			}
		}
	}
}
