package engine

import (
	"time"

	"github.com/kappa-stream/kappa/sdk"
)

// recordAges reports, at instant now (a commit's end, when its rows became
// visible), how long ago the batch's oldest and newest records were
// produced, going by the record timestamps. ok is false when no record
// carries a timestamp. Logged per batch, they bound the freshness a reader
// of the sink sees: every record of the batch became visible between
// newest and oldest after it was produced.
func recordAges(b sdk.Batch, now time.Time) (oldest, newest time.Duration, ok bool) {
	var first, last time.Time
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
	if first.IsZero() {
		return 0, 0, false
	}
	return now.Sub(first), now.Sub(last), true
}

func millis(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 }
