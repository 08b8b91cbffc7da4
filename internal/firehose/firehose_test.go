package firehose

import (
	"bytes"
	"encoding/json"
	"errors"
	"math"
	"strconv"
	"testing"
	"time"
	"unicode/utf8"
)

const createdAtLayout = "Mon Jan 02 15:04:05 -0700 2006"

func testConfig(seed uint64, tweets int) Config {
	cfg := DefaultConfig(time.Date(2016, 6, 1, 19, 36, 0, 0, time.UTC))
	cfg.Seed = seed
	cfg.Tweets = tweets
	return cfg
}

func generate(t testing.TB, cfg Config) ([]Record, *Generator) {
	t.Helper()
	g, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	var out []Record
	for {
		r, ok := g.Next(nil)
		if !ok {
			return out, g
		}
		out = append(out, r)
	}
}

func TestSameSeedSameStream(t *testing.T) {
	a, ga := generate(t, testConfig(42, 3000))
	b, gb := generate(t, testConfig(42, 3000))
	if len(a) != len(b) {
		t.Fatalf("lengths differ: %d vs %d", len(a), len(b))
	}
	for i := range a {
		if !bytes.Equal(a[i].Value, b[i].Value) || a[i].Kind != b[i].Kind {
			t.Fatalf("record %d differs between runs with the same seed", i)
		}
	}
	if !equalMinutes(ga.Truth().Minutes(), gb.Truth().Minutes()) {
		t.Fatal("truths differ between runs with the same seed")
	}
	c, _ := generate(t, testConfig(43, 3000))
	same := 0
	for i := range min(len(a), len(c)) {
		if bytes.Equal(a[i].Value, c[i].Value) {
			same++
		}
	}
	if same > len(a)/100 {
		t.Fatalf("seeds 42 and 43 share %d of %d records", same, len(a))
	}
}

func equalMinutes(a, b []MinuteCount) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if !a[i].Minute.Equal(b[i].Minute) || a[i].Count != b[i].Count {
			return false
		}
	}
	return true
}

// topLevel decodes only the first level of a JSON object.
func topLevel(t *testing.T, value []byte) map[string]json.RawMessage {
	t.Helper()
	var m map[string]json.RawMessage
	if err := json.Unmarshal(value, &m); err != nil {
		t.Fatalf("not a JSON object: %v\n%s", err, value)
	}
	return m
}

func jsonString(t *testing.T, raw json.RawMessage) string {
	t.Helper()
	var s string
	if err := json.Unmarshal(raw, &s); err != nil {
		t.Fatalf("not a JSON string: %s", raw)
	}
	return s
}

// eventTime reads a tweet the way an exact extractor must: top-level
// timestamp_ms, checked against top-level created_at.
func eventTime(t *testing.T, m map[string]json.RawMessage) time.Time {
	t.Helper()
	ms, err := strconv.ParseInt(jsonString(t, m["timestamp_ms"]), 10, 64)
	if err != nil {
		t.Fatalf("timestamp_ms: %v", err)
	}
	created, err := time.Parse(createdAtLayout, jsonString(t, m["created_at"]))
	if err != nil {
		t.Fatalf("created_at: %v", err)
	}
	at := time.UnixMilli(ms).UTC()
	if !created.Equal(at.Truncate(time.Second)) {
		t.Fatalf("created_at %v and timestamp_ms %v disagree", created, at)
	}
	return at
}

