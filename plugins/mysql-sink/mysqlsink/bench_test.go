package mysqlsink

import (
	"context"
	"testing"
	"time"

	"github.com/kappa-stream/kappa/sdk"
)

// BenchmarkCommit commits batches of 8 ranges and 60 rows, a minute's
// worth of windows per partition, against the real server.
func BenchmarkCommit(b *testing.B) {
	db, _ := testDatabase(b)
	s := openSink(b, sdk.Setup{Config: sinkConfig(db, "")})
	const partitions, rows, step = 8, 60, 100
	c := sdk.Commit{Stream: "twitter", Ranges: make([]sdk.RangeStats, partitions), Rows: make([]sdk.Row, rows)}
	ctx := context.Background()
	b.ReportAllocs()
	b.ResetTimer()
	for i := range b.N {
		for p := range c.Ranges {
			c.Ranges[p] = sdk.RangeStats{
				OffsetRange: sdk.OffsetRange{Partition: int32(p), Start: int64(i) * step, End: int64(i+1) * step},
				Records:     step, Facts: step,
			}
		}
		for r := range c.Rows {
			c.Rows[r] = sdk.Row{
				OffsetRange: c.Ranges[r%partitions].OffsetRange,
				Window:      minute.Add(time.Duration(r/partitions) * time.Minute),
				Count:       int64(r + 1),
			}
		}
		if err := s.Commit(ctx, c); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "commits/s")
}
