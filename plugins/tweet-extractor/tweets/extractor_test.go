package tweets

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"reflect"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/kappa-stream/kappa/sdk"
)

var bothDims = []string{"lang", "source"}

// TestRealPayloadsAgreeWithEncodingJSON runs every real line through the
// extractor and through the encoding/json oracle.
func TestRealPayloadsAgreeWithEncodingJSON(t *testing.T) {
	want := map[string]map[string]int{ // file -> kind -> records
		"tweets-v1.jsonl":      {"fact": 152, "reject": 1},
		"tweets-v2.jsonl":      {"fact": 35, "reject": 12},
		"stream-notices.jsonl": {"skip": 8},
	}
	for _, name := range realFiles {
		t.Run(name, func(t *testing.T) {
			lines := realLines(t, name)
			for _, dims := range [][]string{nil, bothDims} {
				got := extractAll(t, dims, lines...)
				kinds := map[string]int{}
				for i, line := range lines {
					kinds[got[i].Kind]++
					if diff := agree(got[i], oracle(line, dims)); diff != "" {
						t.Errorf("line %d, dims %q: %s", i+1, dims, diff)
					}
					if dims == nil && got[i].Dims != nil {
						t.Errorf("line %d: Dims = %q without dimensions, want nil", i+1, got[i].Dims)
					}
				}
				if fmt.Sprint(kinds) != fmt.Sprint(want[name]) {
					t.Errorf("dims %q: outcomes %v, want %v", dims, kinds, want[name])
				}
			}
		})
	}
}

// TestRealPayloadsHandChecked pins outcomes read off the files by hand.
func TestRealPayloadsHandChecked(t *testing.T) {
	utc := func(s string) time.Time {
		tm, err := time.Parse(time.RFC3339Nano, s)
		if err != nil {
			t.Fatal(err)
		}
		return tm
	}
	tests := []struct {
		file string
		line int
		want outcome
	}{
		// Streaming v1.1: timestamp_ms wins over created_at (14:03:15).
		{"tweets-v1.jsonl", 95, outcome{Kind: "fact", Time: utc("2018-03-10T14:03:15.660Z"), Dims: []string{"ar", "تويت قرآن"}}},
		{"tweets-v1.jsonl", 136, outcome{Kind: "fact", Time: utc("2016-02-06T17:29:31.874Z"), Dims: []string{"en", "Twitter Web Client"}}},
		// REST v1.1: only created_at; the user's created_at comes later.
		{"tweets-v1.jsonl", 1, outcome{Kind: "fact", Time: utc("2019-07-13T02:27:22Z"), Dims: []string{"en", "mIRC/Twitch bot"}}},
		// A retweet without lang: the retweeted status's created_at is nested.
		{"tweets-v1.jsonl", 91, outcome{Kind: "fact", Time: utc("2012-09-07T16:23:50Z"), Dims: []string{"und", "web"}}},
		// created_at is the fourth key here (old key order).
		{"tweets-v1.jsonl", 144, outcome{Kind: "fact", Time: utc("2009-12-19T16:01:35Z"), Dims: []string{"und", "web"}}},
		// A quoted status: quoted_status.created_at is nested.
		{"tweets-v1.jsonl", 151, outcome{Kind: "fact", Time: utc("2015-09-09T17:13:42Z"), Dims: []string{"en", "Twitter for iPhone"}}},
		// The anchor arrives HTML-escaped.
		{"tweets-v1.jsonl", 152, outcome{Kind: "fact", Time: utc("2016-06-16T17:33:23Z"), Dims: []string{"en", "Twitter Web Client"}}},
		// "created_at": null, and user.created_at must not stand in.
		{"tweets-v1.jsonl", 147, outcome{Kind: "reject", Reason: "no event time"}},
		// v2, bare.
		{"tweets-v2.jsonl", 13, outcome{Kind: "fact", Time: utc("2021-04-01T15:52:31Z"), Dims: []string{"en", "Twitter for Android"}}},
		{"tweets-v2.jsonl", 42, outcome{Kind: "fact", Time: utc("2022-09-25T23:57:36Z"), Dims: []string{"und", ""}}},
		// v2 with default fields carries no time at all.
		{"tweets-v2.jsonl", 1, outcome{Kind: "reject", Reason: "no event time"}},
		{"stream-notices.jsonl", 1, outcome{Kind: "skip", Reason: "notice: delete"}},
		{"stream-notices.jsonl", 2, outcome{Kind: "skip", Reason: "notice: limit"}},
		{"stream-notices.jsonl", 3, outcome{Kind: "skip", Reason: "notice: delete"}},
		{"stream-notices.jsonl", 4, outcome{Kind: "skip", Reason: "notice: limit"}},
		{"stream-notices.jsonl", 5, outcome{Kind: "skip", Reason: "notice: friends"}},
		{"stream-notices.jsonl", 6, outcome{Kind: "skip", Reason: "notice: direct_message"}},
		// A follow event has a top-level created_at and still is no tweet.
		{"stream-notices.jsonl", 7, outcome{Kind: "skip", Reason: "notice: event"}},
		{"stream-notices.jsonl", 8, outcome{Kind: "skip", Reason: "notice: delete"}},
	}
	lines := map[string][][]byte{}
	for _, name := range realFiles {
		lines[name] = realLines(t, name)
	}
	for _, tt := range tests {
		t.Run(fmt.Sprintf("%s:%d", tt.file, tt.line), func(t *testing.T) {
			got := extractAll(t, bothDims, lines[tt.file][tt.line-1])[0]
			if tt.want.Kind != "fact" {
				tt.want.Dims = nil
			}
			if got.String() != tt.want.String() || !got.Time.Equal(tt.want.Time) {
				t.Errorf("got %v, want %v", got, tt.want)
			}
		})
	}
}

