package tweets

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/kappa-stream/kappa/sdk"
)

// outcome is what one record yields, in a form both the extractor and the
// oracle produce and tests compare.
type outcome struct {
	Kind   string // "fact", "skip" or "reject"
	Reason string
	Time   time.Time
	Dims   []string
}

func (o outcome) String() string {
	if o.Kind == "fact" {
		return fmt.Sprintf("fact %s %q", o.Time.Format(time.RFC3339Nano), o.Dims)
	}
	return fmt.Sprintf("%s %q", o.Kind, o.Reason)
}

// syntaxReasons are the rejects decided by the JSON text alone. The oracle
// cannot tell which of them a scanner meets first in a record with several
// faults, so for these only the kind is compared.
var syntaxReasons = []string{"malformed json", "json nested too deep", "not utf-8"}

// oracleNoticeKeys is written out again, rather than taken from noticeKeys,
// so that a change to the list or its order shows up in a test.
var oracleNoticeKeys = []string{
	"delete", "scrub_geo", "limit", "status_withheld", "user_withheld",
	"disconnect", "warning", "event", "friends", "friends_str",
	"direct_message", "control", "for_user", "for_user_id",
}

// entityReplacer and anchor reduce a source to its client's name in a way
// that shares no code with the extractor.
var (
	entityReplacer = strings.NewReplacer("&amp;", "&", "&lt;", "<", "&gt;", ">", "&quot;", `"`, "&#39;", "'", "&apos;", "'")
	anchor         = regexp.MustCompile(`(?s)^<[aA](?:[ ][^>]*)?>(.*)</[aA]>$`)
)

// oracle decides what value should yield with a full encoding/json decode
// and time.Parse, sharing no code with the extractor's scanner.
func oracle(value []byte, dims []string) outcome {
	reject := func(reason string) outcome { return outcome{Kind: "reject", Reason: reason} }
	if len(bytes.Trim(value, " \t\r\n")) == 0 {
		return reject("empty payload")
	}
	if !utf8.Valid(value) {
		return reject("not utf-8")
	}
	if !json.Valid(value) {
		return reject("malformed json")
	}
	// A full decode: every number kept as text so that ids beyond 2^53 and
	// exponents beyond float64 decode as encoding/json allows them.
	dec := json.NewDecoder(bytes.NewReader(value))
	dec.UseNumber()
	var whole any
	if err := dec.Decode(&whole); err != nil {
		return outcome{Kind: "oracle failure", Reason: err.Error()}
	}
	if _, ok := whole.(map[string]any); !ok {
		return reject("not a json object")
	}
	var top map[string]json.RawMessage
	if err := json.Unmarshal(value, &top); err != nil {
		return outcome{Kind: "oracle failure", Reason: err.Error()}
	}
	for _, key := range oracleNoticeKeys {
		if _, ok := top[key]; ok {
			return outcome{Kind: "skip", Reason: "notice: " + key}
		}
	}
	tweet := top
	if raw, ok := top["data"]; ok {
		if raw[0] != '{' {
			return reject("data is not an object")
		}
		tweet = nil
		if err := json.Unmarshal(raw, &tweet); err != nil {
			return outcome{Kind: "oracle failure", Reason: err.Error()}
		}
	} else if _, ok := top["errors"]; ok {
		return outcome{Kind: "skip", Reason: "notice: errors"}
	}
	t, reason := oracleEventTime(tweet)
	if reason != "" {
		return reject(reason)
	}
	o := outcome{Kind: "fact", Time: t}
	for _, d := range dims {
		var s string
		_ = json.Unmarshal(tweet[d], &s) // absent, null or not a string: ""
		switch d {
		case "lang":
			if s == "" {
				s = "und"
			}
		case "source":
			s = entityReplacer.Replace(s)
			if m := anchor.FindStringSubmatch(s); m != nil {
				s = m[1]
			}
			s = strings.TrimSpace(s)
		}
		if strings.ContainsFunc(s, func(r rune) bool { return r < 0x20 || r == 0x7f }) {
			return reject(d + " has a control character")
		}
		o.Dims = append(o.Dims, s)
	}
	return o
}

