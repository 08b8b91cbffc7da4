package command

import (
	"strings"
	"testing"

	"github.com/kappa-stream/kappa/sdk"
)

func TestStatusJoinsPositionsAndLogEnds(t *testing.T) {
	s := pipelineStatus("tweets", "twitter", []sdk.Position{{Partition: 1, NextOffset: 40}, {Partition: 0, NextOffset: 100}},
		[]sdk.Watermark{{Partition: 0, End: 100}, {Partition: 1, End: 50}, {Partition: 2, Start: 5, End: 7}})
	var b strings.Builder
	s.Print(&b)
	out := b.String()
	for _, want := range []string{"pipeline tweets, stream twitter", "total lag 12 records over 3 partitions"} {
		if !strings.Contains(out, want) {
			t.Errorf("status lacks %q:\n%s", want, out)
		}
	}
	if got := []int64{s.Partitions[0].Lag, s.Partitions[1].Lag, s.Partitions[2].Lag}; got[0] != 0 || got[1] != 10 || got[2] != 2 {
		t.Errorf("lags %v, want [0 10 2]:\n%s", got, out)
	}
	if s.Partitions[2].Committed != -1 || !strings.Contains(out, "none") {
		t.Errorf("a partition without a position should show none:\n%s", out)
	}
}
