package e2e

import (
	"bufio"
	"database/sql"
	"encoding/json"
	"fmt"
	"maps"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// kcatProduce writes each of values as one record to partition p of topic
// with kcat, an independent client: one value per line, so a value holds
// no newline. extra are further kcat flags.
func kcatProduce(t *testing.T, broker, topic string, p int, values []string, extra ...string) {
	t.Helper()
	kcat, err := exec.LookPath("kcat")
	if err != nil {
		t.Fatalf("kcat not found (apt-get install -y kcat, or ./scripts/services): %v", err)
	}
	var in strings.Builder
	for _, v := range values {
		if strings.Contains(v, "\n") {
			t.Fatalf("value %.40q holds a newline", v)
		}
		in.WriteString(v + "\n")
	}
	args := append([]string{"-b", broker, "-P", "-t", topic, "-p", fmt.Sprint(p)}, extra...)
	cmd := exec.Command(kcat, args...)
	cmd.Stdin = strings.NewReader(in.String())
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("kcat %v: %v\n%s", args, err, out)
	}
}

// rejectionReasons sums the rejection reasons of every "batch committed"
// line a runtime logged.
func rejectionReasons(t *testing.T, stderr string) map[string]int {
	t.Helper()
	reasons := map[string]int{}
	sc := bufio.NewScanner(strings.NewReader(stderr))
	sc.Buffer(make([]byte, 1<<20), 16<<20)
	for sc.Scan() {
		var line struct {
			Msg     string
			Reasons map[string]int
		}
		if json.Unmarshal(sc.Bytes(), &line) == nil && line.Msg == "batch committed" {
			for r, n := range line.Reasons {
				reasons[r] += n
			}
		}
	}
	if err := sc.Err(); err != nil {
		t.Fatalf("read the runtime's log: %v", err)
	}
	return reasons
}

// batchCounters sums kappa_batches' counters of a database.
func batchCounters(t *testing.T, db *sql.DB, dbName string) (records, facts, skipped, rejected int64) {
	t.Helper()
	err := db.QueryRow(fmt.Sprintf("SELECT COALESCE(SUM(records),0), COALESCE(SUM(facts),0), COALESCE(SUM(skipped),0), COALESCE(SUM(rejected),0) FROM %s.kappa_batches", dbName)).
		Scan(&records, &facts, &skipped, &rejected)
	if err != nil {
		t.Fatal(err)
	}
	return records, facts, skipped, rejected
}

// tweetJSON is a v1.1 tweet at ts with lang and source, padded with text.
func tweetJSON(id int, ts time.Time, lang, source, text string) string {
	return fmt.Sprintf(`{"created_at":%q,"id":%d,"id_str":"%d","text":%s,"source":%s,"lang":%s,"timestamp_ms":"%d"}`,
		ts.Format("Mon Jan 02 15:04:05 -0700 2006"), id, id, jsonString(text), jsonString(source), jsonString(lang), ts.UnixMilli())
}

func jsonString(s string) string {
	b, _ := json.Marshal(s)
	return string(b)
}