// TestV2Envelope wraps real v2 tweets the way the filtered stream sends them.
func TestV2Envelope(t *testing.T) {
	v2 := realLines(t, "tweets-v2.jsonl")
	wrapped := []byte(`{"data":` + string(v2[12]) + `,"includes":{"tweets":[` + string(v2[13]) +
		`]},"matching_rules":[{"id":"1","tag":"x"}]}`)
	includesFirst := []byte(`{"includes":{"tweets":[` + string(v2[13]) + `]},"data":` + string(v2[12]) + `}`)
	for _, value := range [][]byte{wrapped, includesFirst} {
		got := extractAll(t, bothDims, value)[0]
		want := outcome{Kind: "fact", Time: time.Date(2021, 4, 1, 15, 52, 31, 0, time.UTC), Dims: []string{"en", "Twitter for Android"}}
		if got.String() != want.String() {
			t.Errorf("got %v, want %v", got, want)
		}
		if diff := agree(got, oracle(value, bothDims)); diff != "" {
			t.Error(diff)
		}
	}
}

// TestTrickyRecords covers inputs the real files do not.
func TestTrickyRecords(t *testing.T) {
	const ca = `"created_at":"Wed Jun 01 19:36:00 +0000 2016"`
	june := time.Date(2016, 6, 1, 19, 36, 0, 0, time.UTC)
	ms := time.UnixMilli(1464809760123).UTC()
	fact := func(tm time.Time) outcome { return outcome{Kind: "fact", Time: tm} }
	reject := func(r string) outcome { return outcome{Kind: "reject", Reason: r} }
	skip := func(r string) outcome { return outcome{Kind: "skip", Reason: r} }
	tests := []struct {
		name  string
		value string
		want  outcome
	}{
		{"nested created_at first", `{"user":{"created_at":"Fri Nov 09 00:35:12 +0000 2007"},` + ca + `}`, fact(june)},
		{"nested created_at only", `{"user":{"created_at":"Fri Nov 09 00:35:12 +0000 2007"}}`, reject("no event time")},
		{"retweeted_status first", `{"retweeted_status":{"created_at":"Fri Nov 09 00:35:12 +0000 2007","timestamp_ms":"1"},` + ca + `}`, fact(june)},
		{"created_at in an array", `{"x":[{"created_at":"Fri Nov 09 00:35:12 +0000 2007"}],` + ca + `}`, fact(june)},
		{"duplicate created_at: last wins", `{"created_at":"Fri Nov 09 00:35:12 +0000 2007",` + ca + `}`, fact(june)},
		{"duplicate created_at: last bad", `{` + ca + `,"created_at":"yesterday"}`, reject("bad created_at")},
		{"duplicate timestamp_ms", `{"timestamp_ms":"1","timestamp_ms":"1464809760123"}`, fact(ms)},
		{"duplicate data: last wins", `{"data":{"created_at":"2007-01-01T00:00:00Z"},"data":{"created_at":"2016-06-01T19:36:00Z"}}`, fact(june)},
		{"duplicate data: last not an object", `{"data":{"created_at":"2016-06-01T19:36:00Z"},"data":null}`, reject("data is not an object")},
		{"timestamp_ms string", `{"timestamp_ms":"1464809760123",` + ca + `}`, fact(ms)},
		{"timestamp_ms number", `{"timestamp_ms":1464809760123,` + ca + `}`, fact(ms)},
		{"timestamp_ms escaped", `{"timestamp_ms":"\u0031464809760123"}`, fact(ms)},
		{"timestamp_ms float", `{"timestamp_ms":1464809760123.0}`, reject("bad timestamp_ms")},
		{"timestamp_ms exponent", `{"timestamp_ms":1.464809760123e12}`, reject("bad timestamp_ms")},
		{"timestamp_ms negative", `{"timestamp_ms":"-1464809760123"}`, reject("bad timestamp_ms")},
		{"timestamp_ms empty", `{"timestamp_ms":""}`, reject("bad timestamp_ms")},
		{"timestamp_ms bool", `{"timestamp_ms":true,` + ca + `}`, reject("bad timestamp_ms")},
		{"timestamp_ms overflow", `{"timestamp_ms":"99999999999999999999"}`, reject("bad timestamp_ms")},
		{"timestamp_ms max int64", `{"timestamp_ms":"9223372036854775807"}`, reject("event time out of range")},
		{"timestamp_ms null falls back", `{"timestamp_ms":null,` + ca + `}`, fact(june)},
		{"timestamp_ms zero (the 1970 bug)", `{"timestamp_ms":"0"}`, reject("event time out of range")},
		{"timestamp_ms in seconds", `{"timestamp_ms":"1464809760"}`, reject("event time out of range")},
		{"escaped key", `{"timestamp\u005fms":"1464809760123"}`, fact(ms)},
		{"key differs in case", `{"Created_At":"Wed Jun 01 19:36:00 +0000 2016"}`, reject("no event time")},
		{"created_at RFC 3339 offset", `{"created_at":"2016-06-01T21:36:00+02:00"}`, fact(june)},
		{"created_at v1.1 offset", `{"created_at":"Wed Jun 01 21:36:00 +0200 2016"}`, fact(june)},
		{"created_at v1.1 one-digit hour", `{"created_at":"Wed Jun 01 9:36:00 +0000 2016"}`, fact(june.Add(-10 * time.Hour))},
		{"created_at number", `{"created_at":1464809760}`, reject("bad created_at")},
		{"created_at garbage", `{"created_at":"Wed Jun 31 19:36:00 +0000 2016"}`, reject("bad created_at")},
		{"created_at year 1", `{"created_at":"0001-01-01T00:00:00Z"}`, reject("event time out of range")},
		{"created_at far future", `{"created_at":"2999-01-01T00:00:00Z"}`, reject("event time out of range")},
		{"very large ids", `{"id":1234567890123456789012345678901234567890,"id_str":"1","x":1e999,` + ca + `}`, fact(june)},
		{"whitespace around", " \t\r\n{ \"created_at\" : \"Wed Jun 01 19:36:00 +0000 2016\" }\n ", fact(june)},
		{"empty", ``, reject("empty payload")},
		{"only whitespace", " \n\t", reject("empty payload")},
		{"empty object", `{}`, reject("no event time")},
		{"array", `[]`, reject("not a json object")},
		{"array of tweets", `[{` + ca + `}]`, reject("not a json object")},
		{"null", `null`, reject("not a json object")},
		{"empty string", `""`, reject("not a json object")},
		{"number", `12`, reject("not a json object")},
		{"truncated", `{` + ca, reject("malformed json")},
		{"truncated in string", `{"created_at":"Wed Jun`, reject("malformed json")},
		{"trailing garbage", `{` + ca + `}x`, reject("malformed json")},
		{"two objects", `{` + ca + `}{` + ca + `}`, reject("malformed json")},
		{"trailing comma", `{` + ca + `,}`, reject("malformed json")},
		{"single quotes", `{'created_at':'x'}`, reject("malformed json")},
		{"leading zero", `{"n":01,` + ca + `}`, reject("malformed json")},
		{"bad escape", `{"text":"\x",` + ca + `}`, reject("malformed json")},
		{"raw newline in string", "{\"text\":\"a\nb\"," + ca + "}", reject("malformed json")},
		{"BOM", "\xef\xbb\xbf{" + ca + "}", reject("malformed json")},
		{"invalid UTF-8 in a string", "{\"text\":\"\xff\"," + ca + "}", reject("not utf-8")},
		{"invalid UTF-8 in a nested key", "{\"user\":{\"\xc3\x28\":1}," + ca + "}", reject("not utf-8")},
		{"UTF-8 surrogate bytes", "{\"text\":\"\xed\xa0\x80\"," + ca + "}", reject("not utf-8")},
		{"lone surrogate escape is fine", `{"text":"\ud800",` + ca + `}`, fact(june)},
		{"too deep", `{"x":` + strings.Repeat("[", maxDepth) + strings.Repeat("]", maxDepth) + `,` + ca + `}`, reject("json nested too deep")},
		{"as deep as allowed", `{"x":` + strings.Repeat("[", maxDepth-1) + strings.Repeat("]", maxDepth-1) + `,` + ca + `}`, fact(june)},
		{"delete", `{"delete":{"status":{"id":1,"id_str":"1"},"timestamp_ms":"1464809760123"}}`, skip("notice: delete")},
		{"scrub_geo", `{"scrub_geo":{"user_id":1,"up_to_status_id":2}}`, skip("notice: scrub_geo")},
		{"status_withheld", `{"status_withheld":{"id":1,"user_id":2,"withheld_in_countries":["DE"]}}`, skip("notice: status_withheld")},
		{"user_withheld", `{"user_withheld":{"id":1,"withheld_in_countries":["DE"]}}`, skip("notice: user_withheld")},
		{"disconnect", `{"disconnect":{"code":4,"stream_name":"x","reason":"y"}}`, skip("notice: disconnect")},
		{"warning", `{"warning":{"code":"FALLING_BEHIND","percent_full":60}}`, skip("notice: warning")},
		{"control", `{"control":{"control_uri":"/1.1/site/c/1"}}`, skip("notice: control")},
		{"friends_str", `{"friends_str":["1"]}`, skip("notice: friends_str")},
		{"for_user", `{"for_user":1,"message":{` + ca + `}}`, skip("notice: for_user")},
		{"notice after the time", `{` + ca + `,"event":"favorite"}`, skip("notice: event")},
		{"two notices", `{"limit":{"track":1},"delete":{}}`, skip("notice: delete")},
		{"v2 errors only", `{"errors":[{"title":"operational-disconnect"}]}`, skip("notice: errors")},
		{"v2 data with errors", `{"data":{"created_at":"2016-06-01T19:36:00.000Z"},"errors":[{}]}`, fact(june)},
		{"v2 data array", `{"data":[{"created_at":"2016-06-01T19:36:00.000Z"}]}`, reject("data is not an object")},
		{"v2 top-level time ignored", `{` + ca + `,"data":{"id":"1"}}`, reject("no event time")},
		{"v2 deep notice ignored", `{"data":{"delete":1,"created_at":"2016-06-01T19:36:00.000Z"}}`, fact(june)},
	}
	values := make([][]byte, len(tests))
	for i, tt := range tests {
		values[i] = []byte(tt.value)
	}
	got := extractAll(t, nil, values...)
	for i, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got[i].String() != tt.want.String() || !got[i].Time.Equal(tt.want.Time) {
				t.Errorf("got %v, want %v", got[i], tt.want)
			}
			if diff := agree(got[i], oracle(values[i], nil)); diff != "" {
				t.Error(diff)
			}
		})
	}
}

