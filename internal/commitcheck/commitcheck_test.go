package commitcheck

import (
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/kappa-stream/kappa/sdk"
)

var limits = Limits{
	StreamIDLength: 8, UTF8: true,
	EarliestWindow: time.Date(1000, 1, 1, 0, 0, 0, 0, time.UTC), LatestWindow: time.Date(9999, 1, 1, 0, 0, 0, 0, time.UTC),
	WindowRange: "the stored range", CountColumn: "integer", Dimensions: 1, DimensionLength: 4,
	Dimension: func(d string) error {
		if d == "bad" {
			return errors.New("bad value")
		}
		return nil
	},
}

func commit() sdk.Commit {
	r := sdk.OffsetRange{Partition: 1, Start: 0, End: 10}
	return sdk.Commit{
		Stream: "twitter",
		Ranges: []sdk.RangeStats{{OffsetRange: sdk.OffsetRange{Partition: 2, Start: 5, End: 5}}, {OffsetRange: r, Records: 10}},
		Rows:   []sdk.Row{{OffsetRange: r, Window: time.Date(2016, 1, 1, 0, 0, 0, 0, time.UTC), Count: 3, Dims: []string{"en"}}},
	}
}

func TestCheckSortsRangesAndRefusesWhatTheTablesCannotHold(t *testing.T) {
	ranges, err := Check(commit(), limits)
	if err != nil || len(ranges) != 2 || ranges[0].Partition != 1 {
		t.Fatalf("a good commit: %v, %v", ranges, err)
	}
	for want, change := range map[string]func(*sdk.Commit){
		"not UTF-8 or longer than 255":             func(c *sdk.Commit) { c.Stream = "\xff" },
		"stream ID":                                func(c *sdk.Commit) { c.StreamID = "123456789" },
		"more than one range":                      func(c *sdk.Commit) { c.Ranges = append(c.Ranges, c.Ranges[1]) },
		"empty range [5, 5) with 1 records":        func(c *sdk.Commit) { c.Ranges[0].Records = 1 },
		"not one of the commit's ranges":           func(c *sdk.Commit) { c.Rows[0].End = 11 },
		"outside the stored range":                 func(c *sdk.Commit) { c.Rows[0].Window = c.Rows[0].Window.Add(time.Millisecond) },
		"does not fit the integer column":          func(c *sdk.Commit) { c.Rows[0].Count = 1 << 31 },
		"has no column in the aggregate table":     func(c *sdk.Commit) { c.Rows[0].Sum = 1 },
		"0 dimension values for 1 dimensions":      func(c *sdk.Commit) { c.Rows[0].Dims = nil },
		"not UTF-8 of at most 4 characters":        func(c *sdk.Commit) { c.Rows[0].Dims = []string{"12345"} },
		"bad value":                                func(c *sdk.Commit) { c.Rows[0].Dims = []string{"bad"} },
		"refused the row of partition 1, range [0": func(c *sdk.Commit) { c.Rows[0].Dims = []string{"bad"} },
	} {
		c := commit()
		change(&c)
		if _, err := Check(c, limits); err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("%s: got %v", want, err)
		}
	}
	ascii := limits
	ascii.UTF8 = false
	c := commit()
	c.Stream = ""
	if _, err := Check(c, ascii); err == nil || err.Error() != `stream name "" is empty or longer than 255 characters` {
		t.Errorf("an empty stream without the UTF-8 check: %v", err)
	}
}