// TestOneUnstorableValueIsARejectedRecord is issue 9's reproduction: one
// record whose lang is 300 characters, among the firehose's tweets, in
// pipelines/twitter-by-lang.yaml. It used to fail every commit (468 in
// 40 s, no row, no exit); now it is one rejected record with its reason,
// and every (minute, lang) equals the ground truth.
func TestOneUnstorableValueIsARejectedRecord(t *testing.T) {
	broker := startBroker(t, "twitter", 4)
	langTruthFile := filepath.Join(t.TempDir(), "truth-lang.csv")
	summary, _ := runFirehose(t, broker, "twitter", "--count", "3000", "--seed", "20160603", "--truth-lang", langTruthFile)
	langTruth := readTruth(t, langTruthFile)
	long := strings.Repeat("x", 300)
	kcatProduce(t, broker, "twitter", 1, []string{tweetJSON(1, time.Date(2016, 6, 1, 19, 36, 0, 0, time.UTC), long, "web", "too long a lang")})

	dbName, db := database(t)
	env := twitterEnv(broker, dbName)
	res := runRuntime(t, filepath.Join(repoRoot(), "pipelines", "twitter-by-lang.yaml"), env, "--drain")
	if res.err != nil {
		t.Fatalf("kappa-runtime --drain: %v\n%s", res.err, tail(res.stderr))
	}
	reason := "dimension lang: 300 characters, the sink stores at most 191"
	if n := rejectionReasons(t, res.stderr)[reason]; n != 1 {
		t.Errorf("%d records rejected with %q, want 1\n%s", n, reason, tail(res.stderr))
	}
	if res.facts != summary.Tweets || res.rejected != summary.Malformed+1 {
		t.Errorf("runtime counted %d facts and %d rejected, want %d and %d", res.facts, res.rejected, summary.Tweets, summary.Malformed+1)
	}
	if _, _, _, rejected := batchCounters(t, db, dbName); rejected != summary.Malformed+1 {
		t.Errorf("kappa_batches holds %d rejected, want %d", rejected, summary.Malformed+1)
	}
	compareMinutes(t, perMinuteLang(t, db, dbName, "twitter_by_lang"), langTruth)
}