func TestDimensions(t *testing.T) {
	tests := []struct {
		value string
		want  []string
	}{
		{`{"created_at":"2016-06-01T19:36:00Z","lang":"","source":"web"}`, []string{"und", "web"}},
		{`{"created_at":"2016-06-01T19:36:00Z","lang":null,"source":null}`, []string{"und", ""}},
		{`{"created_at":"2016-06-01T19:36:00Z","lang":7,"source":{}}`, []string{"und", ""}},
		{`{"created_at":"2016-06-01T19:36:00Z","lang":"d\u0065","source":"<a href=\"http:\/\/x\" rel=\"nofollow\">X &amp; Y<\/a>"}`, []string{"de", "X & Y"}},
		{`{"created_at":"2016-06-01T19:36:00Z","source":"<a href=\"x\">  Spaced  </a>","user":{"lang":"fr"}}`, []string{"und", "Spaced"}},
		{`{"created_at":"2016-06-01T19:36:00Z","source":"<b>bold</b>"}`, []string{"und", "<b>bold</b>"}},
		{`{"created_at":"2016-06-01T19:36:00Z","source":"<a></a>"}`, []string{"und", ""}},
		{`{"created_at":"2016-06-01T19:36:00Z","source":"<a</a>"}`, []string{"und", "<a</a>"}},
		{`{"created_at":"2016-06-01T19:36:00Z","source":"&amp;lt;a&amp;gt; &eacute; &"}`, []string{"und", "&lt;a&gt; &eacute; &"}},
		{`{"created_at":"2016-06-01T19:36:00Z","source":"<A HREF='x'>Caps</A>"}`, []string{"und", "Caps"}},
	}
	for _, tt := range tests {
		got := extractAll(t, []string{"lang", "source"}, []byte(tt.value))[0]
		if got.Kind != "fact" || fmt.Sprint(got.Dims) != fmt.Sprint(tt.want) {
			t.Errorf("%s: got %v, want dims %q", tt.value, got, tt.want)
		}
		if diff := agree(got, oracle([]byte(tt.value), bothDims)); diff != "" {
			t.Errorf("%s: %s", tt.value, diff)
		}
	}

	// Dimensions come in the order the pipeline names them.
	got := extractAll(t, []string{"source", "lang", "source"}, []byte(tests[3].value))[0]
	if fmt.Sprint(got.Dims) != "[X & Y de X & Y]" {
		t.Errorf("dims in pipeline order: got %q", got.Dims)
	}
}

