package kafkasource

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/kappa-stream/kappa/sdk"
)

const testTopic = "twitter"

// newBroker starts an in-process Kafka-protocol broker holding testTopic
// with the given number of partitions.
func newBroker(tb testing.TB, partitions int32) (*kfake.Cluster, string) {
	tb.Helper()
	if testing.Short() {
		tb.Skip("integration test: runs an in-process kfake broker; run without -short")
	}
	c, err := kfake.NewCluster(kfake.NumBrokers(1), kfake.SeedTopics(partitions, testTopic))
	if err != nil {
		tb.Fatalf("start kfake broker: %v", err)
	}
	tb.Cleanup(c.Close)
	return c, c.ListenAddrs()[0]
}

// openSource opens a source on testTopic; extra is appended to the config.
func openSource(tb testing.TB, brokers, extra string) *Source {
	tb.Helper()
	src := New()
	cfg := fmt.Sprintf("brokers: %s\ntopic: %s\ndial_timeout: 5s\n%s", brokers, testTopic, extra)
	info, err := src.Open(context.Background(), sdk.Setup{Pipeline: "test", Config: []byte(cfg)})
	if err != nil {
		tb.Fatalf("open: %v", err)
	}
	if info.Stream != testTopic {
		tb.Fatalf("stream %q, want %q", info.Stream, testTopic)
	}
	tb.Cleanup(func() { _ = src.Close(context.Background()) })
	return src
}

// newProducer returns a producer that writes each record to the partition
// it names.
func newProducer(tb testing.TB, brokers string, opts ...kgo.Opt) *kgo.Client {
	tb.Helper()
	opts = append([]kgo.Opt{
		kgo.SeedBrokers(brokers),
		kgo.RecordPartitioner(kgo.ManualPartitioner()),
		kgo.DefaultProduceTopic(testTopic),
	}, opts...)
	cl, err := kgo.NewClient(opts...)
	if err != nil {
		tb.Fatalf("producer: %v", err)
	}
	tb.Cleanup(cl.Close)
	return cl
}

func produce(tb testing.TB, cl *kgo.Client, records ...*kgo.Record) {
	tb.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := cl.ProduceSync(ctx, records...).FirstErr(); err != nil {
		tb.Fatalf("produce: %v", err)
	}
}

// numbered returns n records per partition whose values name partition and
// sequence number ("p3-17"), starting at sequence from.
func numbered(partitions int32, from, n int) []*kgo.Record {
	var recs []*kgo.Record
	for i := from; i < from+n; i++ {
		for p := range partitions {
			recs = append(recs, &kgo.Record{Partition: p, Value: fmt.Appendf(nil, "p%d-%d", p, i)})
		}
	}
	return recs
}

// reader drives Poll and checks the range contract on every batch: ranges
// are contiguous per partition, records lie inside their range in offset
// order and belong to its partition.
type reader struct {
	tb      testing.TB
	src     *Source
	limits  sdk.Limits
	ends    map[int32]int64 // End of the last range per partition
	starts  map[int32]int64 // Start of the first range per partition
	anchors map[int32]int64 // Start of each partition's empty first range
	records map[int32][]sdk.Record
	total   int
}

func newReader(tb testing.TB, src *Source, limits sdk.Limits) *reader {
	return &reader{
		tb: tb, src: src, limits: limits,
		ends: map[int32]int64{}, starts: map[int32]int64{}, anchors: map[int32]int64{}, records: map[int32][]sdk.Record{},
	}
}

// poll runs one Poll and checks its batch.
func (r *reader) poll() sdk.Batch {
	r.tb.Helper()
	batch, err := r.src.Poll(context.Background(), r.limits)
	if err != nil {
		r.tb.Fatalf("poll: %v", err)
	}
	seen := map[int32]bool{}
	for _, pb := range batch.Partitions {
		p := pb.Partition
		if seen[p] {
			r.tb.Fatalf("partition %d appears twice in one batch", p)
		}
		seen[p] = true
		_, placed := r.ends[p]
		anchor := pb.End == pb.Start && len(pb.Records) == 0 && !placed
		if anchor {
			// Only a partition's first range may be empty: the anchor that
			// reports where it started (sdk.Source.Poll).
			r.anchors[p] = pb.Start
		} else if pb.End <= pb.Start {
			r.tb.Fatalf("partition %d: empty or inverted range [%d, %d)", p, pb.Start, pb.End)
		}
		// The lag the runtime reports rests on it: the log end the source
		// saw can never lie before what it just read.
		if !anchor && pb.HighWatermark < pb.End {
			r.tb.Fatalf("partition %d: high watermark %d before range end %d", p, pb.HighWatermark, pb.End)
		}
		if prev, ok := r.ends[p]; ok && pb.Start != prev {
			r.tb.Fatalf("partition %d: range starts at %d, previous ended at %d", p, pb.Start, prev)
		}
		if _, ok := r.starts[p]; !ok {
			r.starts[p] = pb.Start
		}
		next := pb.Start
		for _, rec := range pb.Records {
			if rec.Partition != p || rec.Offset < next || rec.Offset >= pb.End {
				r.tb.Fatalf("record p%d@%d misplaced in range p%d [%d, %d)", rec.Partition, rec.Offset, p, pb.Start, pb.End)
			}
			next = rec.Offset + 1
		}
		r.ends[p] = pb.End
		r.records[p] = append(r.records[p], pb.Records...)
		r.total += len(pb.Records)
	}
	return batch
}

// readUntil polls until want records arrived or the deadline passes.
func (r *reader) readUntil(want int, timeout time.Duration) {
	r.tb.Helper()
	deadline := time.Now().Add(timeout)
	for r.total < want {
		if time.Now().After(deadline) {
			r.tb.Fatalf("read %d records in %v, want %d", r.total, timeout, want)
		}
		r.poll()
	}
	if r.total > want {
		r.tb.Fatalf("read %d records, want %d", r.total, want)
	}
}

// expectNoMore polls briefly and fails if any record shows up.
func (r *reader) expectNoMore() {
	r.tb.Helper()
	before := r.total
	for range 3 {
		r.poll()
	}
	if r.total != before {
		r.tb.Fatalf("read %d records more than expected", r.total-before)
	}
}

// values returns the values read from partition p, in order.
func (r *reader) values(p int32) []string {
	var vs []string
	for _, rec := range r.records[p] {
		vs = append(vs, string(rec.Value))
	}
	return vs
}

// offsets returns the offsets read from partition p, in order.
func (r *reader) offsets(p int32) []int64 {
	var os []int64
	for _, rec := range r.records[p] {
		os = append(os, rec.Offset)
	}
	return os
}

func seq(from, to int64) []int64 {
	var s []int64
	for i := from; i < to; i++ {
		s = append(s, i)
	}
	return s
}

func wantValues(p int32, from, to int) []string {
	var vs []string
	for i := from; i < to; i++ {
		vs = append(vs, fmt.Sprintf("p%d-%d", p, i))
	}
	return vs
}

var quick = sdk.Limits{MaxRecords: 1000, MaxBytes: 4 << 20, MaxWait: 200 * time.Millisecond}
