package tweets

import (
	"context"
	"testing"
	"time"

	"github.com/kappa-stream/kappa/sdk"
)

// FuzzExtractAgreesWithEncodingJSON checks, on any input, that the extractor
// never panics and agrees with the encoding/json oracle on validity, on
// tweet, notice or reject, and on event time and dimensions.
//
//	go test -run '^$' -fuzz FuzzExtractAgreesWithEncodingJSON -fuzztime 2m ./plugins/tweet-extractor/tweets/
func FuzzExtractAgreesWithEncodingJSON(f *testing.F) {
	for _, name := range realFiles {
		for _, line := range realLines(f, name) {
			f.Add(line)
		}
	}
	for _, seed := range []string{
		``, ` `, `{}`, `[]`, `null`, `""`, `{"data":{}}`, `{"errors":[]}`,
		`{"timestamp_ms":1464809760123}`, `{"timestamp\u005fms":"1464809760123"}`,
		`{"created_at":"Wed Jun 01 19:36:00 +0000 2016","created_at":"2016-06-01T19:36:00.000Z"}`,
		`{"user":{"created_at":"Fri Nov 09 00:35:12 +0000 2007"},"lang":"\ud83d","source":"&lt;a&gt;x&lt;/a&gt;"}`,
		"{\"text\":\"\xff\"}", "\xef\xbb\xbf{}", `{"id":123456789012345678901234567890}`,
		`{"a":[1,-0.5e+3,{"b":[true,false,null,""]}],"created_at":"2016-06-01T19:36:00Z","lang":"en"}`,
		`{"delete":{},"data":{"created_at":"2016-06-01T19:36:00Z"}}`, `{"data":[],"errors":{}}`,
		`{"created_at":"Wed Jun 01 19:36:00 +0000 2016","timestamp_ms":null,"source":"<a href=\"x\">y</a>"}`,
	} {
		f.Add([]byte(seed))
	}
	x := New()
	if err := x.Open(context.Background(), sdk.Setup{Dimensions: bothDims}); err != nil {
		f.Fatal(err)
	}
	f.Fuzz(func(t *testing.T, value []byte) {
		// The same record twice in one batch, through one long-lived
		// extractor: leftovers of a previous record must not leak.
		records := []sdk.Record{{Value: value}, {Value: value}}
		var out sdk.Extraction
		if err := x.Extract(context.Background(), records, &out); err != nil {
			t.Fatalf("Extract: %v", err)
		}
		got := outcomes(t, len(records), &out)
		if diff := agree(got[0], oracle(value, bothDims)); diff != "" {
			t.Fatalf("%q:\n%s", value, diff)
		}
		if got[0].String() != got[1].String() {
			t.Fatalf("%q: same record, two outcomes: %v and %v", value, got[0], got[1])
		}
	})
}

// FuzzCreatedAtAgreesWithTimeParse checks that parseCreatedAt accepts what
// time.Parse accepts with either layout, and gives the same instant.
func FuzzCreatedAtAgreesWithTimeParse(f *testing.F) {
	for _, s := range []string{
		"Wed Jun 01 19:36:00 +0000 2016", "Mon Feb 29 23:59:59 +0000 2016",
		"Wed Jun 01 9:36:00 +0200 2016", "2022-10-07T13:05:44.000Z", "2022-10-07T13:05:44+02:00",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		got, ok := parseCreatedAt([]byte(s))
		want, err := time.Parse(createdAtLayout, s)
		if err != nil {
			want, err = time.Parse(time.RFC3339, s)
		}
		if ok != (err == nil) || ok && (!got.Equal(want) || got.Location() != time.UTC) {
			t.Fatalf("%q: parseCreatedAt %v %v, time.Parse %v %v", s, got, ok, want, err)
		}
	})
}