// A dimension value holding a control character rejects its record (only
// when the pipeline asks for that dimension), also after values without
// one were seen and interned.
func TestDimensionWithAControlCharacterIsRejected(t *testing.T) {
	tests := []struct {
		value  string
		dims   []string
		reason string
	}{
		{`{"created_at":"2016-06-01T19:36:00Z","lang":"en","source":"web"}`, bothDims, ""},
		{`{"created_at":"2016-06-01T19:36:00Z","lang":"e\u0000n","source":"web"}`, bothDims, "lang has a control character"},
		{`{"created_at":"2016-06-01T19:36:00Z","lang":"en\n","source":"web"}`, []string{"lang"}, "lang has a control character"},
		{`{"created_at":"2016-06-01T19:36:00Z","lang":"en","source":"<a href=\"x\">We\tb</a>"}`, bothDims, "source has a control character"},
		{`{"created_at":"2016-06-01T19:36:00Z","lang":"en","source":"We\u007fb"}`, bothDims, "source has a control character"},
		{`{"created_at":"2016-06-01T19:36:00Z","lang":"e\u0000n","source":"We\tb"}`, nil, ""},
		{`{"created_at":"2016-06-01T19:36:00Z","lang":"e\u0000n"}`, []string{"source"}, ""},
	}
	seen := []byte(`{"created_at":"2016-06-01T19:36:00Z","lang":"en","source":"web"}`)
	for _, tt := range tests {
		// One worker: "en" and "web" are interned before tt.value is read.
		got := extractAll(t, tt.dims, seen, []byte(tt.value))[1]
		want := "fact"
		if tt.reason != "" {
			want = "reject"
		}
		if got.Kind != want || got.Reason != tt.reason {
			t.Errorf("%s with dimensions %v: got %v, want %s %q", tt.value, tt.dims, got, want, tt.reason)
		}
		if diff := agree(got, oracle([]byte(tt.value), tt.dims)); diff != "" {
			t.Errorf("%s with dimensions %v: %s", tt.value, tt.dims, diff)
		}
	}
}

