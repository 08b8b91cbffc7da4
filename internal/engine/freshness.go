package engine

import (
	"time"

	"github.com/kappa-stream/kappa/sdk"
)

// recordTimes returns the times of the batch's oldest and newest records,
// going by the record timestamps; zero when no record carries one. At the
// end of the batch's commit (when its rows became visible), the time since
// each is logged (oldest_record_ms, newest_record_ms): they bound the
// freshness a reader of the sink sees, since every record of the batch
// became visible between newest and oldest after it was produced.
func recordTimes(b sdk.Batch) (first, last time.Time) {
	for _, p := range b.Partitions {
		for i := range p.Records {
			t := p.Records[i].Time
			if t.IsZero() {
				continue
			}
			if first.IsZero() || t.Before(first) {
				first = t
			}
			if last.IsZero() || t.After(last) {
				last = t
			}
		}
	}
	return first, last
}

func millis(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 }