// perMinuteLang sums a table's counts per "minute,lang".
func perMinuteLang(t *testing.T, db *sql.DB, dbName, table string) map[string]int64 {
	t.Helper()
	rows, err := db.Query(fmt.Sprintf("SELECT timestamp, lang, SUM(count) FROM %s.%s GROUP BY timestamp, lang", dbName, table))
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	got := map[string]int64{}
	for rows.Next() {
		var ts, lang string
		var n int64
		if err := rows.Scan(&ts, &lang, &n); err != nil {
			t.Fatal(err)
		}
		got[ts+","+lang] += n
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	return got
}

const hostilePipeline = `version: 1
name: hostile
source:
  plugin: kafka-source
  config:
    brokers: ${KAPPA_BROKERS}
    topic: twitter
extractor:
  plugin: tweet-extractor
sink:
  plugin: mysql-sink
  config:
    dsn: ${KAPPA_MYSQL_DSN}
    table: hostile
window: 1m
dimensions: [lang, source]
batch:
  interval: 200ms
  max_bytes: 1KiB
`

// TestHostileInput is issue 9's acceptance test: among ordinary tweets,
// written with kcat, records with a 10 KB source, a lang holding a NUL,
// invalid UTF-8 inside a string, event times in the years 1500 and 3000,
// a lang ending in a space, and two records of 3 MiB (one a valid tweet,
// one not) in batches of at most 1 KiB, in a pipeline with dimensions
// [lang, source]. The drain must exit 0, count every hostile record that
// holds no storable fact as rejected with its reason, and every
// (minute, lang, source) must equal the truth.
func TestHostileInput(t *testing.T) {
	const threeMiB = 3 << 20
	broker := startBroker(t, "twitter", 2, "--max-message-bytes", fmt.Sprint(8<<20))
	base := time.Date(2016, 6, 1, 19, 36, 0, 0, time.UTC)
	langs := []string{"en", "fr", "ja"}
	sources := []string{`<a href="http://twitter.com/download/iphone" rel="nofollow">Twitter for iPhone</a>`, "web"}
	sourceNames := []string{"Twitter for iPhone", "web"}
	truth := map[string]int64{} // "minute,lang,source"
	tweet := func(id int, ts time.Time, lang string, source int, text string) string {
		truth[ts.Truncate(time.Minute).Format(time.DateTime)+","+lang+","+sourceNames[source]]++
		return tweetJSON(id, ts, lang, sources[source], text)
	}
	var parts [2][]string
	id := 0
	for i := range 120 {
		id++
		ts := base.Add(time.Duration(i*17) * time.Second)
		parts[i%2] = append(parts[i%2], tweet(id, ts, langs[i%3], i%2, fmt.Sprintf("ordinary tweet %d é😀", i)))
	}
	// The hostile records, spread among the ordinary ones of partition 0.
	long := strings.Repeat("é", 10<<10/2) // 10 KB, 5,120 characters
	hostile := []string{
		tweetJSON(1001, base, "en", `<a href="http://x" rel="nofollow">`+long+`</a>`, "a 10 KB source"),
		tweetJSON(1002, base.Add(time.Minute), "e\x00n", "web", "a NUL inside lang"),
		strings.Replace(tweetJSON(1003, base, "en", "web", "invalid XX UTF-8"), "XX", "\xff\xfe", 1),
		fmt.Sprintf(`{"created_at":"Mon Jan 01 00:00:00 +0000 1500","id":1004,"text":"year 1500","lang":"en","source":"web"}`),
		tweetJSON(1005, time.Date(3000, 1, 1, 0, 0, 0, 0, time.UTC), "en", "web", "year 3000"),
		tweetJSON(1006, base, "en ", "web", "lang ends in a space"),
		tweet(1007, base.Add(2*time.Minute), "fr", 0, strings.Repeat("a", threeMiB)),
		`{"created_at":` + strings.Repeat("x", threeMiB) + `}`,
	}
	if len(hostile[0]) < 10<<10 || len(hostile[6]) < threeMiB || len(hostile[7]) < threeMiB {
		t.Fatal("the hostile records are not as large as intended")
	}
	var p0 []string
	for i, v := range parts[0] {
		p0 = append(p0, v)
		if i%7 == 3 && len(hostile) > 0 {
			p0, hostile = append(p0, hostile[0]), hostile[1:]
		}
	}
	p0 = append(p0, hostile...)
	// librdkafka's own limit is 1,000,000 bytes by default.
	kcatProduce(t, broker, "twitter", 0, p0, "-X", fmt.Sprint("message.max.bytes=", 8<<20))
	kcatProduce(t, broker, "twitter", 1, parts[1])

	dir := t.TempDir()
	file := filepath.Join(dir, "hostile.yaml")
	if err := os.WriteFile(file, []byte(hostilePipeline), 0o644); err != nil {
		t.Fatal(err)
	}
	dbName, db := database(t)
	env := twitterEnv(broker, dbName)
	res := runRuntime(t, file, env, "--drain")
	if res.err != nil {
		t.Fatalf("kappa-runtime --drain: %v\n%s", res.err, tail(res.stderr))
	}

	wantReasons := map[string]int{
		"dimension source: 5120 characters, the sink stores at most 191": 1,
		"not utf-8":               1,
		"malformed json":          1, // the 3 MiB record that is no JSON
		"event time out of range": 2, // the tweet extractor's own range, 2006–2100
		"dimension lang: ends in a space, which the sink does not tell apart from the value without it": 1,
		"lang has a control character": 1,
	}
	if got := rejectionReasons(t, res.stderr); !maps.Equal(got, wantReasons) {
		t.Errorf("rejection reasons %v, want %v", got, wantReasons)
	}
	records, facts, skipped, rejected := batchCounters(t, db, dbName)
	// 120 ordinary tweets and 8 hostile records, of which the valid 3 MiB
	// tweet is a fact.
	if records != 128 || facts != 121 || skipped != 0 || rejected != 7 {
		t.Errorf("kappa_batches: %d records, %d facts, %d skipped, %d rejected; want 128, 121, 0, 7", records, facts, skipped, rejected)
	}
	if res.records != records || res.facts != facts || res.rejected != rejected {
		t.Errorf("the runtime's totals (%d records, %d facts, %d rejected) differ from kappa_batches", res.records, res.facts, res.rejected)
	}

	rows, err := db.Query(fmt.Sprintf("SELECT timestamp, lang, source, SUM(count) FROM %s.hostile GROUP BY timestamp, lang, source", dbName))
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	got := map[string]int64{}
	for rows.Next() {
		var ts, lang, source string
		var n int64
		if err := rows.Scan(&ts, &lang, &source, &n); err != nil {
			t.Fatal(err)
		}
		got[ts+","+lang+","+source] += n
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	compareMinutes(t, got, truth)
	if code, out := runAudit(t, file, env); code != 0 || !strings.Contains(out, "audit clean") {
		t.Errorf("audit after the hostile drain: exit %d\n%s", code, out)
	}
}
