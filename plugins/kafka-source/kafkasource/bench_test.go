package kafkasource

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/kappa-stream/kappa/sdk"
)

// BenchmarkPoll reads 100k preloaded tweet-sized (2.5 KB) records from 8
// partitions through Seek and Poll, with batch limits like the runtime's.
func BenchmarkPoll(b *testing.B) {
	const (
		partitions = 8
		records    = 100_000
		size       = 2500
	)
	_, brokers := newBroker(b, partitions)
	producer := newProducer(b, brokers, kgo.ProducerLinger(5*time.Millisecond))
	filler := strings.Repeat(`{"text":"a tweet","user":{"screen_name":"kappa"}}`, size/50+1)
	batch := make([]*kgo.Record, 0, 10_000)
	for i := range records {
		value := fmt.Appendf(nil, `{"timestamp_ms":"%d","id":%d,"pad":"`, 1464809760000+int64(i), i)
		value = append(value, filler[:size-len(value)-2]...)
		value = append(value, `"}`...)
		batch = append(batch, &kgo.Record{Partition: int32(i % partitions), Value: value})
		if len(batch) == cap(batch) {
			produce(b, producer, batch...)
			batch = batch[:0]
		}
	}
	produce(b, producer, batch...)

	src := openSource(b, brokers, "")
	limits := sdk.Limits{MaxRecords: 1000, MaxBytes: 2500 * 1000, MaxWait: 100 * time.Millisecond}
	ctx := context.Background()
	b.SetBytes(records * size)
	b.ReportAllocs()
	passes := 0
	for b.Loop() {
		if err := src.Seek(ctx, nil); err != nil {
			b.Fatal(err)
		}
		for read := 0; read < records; {
			batch, err := src.Poll(ctx, limits)
			if err != nil {
				b.Fatal(err)
			}
			for _, pb := range batch.Partitions {
				read += len(pb.Records)
			}
		}
		passes++
	}
	b.ReportMetric(float64(passes*records)/b.Elapsed().Seconds(), "records/s")
}
