package firehose

import (
	"context"
	"encoding/json"
	"errors"
	"strconv"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/twmb/franz-go/pkg/kgo"
)

// TestProduceIntoKfake writes a stream into an in-process broker, reads
// everything back and checks it against the generator's own counts and
// truth.
func TestProduceIntoKfake(t *testing.T) {
	if testing.Short() {
		t.Skip("integration test: runs an in-process kfake broker")
	}
	const topic, partitions, n = "twitter", 8, 10_000
	cluster, err := kfake.NewCluster(kfake.NumBrokers(1), kfake.SeedTopics(partitions, topic))
	if err != nil {
		t.Fatal(err)
	}
	defer cluster.Close()
	addr := cluster.ListenAddrs()[0]

	producer, err := kgo.NewClient(append(ProducerOpts(topic), kgo.SeedBrokers(addr))...)
	if err != nil {
		t.Fatal(err)
	}
	defer producer.Close()
	gen, err := New(testConfig(21, n))
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	res, err := Produce(ctx, producer, gen, 0)
	if err != nil {
		t.Fatalf("produce: %v", err)
	}
	if res.Tweets != n || res.Records() != n+gen.Planned().Notices+gen.Planned().Malformed || res.Failed != 0 {
		t.Fatalf("result %+v does not match the plan %+v", res, gen.Planned())
	}
	t.Logf("%d records, %d bytes in %v (%.0f records/s)", res.Records(), res.Bytes, res.Elapsed, float64(res.Records())/res.Elapsed.Seconds())

	consumer, err := kgo.NewClient(
		kgo.SeedBrokers(addr),
		kgo.ConsumeTopics(topic),
		kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()),
	)
	if err != nil {
		t.Fatal(err)
	}
	defer consumer.Close()
	perPartition := map[int32]int{}
	perMinute := map[time.Time]int64{}
	var records, tweets int
	var bytes int64
	for records < res.Records() {
		fetches := consumer.PollFetches(ctx)
		if err := ctx.Err(); err != nil {
			t.Fatalf("read back %d of %d records: %v", records, res.Records(), err)
		}
		fetches.EachError(func(topic string, p int32, err error) { t.Fatalf("fetch %s/%d: %v", topic, p, err) })
		fetches.EachRecord(func(r *kgo.Record) {
			records++
			perPartition[r.Partition]++
			bytes += int64(len(r.Value))
			if at, ok := tweetTime(r.Value); ok {
				tweets++
				perMinute[at.Truncate(time.Minute)]++
			}
		})
	}
	if records != res.Records() || bytes != res.Bytes {
		t.Fatalf("read %d records, %d bytes; wrote %d, %d", records, bytes, res.Records(), res.Bytes)
	}
	if len(perPartition) != partitions {
		t.Fatalf("records landed in %d partitions, want all %d: %v", len(perPartition), partitions, perPartition)
	}
	if tweets != n {
		t.Fatalf("read back %d tweets, want %d", tweets, n)
	}
	for _, mc := range gen.Truth().Minutes() {
		if perMinute[mc.Minute] != mc.Count {
			t.Fatalf("minute %v: truth %d, read back %d", mc.Minute, mc.Count, perMinute[mc.Minute])
		}
	}
}

// tweetTime is a strict reader: a record is a tweet when it is valid JSON
// with a top-level timestamp_ms.
func tweetTime(value []byte) (time.Time, bool) {
	var m struct {
		TimestampMs *string `json:"timestamp_ms"`
	}
	if !json.Valid(value) || json.Unmarshal(value, &m) != nil || m.TimestampMs == nil {
		return time.Time{}, false
	}
	ms, err := strconv.ParseInt(*m.TimestampMs, 10, 64)
	return time.UnixMilli(ms).UTC(), err == nil
}

