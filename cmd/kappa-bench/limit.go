package main

import (
	"context"
	"fmt"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/kappa-stream/kappa/internal/engine"
	"github.com/kappa-stream/kappa/plugins/kafka-source/kafkasource"
	"github.com/kappa-stream/kappa/plugins/tweet-extractor/tweets"
	"github.com/kappa-stream/kappa/sdk"
)

// limitBatchRecords is how many records the in-process run extracts and
// aggregates at a time, like one batch of the pipeline.
const limitBatchRecords = 50_000

// RunStats is one measured run over the whole backlog.
type RunStats struct {
	Records     int64       `json:"records"`
	Tweets      int64       `json:"tweets"`
	Bytes       int64       `json:"bytes"`
	Seconds     float64     `json:"seconds"`
	TweetsPerS  float64     `json:"tweets_per_s"`
	RecordsPerS float64     `json:"records_per_s"`
	MBPerS      float64     `json:"mb_per_s"`
	Batches     int64       `json:"batches"`
	Rows        int64       `json:"rows"`
	Processes   []ProcStats `json:"processes"`
	// CommitMS holds the pipeline's batch commit latency percentiles.
	CommitMS *Percentiles `json:"commit_ms,omitempty"`
	// Exact is whether the tweets counted equal the tweets produced.
	Exact bool `json:"exact"`
}

func (r *RunStats) rates() {
	r.TweetsPerS = float64(r.Tweets) / r.Seconds
	r.RecordsPerS = float64(r.Records) / r.Seconds
	r.MBPerS = float64(r.Bytes) / r.Seconds / 1e6
}

// runLimit reads the whole topic with one franz-go consumer in this
// process and runs the extractor's and the engine's own code on it: the
// most a pipeline could do on this machine without plugin processes,
// gRPC and a database.
func runLimit(ctx context.Context, brokers, topic string) (RunStats, error) {
	var st RunStats
	admin, err := kgo.NewClient(kgo.SeedBrokers(brokers))
	if err != nil {
		return st, err
	}
	ends, err := kadm.NewClient(admin).ListCommittedOffsets(ctx, topic)
	admin.Close()
	if err == nil {
		err = ends.Error()
	}
	if err != nil {
		return st, fmt.Errorf("list end offsets: %w", err)
	}
	remaining := map[int32]int64{}
	assign := map[int32]kgo.Offset{}
	ends.Each(func(o kadm.ListedOffset) {
		if o.Offset > 0 {
			remaining[o.Partition] = o.Offset
		}
		assign[o.Partition] = kgo.NewOffset().AtStart()
	})

	x := tweets.New()
	if err := x.Open(ctx, sdk.Setup{Pipeline: "bench", Window: time.Minute}); err != nil {
		return st, fmt.Errorf("open extractor: %w", err)
	}

	resetPeakRSS()
	cpu0, _ := selfStats()
	start := time.Now()
	cl, err := kgo.NewClient(
		kgo.SeedBrokers(brokers),
		kgo.ConsumePartitions(map[string]map[int32]kgo.Offset{topic: assign}),
		kgo.FetchMaxBytes(int32(kafkasource.DefaultConfig().FetchMaxBytes)),
		kgo.FetchIsolationLevel(kgo.ReadCommitted()),
	)
	if err != nil {
		return st, err
	}
	defer cl.Close()

	var (
		records []sdk.Record
		out     sdk.Extraction
	)
	for len(remaining) > 0 {
		fetches := cl.PollRecords(ctx, limitBatchRecords)
		if err := fetches.Err0(); err != nil {
			return st, fmt.Errorf("fetch: %w", err)
		}
		records = records[:0]
		ranges := map[int32]sdk.OffsetRange{}
		fetches.EachRecord(func(r *kgo.Record) {
			records = append(records, sdk.Record{Partition: r.Partition, Offset: r.Offset, Key: r.Key, Value: r.Value, Time: r.Timestamp})
			st.Bytes += int64(len(r.Key) + len(r.Value))
			rg, ok := ranges[r.Partition]
			if !ok {
				rg = sdk.OffsetRange{Partition: r.Partition, Start: r.Offset}
			}
			rg.End = r.Offset + 1
			ranges[r.Partition] = rg
			if end, ok := remaining[r.Partition]; ok && r.Offset+1 >= end {
				delete(remaining, r.Partition)
			}
		})
		out.Reset()
		if err := x.Extract(ctx, records, &out); err != nil {
			return st, fmt.Errorf("extract: %w", err)
		}
		agg := engine.NewAggregator(time.Minute, 0)
		for _, f := range out.Facts {
			if err := agg.Add(records[f.Record].Partition, f); err != nil {
				return st, err
			}
		}
		st.Rows += int64(len(agg.Rows(ranges)))
		st.Records += int64(len(records))
		st.Tweets += int64(len(out.Facts))
		st.Batches++
	}
	st.Seconds = time.Since(start).Seconds()
	cpu1, hwm := selfStats()
	st.Processes = []ProcStats{{Name: "kappa-bench (in-process)", PID: pidSelf(), CPUSeconds: (cpu1 - cpu0).Seconds(), PeakRSSMB: float64(hwm) / 1024}}
	st.rates()
	return st, nil
}