func TestTweetsMatchTruth(t *testing.T) {
	const n = 10_000
	records, g := generate(t, testConfig(7, n))
	perMinute := map[time.Time]int64{}
	perLang := map[LangCount]int64{}
	var nestedFirst, bigIDs, retweets, quotes int
	for _, r := range records {
		if r.Kind != KindTweet {
			continue
		}
		m := topLevel(t, r.Value)
		at := eventTime(t, m)
		if !at.Equal(r.EventTime) {
			t.Fatalf("record says event time %v, payload %v", r.EventTime, at)
		}
		minute := at.Truncate(time.Minute)
		perMinute[minute]++
		lang := jsonString(t, m["lang"])
		perLang[LangCount{Minute: minute, Lang: lang}]++

		// Ids are JSON numbers equal to id_str, often beyond 2^53.
		id, err := strconv.ParseUint(string(m["id"]), 10, 64)
		if err != nil || strconv.FormatUint(id, 10) != jsonString(t, m["id_str"]) {
			t.Fatalf("id %s does not match id_str %s", m["id"], m["id_str"])
		}
		if id > 1<<53 {
			bigIDs++
		}
		var user struct {
			CreatedAt string `json:"created_at"`
		}
		if err := json.Unmarshal(m["user"], &user); err != nil {
			t.Fatal(err)
		}
		userCreated, err := time.Parse(createdAtLayout, user.CreatedAt)
		if err != nil || !userCreated.Before(at) {
			t.Fatalf("user created_at %q is not before the tweet (%v)", user.CreatedAt, at)
		}
		for key, counter := range map[string]*int{"retweeted_status": &retweets, "quoted_status": &quotes} {
			raw, ok := m[key]
			if !ok {
				continue
			}
			*counter++
			nested := topLevel(t, raw)
			if _, ok := nested["timestamp_ms"]; ok {
				t.Fatalf("%s carries a timestamp_ms", key)
			}
			orig, err := time.Parse(createdAtLayout, jsonString(t, nested["created_at"]))
			if err != nil || orig.Truncate(time.Minute).Equal(minute) || !orig.Before(at) {
				t.Fatalf("%s created_at %v must be older than the tweet, in another minute (%v)", key, orig, at)
			}
		}
		// The first "created_at" in the bytes is not always the tweet's.
		first := bytes.Index(r.Value, []byte(`"created_at":"`)) + len(`"created_at":"`)
		if string(r.Value[first:first+len(createdAtLayout)-4]) != jsonString(t, m["created_at"])[:len(createdAtLayout)-4] {
			nestedFirst++
		}
	}

	truth := g.Truth()
	if truth.Total() != n {
		t.Fatalf("truth counts %d tweets, want %d", truth.Total(), n)
	}
	minutes := truth.Minutes()
	if len(minutes) != len(perMinute) {
		t.Fatalf("truth has %d minutes, payloads %d", len(minutes), len(perMinute))
	}
	for i, mc := range minutes {
		if i > 0 && !minutes[i-1].Minute.Before(mc.Minute) {
			t.Fatalf("truth not sorted at %v", mc.Minute)
		}
		if perMinute[mc.Minute] != mc.Count {
			t.Fatalf("minute %v: truth %d, payloads %d", mc.Minute, mc.Count, perMinute[mc.Minute])
		}
	}
	langs := truth.Langs()
	if len(langs) != len(perLang) {
		t.Fatalf("language truth has %d rows, payloads %d", len(langs), len(perLang))
	}
	for _, lc := range langs {
		if perLang[LangCount{Minute: lc.Minute, Lang: lc.Lang}] != lc.Count {
			t.Fatalf("%v %s: truth %d, payloads %d", lc.Minute, lc.Lang, lc.Count, perLang[LangCount{Minute: lc.Minute, Lang: lc.Lang}])
		}
	}
	// At 3,000 tweets a minute, 10,000 tweets span about 4 minutes of
	// stream, and late ones spread over the 3 hours before.
	if len(minutes) < 60 {
		t.Errorf("only %d distinct minutes", len(minutes))
	}
	for name, got := range map[string]int{"ids beyond 2^53": bigIDs, "retweets": retweets, "quotes": quotes, "nested created_at first": nestedFirst} {
		if got < n/100 {
			t.Errorf("%s: %d of %d tweets, want at least 1%%", name, got, n)
		}
	}
}

func TestLateness(t *testing.T) {
	const n = 20_000
	cfg := testConfig(11, n)
	cfg.LateFrac = 0.2
	cfg.MaxLate = 90 * time.Minute
	records, g := generate(t, cfg)
	late, inversions := 0, 0
	var prev time.Time
	for _, r := range records {
		if r.Kind != KindTweet {
			continue
		}
		lateness := r.StreamTime.Sub(r.EventTime)
		if lateness < 0 || lateness > cfg.MaxLate {
			t.Fatalf("event %v is %v behind stream time %v, outside [0, %v]", r.EventTime, lateness, r.StreamTime, cfg.MaxLate)
		}
		if !r.Late && lateness > 2*time.Second {
			t.Fatalf("on-time tweet is %v behind", lateness)
		}
		if r.Late {
			late++
		}
		if r.EventTime.Before(prev) {
			inversions++
		}
		prev = r.EventTime
	}
	if g.Emitted().Late != late {
		t.Fatalf("generator counts %d late, records %d", g.Emitted().Late, late)
	}
	// Binomial standard deviation is 0.0028 here; 0.015 is five of them.
	if frac := float64(late) / n; math.Abs(frac-cfg.LateFrac) > 0.015 {
		t.Fatalf("late fraction %.4f, want about %.2f", frac, cfg.LateFrac)
	}
	if inversions < n/4 {
		t.Fatalf("only %d of %d tweets come before an earlier event time: not shuffled", inversions, n)
	}
}