// TestProduceReportsFailures points the producer at a topic the broker does
// not have and expects every record to be reported failed.
func TestProduceReportsFailures(t *testing.T) {
	if testing.Short() {
		t.Skip("integration test: runs an in-process kfake broker")
	}
	cluster, err := kfake.NewCluster(kfake.NumBrokers(1), kfake.SeedTopics(1, "twitter"))
	if err != nil {
		t.Fatal(err)
	}
	defer cluster.Close()
	producer, err := kgo.NewClient(append(ProducerOpts("missing"),
		kgo.SeedBrokers(cluster.ListenAddrs()[0]),
		kgo.UnknownTopicRetries(0),
	)...)
	if err != nil {
		t.Fatal(err)
	}
	defer producer.Close()
	gen, err := New(testConfig(2, 100))
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	res, err := Produce(ctx, producer, gen, 0)
	if !errors.Is(err, ErrProduceFailed) {
		t.Fatalf("err = %v, want ErrProduceFailed", err)
	}
	if res.Failed != int64(res.Records()) || res.Failed == 0 {
		t.Fatalf("%d of %d records failed, want all", res.Failed, res.Records())
	}
}

func TestProduceRate(t *testing.T) {
	if testing.Short() {
		t.Skip("integration test: runs an in-process kfake broker")
	}
	cluster, err := kfake.NewCluster(kfake.NumBrokers(1), kfake.SeedTopics(2, "twitter"))
	if err != nil {
		t.Fatal(err)
	}
	defer cluster.Close()
	producer, err := kgo.NewClient(append(ProducerOpts("twitter"), kgo.SeedBrokers(cluster.ListenAddrs()[0]))...)
	if err != nil {
		t.Fatal(err)
	}
	defer producer.Close()
	gen, err := New(testConfig(4, 400))
	if err != nil {
		t.Fatal(err)
	}
	const rate = 1000 // records per second: 410 records take at least 0.41 s
	res, err := Produce(context.Background(), producer, gen, rate)
	if err != nil {
		t.Fatal(err)
	}
	if least := time.Duration(float64(res.Records()-1) / rate * float64(time.Second)); res.Elapsed < least {
		t.Fatalf("%d records at %d/s took %v, less than %v", res.Records(), rate, res.Elapsed, least)
	}
}

// ProduceWith names every malformed record it wrote with the partition
// and offset the broker gave it, bytes exact: the truth dead letters are
// checked against.
func TestProduceWithListsTheMalformedRecords(t *testing.T) {
	if testing.Short() {
		t.Skip("integration test: runs an in-process kfake broker")
	}
	const topic = "twitter"
	cluster, err := kfake.NewCluster(kfake.NumBrokers(1), kfake.SeedTopics(4, topic))
	if err != nil {
		t.Fatal(err)
	}
	defer cluster.Close()
	addr := cluster.ListenAddrs()[0]
	producer, err := kgo.NewClient(append(ProducerOpts(topic), kgo.SeedBrokers(addr))...)
	if err != nil {
		t.Fatal(err)
	}
	defer producer.Close()
	cfg := testConfig(5, 3000)
	cfg.MalformedFrac = 0.02
	gen, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	listed := map[[2]int64]Produced{}
	res, err := ProduceWith(ctx, producer, gen, 0, func(p Produced) { listed[[2]int64{int64(p.Partition), p.Offset}] = p })
	if err != nil {
		t.Fatal(err)
	}
	if len(listed) != res.Malformed || res.Malformed != 60 {
		t.Fatalf("listed %d malformed records, produced %d (want 60)", len(listed), res.Malformed)
	}
	consumer, err := kgo.NewClient(kgo.SeedBrokers(addr), kgo.ConsumeTopics(topic), kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()))
	if err != nil {
		t.Fatal(err)
	}
	defer consumer.Close()
	found := 0
	for read := 0; read < res.Records(); {
		fetches := consumer.PollFetches(ctx)
		if err := ctx.Err(); err != nil {
			t.Fatalf("read back %d of %d records: %v", read, res.Records(), err)
		}
		fetches.EachRecord(func(r *kgo.Record) {
			read++
			if p, ok := listed[[2]int64{int64(r.Partition), r.Offset}]; ok {
				found++
				if string(p.Value) != string(r.Value) || p.Kind != KindMalformed {
					t.Errorf("partition %d offset %d: listed %q (%v), read %q", r.Partition, r.Offset, p.Value, p.Kind, r.Value)
				}
			}
		})
	}
	if found != len(listed) {
		t.Errorf("found %d of the %d listed records at their positions", found, len(listed))
	}
}