// TestFactDimsDoNotAlias checks that each fact owns its dimension slice: a
// runtime appending to one must not overwrite the next.
func TestFactDimsDoNotAlias(t *testing.T) {
	x := New()
	if err := x.Open(context.Background(), sdk.Setup{Dimensions: []string{"lang"}}); err != nil {
		t.Fatal(err)
	}
	records := []sdk.Record{
		{Value: []byte(`{"created_at":"2016-06-01T19:36:00Z","lang":"en"}`)},
		{Value: []byte(`{"created_at":"2016-06-01T19:36:00Z","lang":"fr"}`)},
	}
	var out sdk.Extraction
	if err := x.Extract(context.Background(), records, &out); err != nil {
		t.Fatal(err)
	}
	_ = append(out.Facts[0].Dims, "extra")
	if out.Facts[1].Dims[0] != "fr" {
		t.Errorf("second fact's dims changed to %q by an append to the first's", out.Facts[1].Dims)
	}
}

func TestOpen(t *testing.T) {
	for _, config := range []string{"", "{}", "null", "~", "reject_future: 1h"} {
		if err := New().Open(context.Background(), sdk.Setup{Config: []byte(config)}); err != nil {
			t.Errorf("config %q: %v", config, err)
		}
	}

	err := New().Open(context.Background(), sdk.Setup{
		Config:     []byte("reject_future: -1m\ncolour: blue\n"),
		Dimensions: []string{"lang", "hashtag", "source", "Lang"},
	})
	var problems sdk.ConfigErrors
	if !errors.As(err, &problems) {
		t.Fatalf("Open: %v, want sdk.ConfigErrors", err)
	}
	var paths []string
	for _, p := range problems {
		paths = append(paths, p.Path)
	}
	// DecodeConfig reports unknown keys before Validate runs.
	if got := fmt.Sprintf("%q", paths); got != `["colour" "" ""]` {
		t.Errorf("problem paths %s, want colour and two dimensions", got)
	}
	for _, name := range []string{`"hashtag"`, `"Lang"`} {
		if !strings.Contains(err.Error(), name) {
			t.Errorf("error %q does not name dimension %s", err, name)
		}
	}

	err = New().Open(context.Background(), sdk.Setup{Config: []byte("reject_future: -1m")})
	if !errors.As(err, &problems) || len(problems) != 1 || problems[0].Path != "reject_future" {
		t.Errorf("negative reject_future: %v, want one problem at reject_future", err)
	}
}

