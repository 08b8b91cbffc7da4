package command

import (
	"strconv"
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

// In a consumer group the table names each partition's owner, as the
// source reported it, and "none" for a partition no member owns.
func TestStatusShowsGroupOwners(t *testing.T) {
	s := pipelineStatus("tweets", "twitter", []sdk.Position{{Partition: 0, NextOffset: 10}},
		[]sdk.Watermark{{Partition: 0, End: 10, Owner: "kappa@10.0.0.1 m-a"}, {Partition: 1, End: 5, Owner: "kappa@10.0.0.2 m-b"}, {Partition: 2, End: 1}})
	s.Group = "kappa-twitter"
	var b strings.Builder
	s.Print(&b)
	lines := strings.Split(b.String(), "\n")
	if lines[0] != "pipeline tweets, stream twitter, consumer group kappa-twitter" || !strings.HasSuffix(strings.TrimSpace(lines[1]), "owner") {
		t.Fatalf("no group in the heading or no owner column:\n%s", b.String())
	}
	for i, want := range []string{"kappa@10.0.0.1 m-a", "kappa@10.0.0.2 m-b", "none"} {
		if row := strings.TrimSpace(lines[2+i]); !strings.HasPrefix(row, strconv.Itoa(i)+" ") || !strings.HasSuffix(row, want) {
			t.Errorf("partition %d's row %q does not end in its owner %q", i, row, want)
		}
	}
	s.Group = ""
	b.Reset()
	s.Print(&b)
	if strings.Contains(b.String(), "owner") || strings.Contains(b.String(), "group") {
		t.Errorf("outside a group the status shows group or owners:\n%s", b.String())
	}
}