func oracleEventTime(tweet map[string]json.RawMessage) (time.Time, string) {
	var t time.Time
	if raw, ok := tweet["timestamp_ms"]; ok && string(raw) != "null" {
		digits := string(raw) // a number's token; anything else fails below
		if raw[0] == '"' {
			if err := json.Unmarshal(raw, &digits); err != nil {
				return t, "oracle failure: " + err.Error()
			}
		}
		if digits == "" || strings.Trim(digits, "0123456789") != "" {
			return t, "bad timestamp_ms"
		}
		ms, err := strconv.ParseInt(digits, 10, 64)
		if err != nil {
			return t, "bad timestamp_ms"
		}
		t = time.UnixMilli(ms).UTC()
	} else if raw, ok := tweet["created_at"]; ok && string(raw) != "null" {
		var s string
		if err := json.Unmarshal(raw, &s); err != nil {
			return t, "bad created_at"
		}
		if v1, err := time.Parse("Mon Jan 02 15:04:05 -0700 2006", s); err == nil {
			t = v1.UTC()
		} else if v2, err := time.Parse(time.RFC3339, s); err == nil {
			t = v2.UTC()
		} else {
			return t, "bad created_at"
		}
	} else {
		return t, "no event time"
	}
	if t.Year() < 2006 || t.Year() >= 2100 {
		return time.Time{}, "event time out of range"
	}
	return t, ""
}

// extractAll runs a fresh extractor opened with dims over values and returns
// one outcome per value, failing the test unless every record got exactly one.
func extractAll(t testing.TB, dims []string, values ...[]byte) []outcome {
	t.Helper()
	x := New()
	if err := x.Open(context.Background(), sdk.Setup{Dimensions: dims}); err != nil {
		t.Fatalf("Open: %v", err)
	}
	records := make([]sdk.Record, len(values))
	for i, v := range values {
		records[i] = sdk.Record{Offset: int64(i), Value: v}
	}
	var out sdk.Extraction
	if err := x.Extract(context.Background(), records, &out); err != nil {
		t.Fatalf("Extract: %v", err)
	}
	return outcomes(t, len(values), &out)
}

// outcomes turns an Extraction back into one outcome per record.
func outcomes(t testing.TB, n int, out *sdk.Extraction) []outcome {
	t.Helper()
	got := make([]outcome, n)
	seen := make([]int, n)
	for _, f := range out.Facts {
		got[f.Record] = outcome{Kind: "fact", Time: f.Time, Dims: f.Dims}
		seen[f.Record]++
	}
	for _, v := range out.Skipped {
		got[v.Record] = outcome{Kind: "skip", Reason: v.Reason}
		seen[v.Record]++
	}
	for _, v := range out.Rejected {
		got[v.Record] = outcome{Kind: "reject", Reason: v.Reason}
		seen[v.Record]++
	}
	for i, c := range seen {
		if c != 1 {
			t.Fatalf("record %d got %d outcomes, want exactly 1", i, c)
		}
	}
	return got
}

// agree reports how got differs from the oracle's want, or "".
func agree(got, want outcome) string {
	if got.Kind != want.Kind {
		return fmt.Sprintf("extractor: %v, encoding/json: %v", got, want)
	}
	switch got.Kind {
	case "fact":
		if !got.Time.Equal(want.Time) || got.Time.Location() != time.UTC || !slices.Equal(got.Dims, want.Dims) {
			return fmt.Sprintf("extractor: %v (%v), encoding/json: %v", got, got.Time.Location(), want)
		}
	case "reject":
		if slices.Contains(syntaxReasons, want.Reason) && slices.Contains(syntaxReasons, got.Reason) {
			if want.Reason != "not utf-8" && got.Reason == "not utf-8" {
				return fmt.Sprintf("extractor: %v on UTF-8 input, encoding/json: %v", got, want)
			}
			return ""
		}
		fallthrough
	default:
		if got.Reason != want.Reason {
			return fmt.Sprintf("extractor: %v, encoding/json: %v", got, want)
		}
	}
	return ""
}

// realLines reads the lines of testdata/real-tweets/name.
func realLines(t testing.TB, name string) [][]byte {
	t.Helper()
	f, err := os.Open(filepath.Join("testdata", "real-tweets", name))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var lines [][]byte
	sc := bufio.NewScanner(f)
	sc.Buffer(nil, 1<<20)
	for sc.Scan() {
		lines = append(lines, bytes.Clone(sc.Bytes()))
	}
	if err := sc.Err(); err != nil {
		t.Fatalf("read %s: %v", name, err)
	}
	if len(lines) == 0 {
		t.Fatalf("%s holds no lines", name)
	}
	return lines
}

var realFiles = []string{"tweets-v1.jsonl", "tweets-v2.jsonl", "stream-notices.jsonl"}
