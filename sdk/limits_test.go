package sdk

import (
	"context"
	"fmt"
	"math"
	"reflect"
	"strings"
	"testing"
	"time"
)

// timeExtractor reads each record's value as an RFC 3339 event time.
type timeExtractor struct{}

func (timeExtractor) Open(context.Context, Setup) error { return nil }
func (timeExtractor) Close(context.Context) error       { return nil }
func (timeExtractor) Extract(_ context.Context, rs []Record, out *Extraction) error {
	for i, r := range rs {
		t, err := time.Parse(time.RFC3339Nano, string(r.Value))
		if err != nil {
			return err
		}
		out.Fact(Fact{Record: i, Time: t})
	}
	return nil
}

// An extractor plugin's facts cross as int64 nanoseconds: a time outside
// them must be a rejected record, not a fact in another century.
func TestExtractorPluginRejectsEventTimesOutsideInt64Nanoseconds(t *testing.T) {
	x := dispense(t, KindExtractor, &extractorPlugin{impl: timeExtractor{}}).(Extractor)
	times := []string{
		"3000-01-01T00:00:00Z",
		"2016-06-01T19:36:05Z",
		"1500-06-01T00:00:00Z",
		"2261-12-31T23:59:59.999999999Z",
		"2262-01-01T00:00:00Z",
		"1678-01-01T00:00:00Z",
		"0001-01-01T00:00:00Z",
	}
	records := make([]Record, len(times))
	for i, s := range times {
		records[i].Value = []byte(s)
	}
	var out Extraction
	if err := x.Extract(context.Background(), records, &out); err != nil {
		t.Fatal(err)
	}
	at := func(s string) time.Time { t, _ := time.Parse(time.RFC3339Nano, s); return t }
	want := Extraction{
		Facts: []Fact{{Record: 1, Time: at(times[1])}, {Record: 3, Time: at(times[3])}, {Record: 5, Time: at(times[5])}},
		Rejected: []Verdict{
			{Record: 0, Reason: "event time 3000-01-01T00:00:00Z outside 1678–2261"},
			{Record: 2, Reason: "event time 1500-06-01T00:00:00Z outside 1678–2261"},
			{Record: 4, Reason: "event time 2262-01-01T00:00:00Z outside 1678–2261"},
			{Record: 6, Reason: "event time 0001-01-01T00:00:00Z outside 1678–2261"},
		},
	}
	// Compared as printed: the decoded facts' empty slices are not nil.
	if got, want := fmt.Sprintf("%+v", out), fmt.Sprintf("%+v", want); got != want {
		t.Errorf("Extract =\n%s\nwant\n%s", got, want)
	}
}

