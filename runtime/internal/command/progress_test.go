package command

import (
	"bytes"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/kappa-stream/kappa/internal/engine"
)

func TestProgressText(t *testing.T) {
	for _, c := range []struct {
		records int64
		elapsed time.Duration
		lag     int64
		want    string
	}{
		{500, 2 * time.Second, 1500, "250 records/s, lag 1500, ETA 6s"},
		{0, 0, 2000, "0 records/s, lag 2000, ETA --"},
		{3000, 3 * time.Second, 0, "1000 records/s, lag 0, ETA 0s"},
	} {
		if got := progressText(c.records, c.elapsed, c.lag); got != c.want {
			t.Errorf("progressText(%d, %v, %d) = %q, want %q", c.records, c.elapsed, c.lag, got, c.want)
		}
	}
}

// The bar, drawn on a fake terminal from what the engine reports: the
// drain's ends at resume are its 100%; records/s, lag left and ETA beside.
func TestProgressBarDrawsFromTheEngineReports(t *testing.T) {
	var term bytes.Buffer
	p := newProgress(&term)
	clock := time.Unix(1_700_000_000, 0)
	p.now = func() time.Time { return clock }

	// The log ends may come before the committed positions: the bar's
	// 100% is what is left to the ends once both are known.
	p.HighWatermarks(map[int32]int64{0: 1500, 1: 1500})
	p.Positions(map[int32]int64{0: 500, 1: 500})
	clock = clock.Add(2 * time.Second)
	p.Committed(engine.BatchReport{Records: 500})
	p.Positions(map[int32]int64{0: 1000})
	// A later, higher log end does not move a drain's goal.
	p.HighWatermarks(map[int32]int64{0: 5000})
	p.Positions(map[int32]int64{0: 1000})

	out := term.String()
	last := out[strings.LastIndex(out, "\r")+1:]
	t.Logf("the bar: %q", last)
	for _, want := range []string{"25%", "250 records/s, lag 1500, ETA 6s", "█"} {
		if !strings.Contains(last, want) {
			t.Errorf("the bar's last state %q lacks %q (all: %q)", last, want, out)
		}
	}

	// Other log lines clear the bar first; the per-batch ones are left out.
	term.Reset()
	log := slog.New(p.handler(slog.NewTextHandler(&term, nil))).With("pipeline", "tweets")
	log.Info("batch committed", "records", 500)
	log.Warn("broker slow")
	if got := term.String(); strings.Contains(got, "batch committed") || !strings.Contains(got, `msg="broker slow" pipeline=tweets`) {
		t.Errorf("log under the bar: %q", got)
	}
}
