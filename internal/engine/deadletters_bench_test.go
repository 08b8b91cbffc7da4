package engine

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/kappa-stream/kappa/sdk"
)

// BenchmarkProcessDeadLetters extracts and aggregates one batch of 50,000
// records, 0.5% of them rejected (2.5 KB each, like the firehose's), with
// dead letters off (the sink keeps none) and on:
//
//	go test -run '^$' -bench ProcessDeadLetters -benchmem ./internal/engine/
func BenchmarkProcessDeadLetters(b *testing.B) {
	src := newMemSource()
	pad := strings.Repeat("x", 2500)
	for i := range int64(50000) {
		v := time.Date(2016, 6, 1, 19, 0, 0, 0, time.UTC).Add(time.Duration(i) * time.Second).Format(time.RFC3339)
		if i%200 == 0 {
			v = "malformed " + pad
		}
		src.add(int32(i%8), i/8, v)
	}
	for _, on := range []bool{false, true} {
		b.Run(fmt.Sprintf("dead_letters=%v", on), func(b *testing.B) {
			e := newTestEngine(src, timeExtractor{}, newMemSink(), func(c *Config) {
				c.Limits.MaxRecords = 50000
				c.DeadLetters = sdk.DeadLetterPolicy{Enabled: on, MaxBytes: sdk.DefaultDeadLetterMaxBytes}
			})
			if err := src.Seek(context.Background(), nil); err != nil {
				b.Fatal(err)
			}
			batch, err := src.Poll(context.Background(), e.cfg.Limits)
			if err != nil {
				b.Fatal(err)
			}
			b.ReportAllocs()
			b.ResetTimer()
			for range b.N {
				c, _, err := e.process(context.Background(), batch)
				if err != nil {
					b.Fatal(err)
				}
				if on != (len(c.DeadLetters) == 250) {
					b.Fatalf("%d dead letters", len(c.DeadLetters))
				}
			}
		})
	}
}