func TestFactLimitsCheck(t *testing.T) {
	limits := FactLimits{
		MaxDimensionChars: 3,
		DimensionsUTF8:    true,
		NoTrailingSpace:   true,
		EarliestWindow:    time.Date(1000, 1, 1, 0, 0, 0, 0, time.UTC),
		LatestWindow:      time.Date(2100, 1, 1, 0, 0, 0, 0, time.UTC),
		FiniteValues:      true,
	}
	ok := time.Date(2016, 6, 1, 19, 36, 0, 0, time.UTC)
	dims := []string{"lang", "source"}
	for _, c := range []struct {
		fact   Fact
		window time.Time
		want   string
	}{
		{Fact{Dims: []string{"en", "ééé"}, Value: 1.5}, ok, ""},
		{Fact{Dims: []string{"en", "\x00\x00\x00"}}, ok, ""},
		{Fact{Dims: []string{"engl", "x"}}, ok, "dimension lang: 4 characters, the sink stores at most 3"},
		{Fact{Dims: []string{"en", "x\xffy"}}, ok, "dimension source: not UTF-8, the sink stores UTF-8 only"},
		{Fact{Dims: []string{"en ", "x"}}, ok, "dimension lang: ends in a space, which the sink does not tell apart from the value without it"},
		{Fact{Dims: []string{" en", "x\t"}}, ok, ""},
		{Fact{Dims: []string{"en", "x"}}, ok, ""},
		{Fact{Dims: []string{"en", "x"}}, time.Date(2100, 1, 1, 0, 1, 0, 0, time.UTC), "window 2100-01-01T00:01:00Z: outside 1000-01-01–2100-01-01, which the sink stores"},
		{Fact{Dims: []string{"en", "x"}, Value: math.NaN()}, ok, "value NaN: the sink stores finite numbers only"},
		{Fact{Dims: []string{"en", "x"}, Value: math.Inf(-1)}, ok, "value -Inf: the sink stores finite numbers only"},
	} {
		if got := limits.Check(c.fact, c.window, dims); got != c.want {
			t.Errorf("Check(%q, %v) = %q, want %q", c.fact.Dims, c.window, got, c.want)
		}
	}
	// NoNUL: PostgreSQL's text cannot hold a NUL.
	noNUL := FactLimits{NoNUL: true}
	if got, want := noNUL.Check(Fact{Dims: []string{"en", "a\x00b"}}, ok, dims), "dimension source: holds a NUL character, which the sink cannot store"; got != want {
		t.Errorf("NoNUL: Check = %q, want %q", got, want)
	}
	if got := noNUL.Check(Fact{Dims: []string{"en", "x"}}, ok, dims); got != "" {
		t.Errorf("NoNUL: Check of a clean fact = %q", got)
	}
	// The zero value sets no limit.
	long := Fact{Dims: []string{strings.Repeat("\xff", 300)}, Value: math.NaN()}
	if got := (FactLimits{}).Check(long, time.Time{}, dims); got != "" {
		t.Errorf("zero limits: %q", got)
	}
}

func TestRejectFactsDropsEveryFactOfTheRecord(t *testing.T) {
	x := Extraction{
		Facts: []Fact{
			{Record: 0, Dims: []string{"a"}},
			{Record: 1, Dims: []string{"ok"}},
			{Record: 1, Dims: []string{"bad"}},
			{Record: 1, Dims: []string{"bad"}},
			{Record: 2, Dims: []string{"b"}},
		},
		Skipped: []Verdict{{Record: 3, Reason: "notice"}},
	}
	x.RejectFacts(func(f Fact) string {
		if f.Dims[0] == "bad" {
			return "bad value"
		}
		return ""
	})
	want := Extraction{
		Facts:    []Fact{{Record: 0, Dims: []string{"a"}}, {Record: 2, Dims: []string{"b"}}},
		Skipped:  []Verdict{{Record: 3, Reason: "notice"}},
		Rejected: []Verdict{{Record: 1, Reason: "bad value"}},
	}
	if !reflect.DeepEqual(x, want) {
		t.Errorf("RejectFacts left\n%+v\nwant\n%+v", x, want)
	}
}

// limitedSink publishes what it can store.
type limitedSink struct{ recordingSink }

func (*limitedSink) Describe() Info {
	return Info{FactLimits: FactLimits{
		MaxDimensionChars: 191,
		DimensionsUTF8:    true,
		NoTrailingSpace:   true,
		NoNUL:             true,
		EarliestWindow:    time.Date(1000, 1, 1, 0, 0, 0, 0, time.UTC),
		LatestWindow:      time.Date(9999, 12, 31, 23, 59, 59, 0, time.UTC),
		FiniteValues:      true,
	}}
}

func TestFactLimitsCrossTheBoundary(t *testing.T) {
	impl := &limitedSink{}
	sink := dispense(t, KindSink, &sinkPlugin{impl: impl}).(inspector)
	info, err := sink.Describe(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if want := impl.Describe().FactLimits; info.FactLimits != want {
		t.Errorf("FactLimits = %+v, want %+v", info.FactLimits, want)
	}
	// A sink that publishes none has none.
	info, err = dispense(t, KindSink, &sinkPlugin{impl: &recordingSink{}}).(inspector).Describe(context.Background())
	if err != nil || info.FactLimits != (FactLimits{}) {
		t.Errorf("Describe of a sink without limits = %+v, %v", info.FactLimits, err)
	}
}