func TestRejectFuture(t *testing.T) {
	x := New()
	if err := x.Open(context.Background(), sdk.Setup{Config: []byte("reject_future: 1h")}); err != nil {
		t.Fatal(err)
	}
	written := time.Date(2016, 6, 1, 19, 0, 0, 0, time.UTC)
	value := []byte(`{"created_at":"Wed Jun 01 19:36:00 +0000 2016"}`)
	records := []sdk.Record{
		{Value: value, Time: written},                 // 36 min ahead: kept
		{Value: value, Time: written.Add(-time.Hour)}, // 96 min ahead: rejected
		{Value: value}, // no record time: kept
		{Value: value, Time: written.Add(24 * time.Hour)}, // late: kept
	}
	var out sdk.Extraction
	if err := x.Extract(context.Background(), records, &out); err != nil {
		t.Fatal(err)
	}
	got := outcomes(t, len(records), &out)
	kinds := fmt.Sprint(got[0].Kind, got[1], got[2].Kind, got[3].Kind)
	if kinds != `factreject "event time after record time"factfact` {
		t.Errorf("outcomes: %s", kinds)
	}
}

func TestExtractStopsOnDoneContext(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	var out sdk.Extraction
	err := New().Extract(ctx, []sdk.Record{{Value: []byte(`{}`)}}, &out)
	if !errors.Is(err, context.Canceled) {
		t.Errorf("Extract on a done context: %v, want context.Canceled", err)
	}
}