func TestNoticesAndMalformed(t *testing.T) {
	const n = 20_000
	cfg := testConfig(3, n)
	cfg.NoticeFrac = 0.03
	cfg.MalformedFrac = 0.01
	records, g := generate(t, cfg)
	counts := map[Kind]int{}
	noticeKindsSeen := map[string]int{}
	malformations := map[Malformation]int{}
	for _, r := range records {
		counts[r.Kind]++
		switch r.Kind {
		case KindNotice:
			m := topLevel(t, r.Value)
			if len(m) != 1 {
				t.Fatalf("notice has %d top-level keys: %s", len(m), r.Value)
			}
			if _, ok := m[r.Notice]; !ok {
				t.Fatalf("notice %q lacks its key: %s", r.Notice, r.Value)
			}
			noticeKindsSeen[r.Notice]++
		case KindMalformed:
			malformations[r.Malformation]++
			checkMalformed(t, r)
		}
	}
	want := map[Kind]int{KindTweet: n, KindNotice: 600, KindMalformed: 200}
	for k, w := range want {
		if counts[k] != w {
			t.Errorf("%v: %d records, want %d", k, counts[k], w)
		}
	}
	if got := g.Emitted(); got.Notices != 600 || got.Malformed != 200 || got.Records() != len(records) {
		t.Errorf("emitted counts %+v disagree with the records", got)
	}
	for _, k := range []string{"delete", "limit"} {
		if noticeKindsSeen[k] == 0 {
			t.Errorf("no %s notice among %v", k, noticeKindsSeen)
		}
	}
	for m := Truncated; m < numMalformations; m++ {
		if malformations[m] == 0 {
			t.Errorf("no %v record among %v", m, malformations)
		}
	}
}

func checkMalformed(t *testing.T, r Record) {
	t.Helper()
	switch r.Malformation {
	case Truncated:
		if json.Valid(r.Value) || len(r.Value) == 0 {
			t.Fatalf("truncated record is valid JSON: %s", r.Value)
		}
	case NotUTF8:
		if utf8.Valid(r.Value) || json.Valid(r.Value) {
			t.Fatalf("not-utf8 record is valid UTF-8 or JSON")
		}
	case Empty:
		if len(r.Value) != 0 {
			t.Fatalf("empty record has %d bytes", len(r.Value))
		}
	case Timeless:
		m := topLevel(t, r.Value)
		for _, key := range []string{"created_at", "timestamp_ms"} {
			if _, ok := m[key]; ok {
				t.Fatalf("timeless record has a top-level %s", key)
			}
		}
		if _, ok := m["user"]; !ok {
			t.Fatalf("timeless record is not shaped like a tweet: %s", r.Value)
		}
	default:
		t.Fatalf("malformed record without a malformation: %v", r.Malformation)
	}
}

func TestAverageSize(t *testing.T) {
	records, _ := generate(t, testConfig(5, 10_000))
	total := 0
	for _, r := range records {
		total += len(r.Value)
	}
	avg := total / len(records)
	if avg < 2200 || avg > 2900 {
		t.Fatalf("average record is %d bytes, want about 2.5 KB", avg)
	}
	t.Logf("average record: %d bytes", avg)
}

func TestConfigValidation(t *testing.T) {
	bad := []func(*Config){
		func(c *Config) { c.Tweets = -1 },
		func(c *Config) { c.PerMinute = 0 },
		func(c *Config) { c.LateFrac = 1.5 },
		func(c *Config) { c.NoticeFrac = math.NaN() },
		func(c *Config) { c.MaxLate = -time.Second },
		func(c *Config) { c.Start = time.Time{} },
	}
	for i, mutate := range bad {
		cfg := testConfig(1, 10)
		mutate(&cfg)
		if _, err := New(cfg); !errors.Is(err, ErrInvalidConfig) {
			t.Errorf("case %d: err = %v, want ErrInvalidConfig", i, err)
		}
	}
	if _, err := New(testConfig(1, 10)); err != nil {
		t.Fatalf("default config rejected: %v", err)
	}
}

func TestNoLateWithoutMaxLate(t *testing.T) {
	cfg := testConfig(9, 2000)
	cfg.MaxLate = 0
	records, g := generate(t, cfg)
	for _, r := range records {
		if r.Kind == KindTweet && !r.EventTime.Equal(r.StreamTime) {
			t.Fatalf("event %v differs from stream time %v with max-late 0", r.EventTime, r.StreamTime)
		}
	}
	if g.Emitted().Late != 0 {
		t.Fatalf("%d late tweets with max-late 0", g.Emitted().Late)
	}
}
