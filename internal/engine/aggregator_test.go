package engine

import (
	"testing"
	"time"

	"github.com/kappa-stream/kappa/sdk"
)

// Dimension values may hold any byte, NUL included: two facts whose
// values differ must land in two rows however the values are split.
func TestAggregatorKeepsDimensionValuesApart(t *testing.T) {
	at := time.Date(2016, 6, 1, 19, 36, 0, 0, time.UTC)
	facts := [][]string{
		{"en", "x\x00y"},
		{"en\x00x", "y"},
		{"en\x00x\x00y", ""},
		{"", "en\x00x\x00y"},
		{"en", "x\x00y"}, // the first again
	}
	agg := NewAggregator(time.Minute, 2)
	for i, dims := range facts {
		if err := agg.Add(0, sdk.Fact{Record: i, Time: at, Dims: dims}); err != nil {
			t.Fatal(err)
		}
	}
	rows := agg.Rows(map[int32]sdk.OffsetRange{0: {Partition: 0, Start: 0, End: 5}})
	got := map[[2]string]int64{}
	for _, r := range rows {
		got[[2]string{r.Dims[0], r.Dims[1]}] += r.Count
	}
	want := map[[2]string]int64{
		{"en", "x\x00y"}:     2,
		{"en\x00x", "y"}:     1,
		{"en\x00x\x00y", ""}: 1,
		{"", "en\x00x\x00y"}: 1,
	}
	if len(rows) != len(want) {
		t.Errorf("%d rows, want %d: %+v", len(rows), len(want), rows)
	}
	for k, n := range want {
		if got[k] != n {
			t.Errorf("dims %q: count %d, want %d", k, got[k], n)
		}
	}
}
