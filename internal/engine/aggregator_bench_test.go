package engine

import (
	"math/rand/v2"
	"testing"
	"time"

	"github.com/kappa-stream/kappa/sdk"
)

// BenchmarkAggregate sums one default-sized batch of facts (3,200 tweets
// of ~2.6 KB, 8 partitions, 10% of them up to 3 h late) into rows, as the
// engine does per batch. SetBytes counts the tweets the facts came from,
// so MB/s compares with the extractor's.
//
//	go test -run '^$' -bench Aggregate -benchmem ./internal/engine/
func BenchmarkAggregate(b *testing.B) {
	const facts, partitions, tweetBytes = 3200, 8, 2612
	rng := rand.New(rand.NewPCG(1, 2))
	now := time.Date(2016, 6, 1, 19, 36, 0, 0, time.UTC)
	fs := make([]sdk.Fact, facts)
	parts := make([]int32, facts)
	for i := range fs {
		t := now.Add(time.Duration(rng.Int64N(int64(time.Second))))
		if rng.IntN(10) == 0 {
			t = now.Add(-time.Duration(rng.Int64N(int64(3 * time.Hour))))
		}
		fs[i] = sdk.Fact{Record: i, Time: t}
		parts[i] = int32(i % partitions)
	}
	ranges := map[int32]sdk.OffsetRange{}
	for p := range int32(partitions) {
		ranges[p] = sdk.OffsetRange{Partition: p, Start: 0, End: facts / partitions}
	}
	b.SetBytes(facts * tweetBytes)
	b.ReportAllocs()
	var rows int
	for b.Loop() {
		agg := NewAggregator(time.Minute, 0)
		for i, f := range fs {
			if err := agg.Add(parts[i], f); err != nil {
				b.Fatal(err)
			}
		}
		rows = len(agg.Rows(ranges))
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*facts), "ns/fact")
	b.ReportMetric(float64(rows), "rows/batch")
}
