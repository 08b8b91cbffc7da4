package firehose

import (
	"context"
	"os"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/twmb/franz-go/pkg/kgo"
)

func benchConfig(n int) Config {
	cfg := DefaultConfig(time.Date(2016, 6, 1, 19, 36, 0, 0, time.UTC))
	cfg.Seed = 1
	cfg.Tweets = n
	return cfg
}

// BenchmarkNext measures generation alone.
func BenchmarkNext(b *testing.B) {
	g, err := New(benchConfig(b.N))
	if err != nil {
		b.Fatal(err)
	}
	buf := make([]byte, 0, 16<<10)
	var bytes int
	b.ResetTimer()
	for {
		r, ok := g.Next(buf)
		if !ok {
			break
		}
		bytes += len(r.Value)
	}
	b.ReportMetric(float64(bytes)/float64(g.Emitted().Records()), "B/record")
}

// BenchmarkProduce measures a preload into a broker: the one named by
// KAPPA_BENCH_BROKER (a `kappa-dev broker` in another process, as in real
// use), else an in-process kfake keeping its log in a temporary directory.
func BenchmarkProduce(b *testing.B) {
	addr := os.Getenv("KAPPA_BENCH_BROKER")
	if addr == "" {
		cluster, err := kfake.NewCluster(kfake.NumBrokers(1), kfake.SeedTopics(8, "twitter"), kfake.DataDir(b.TempDir()))
		if err != nil {
			b.Fatal(err)
		}
		defer cluster.Close()
		addr = cluster.ListenAddrs()[0]
	}
	producer, err := kgo.NewClient(append(ProducerOpts("twitter"), kgo.SeedBrokers(addr))...)
	if err != nil {
		b.Fatal(err)
	}
	defer producer.Close()
	g, err := New(benchConfig(b.N))
	if err != nil {
		b.Fatal(err)
	}
	b.ResetTimer()
	res, err := Produce(context.Background(), producer, g, 0)
	if err != nil {
		b.Fatal(err)
	}
	b.ReportMetric(float64(res.Records())/res.Elapsed.Seconds(), "records/s")
}