// TestCreatedAtFastPathAgreesWithTimeParse checks the fast path against
// time.Parse on forms it must accept and near misses it must leave alone.
func TestCreatedAtFastPathAgreesWithTimeParse(t *testing.T) {
	for _, s := range []string{
		"Wed Jun 01 19:36:00 +0000 2016", "Mon Feb 29 23:59:59 +0000 2016",
		"Sun Jan 01 00:00:00 +0000 2006", "Thu Dec 31 12:00:00 +0000 2099",
		"Wed Feb 29 19:36:00 +0000 2017", "Wed Jun 00 19:36:00 +0000 2016",
		"Wed Jun 01 24:00:00 +0000 2016", "Wed Jun 01 19:60:00 +0000 2016",
		"Wed Jun 01 19:36:60 +0000 2016", "wed jun 01 19:36:00 +0000 2016",
		"Xyz Jun 01 19:36:00 +0000 2016", "Wed Jun 01 19:36:00 -0000 2016",
		"Wed Jun 01 19:36:00 +0100 2016", "Wed Jun  1 19:36:00 +0000 2016",
		"2022-10-07T13:05:44.000Z", "2022-10-07T13:05:44Z", "2022-10-07T13:05:44.123456789Z",
		"2022-10-07T13:05:44.1234567891Z", "2022-10-07T13:05:44.Z", "2022-02-29T13:05:44Z",
		"2022-10-07T24:05:44Z", "2022-10-07t13:05:44Z", "2022-10-07T13:05:44,5Z", "0000-01-01T00:00:00Z",
	} {
		fast, fastOK := parseCreatedAtFast([]byte(s))
		std, err := time.Parse(createdAtLayout, s)
		if fastOK && (err != nil || !fast.Equal(std)) {
			t.Errorf("%q: fast path %v, time.Parse %v, %v", s, fast, std, err)
		}
		if err != nil {
			std, err = time.Parse(time.RFC3339, s)
		}
		if fast, ok := parseRFC3339Fast([]byte(s)); ok && (err != nil || !fast.Equal(std)) {
			t.Errorf("%q: RFC 3339 fast path %v, time.Parse %v, %v", s, fast, std, err)
		}
		all, ok := parseCreatedAt([]byte(s))
		if ok != (err == nil) || ok && !all.Equal(std) {
			t.Errorf("%q: parseCreatedAt %v %v, time.Parse %v, %v", s, all, ok, std, err)
		}
	}
	if _, ok := parseCreatedAtFast([]byte("Wed Jun 01 19:36:00 +0000 2016")); !ok {
		t.Error("fast path refuses Twitter's v1.1 form")
	}
	if _, ok := parseRFC3339Fast([]byte("2022-10-07T13:05:44.000Z")); !ok {
		t.Error("fast path refuses Twitter's v2 form")
	}
}

func TestUnescapeMatchesEncodingJSON(t *testing.T) {
	for _, s := range []string{
		`plain`, `\"\\\/\b\f\n\r\t`, `\u00e9\u20AC`, `\ud83d\ude00`, `\ud83d`, `\ude00\ud83d`,
		`\ud83dx`, `\ud83d\u0041`, `a\ud83d\ud83d\ude00b`, "é€",
	} {
		got := string(unescape(nil, []byte(s)))
		var want string
		if err := json.Unmarshal([]byte(`"`+s+`"`), &want); err != nil {
			t.Fatal(err)
		}
		if got != want {
			t.Errorf("unescape(%q) = %q, encoding/json: %q", s, got, want)
		}
	}
}

// TestExtractAllocations pins the zero-allocation promise for records with
// and without dimensions, once buffers and the intern table are warm.
func TestExtractAllocations(t *testing.T) {
	lines := realLines(t, "tweets-v1.jsonl")
	records := make([]sdk.Record, len(lines))
	for i, l := range lines {
		records[i] = sdk.Record{Value: l}
	}
	for _, dims := range [][]string{nil, bothDims} {
		x := New()
		if err := x.Open(context.Background(), sdk.Setup{Dimensions: dims}); err != nil {
			t.Fatal(err)
		}
		out := &sdk.Extraction{}
		allocs := testing.AllocsPerRun(20, func() {
			out.Reset()
			if err := x.Extract(context.Background(), records, out); err != nil {
				t.Fatal(err)
			}
		})
		// One backing array holds the batch's dims.
		limit := 0.0
		if dims != nil {
			limit = 1
		}
		if allocs > limit {
			t.Errorf("dims %q: %v allocations per batch of %d records, want <= %v", dims, allocs, len(records), limit)
		}
	}
}

// Extract may run on several goroutines at once (the SDK splits large
// batches when served with sdk.ConcurrentExtract): each gives what one call
// alone gives.
func TestConcurrentExtractsAgreeWithOne(t *testing.T) {
	lines := realLines(t, "tweets-v1.jsonl")
	records := make([]sdk.Record, len(lines))
	for i, l := range lines {
		records[i] = sdk.Record{Value: l}
	}
	x := New()
	if err := x.Open(context.Background(), sdk.Setup{Dimensions: bothDims}); err != nil {
		t.Fatal(err)
	}
	var alone sdk.Extraction
	if err := x.Extract(context.Background(), records, &alone); err != nil {
		t.Fatal(err)
	}
	outs := make([]sdk.Extraction, 4)
	var wg sync.WaitGroup
	for i := range outs {
		wg.Go(func() {
			for range 5 {
				outs[i].Reset()
				if err := x.Extract(context.Background(), records, &outs[i]); err != nil {
					t.Error(err)
				}
			}
		})
	}
	wg.Wait()
	for i := range outs {
		if !reflect.DeepEqual(outs[i], alone) {
			t.Fatalf("call %d on its own goroutine differs from a call alone", i)
		}
	}
}
