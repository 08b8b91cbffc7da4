package e2e

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/kappa-stream/kappa/internal/firehose"

	"github.com/kappa-stream/kappa/internal/testenv"
)

// The examples run as a user runs them: built beside kappa-runtime, named
// by their bare names in the pipeline files under examples/ (bins builds
// them with the rest).

func examplePipeline(name string) string {
	return filepath.Join(repoRoot(), "examples", name, "pipeline.yaml")
}

// generate returns a seeded firehose's records (values copied) and the
// generator, whose Truth holds the per-minute ground truth.
func generate(t *testing.T, tweets int, seed uint64) ([]firehose.Record, *firehose.Generator) {
	t.Helper()
	cfg := firehose.DefaultConfig(time.Date(2026, 11, 27, 12, 0, 0, 0, time.UTC))
	cfg.Tweets, cfg.Seed = tweets, seed
	gen, err := firehose.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	var recs []firehose.Record
	var buf []byte
	for {
		r, ok := gen.Next(buf)
		if !ok {
			return recs, gen
		}
		buf = r.Value
		r.Value = append([]byte(nil), r.Value...)
		recs = append(recs, r)
	}
}

func minuteTruth(g *firehose.Generator) map[string]int64 {
	truth := map[string]int64{}
	for _, m := range g.Truth().Minutes() {
		truth[m.Minute.Format(time.DateTime)] += m.Count
	}
	return truth
}

// TestHashtagExtractorExample: tweets counted per (minute, hashtag) by the
// example extractor between the stock Kafka source and MySQL sink equal
// an independent count: the firehose's event times and encoding/json's
// reading of each tweet's hashtags.
func TestHashtagExtractorExample(t *testing.T) {
	bins(t)
	broker := startBroker(t, "twitter", 4)
	recs, _ := generate(t, 20000, 7)
	truth, reach := map[string]int64{}, map[string]int64{}
	for _, r := range recs {
		if r.Kind != firehose.KindTweet {
			continue
		}
		var tw struct {
			User struct {
				Followers int64 `json:"followers_count"`
			}
			Entities struct{ Hashtags []struct{ Text string } }
		}
		if err := json.Unmarshal(r.Value, &tw); err != nil {
			t.Fatal(err)
		}
		seen := map[string]bool{}
		for _, h := range tw.Entities.Hashtags {
			tag := strings.ToLower(h.Text)
			if !seen[tag] {
				seen[tag] = true
				cell := r.EventTime.Truncate(time.Minute).Format(time.DateTime) + "," + tag
				truth[cell]++
				reach[cell] += tw.User.Followers
			}
		}
	}
	if len(truth) < 100 {
		t.Fatalf("only %d (minute, hashtag) cells; the firehose should make many", len(truth))
	}
	produceRecords(t, broker, "twitter", recs)

	dbName, db := database(t)
	env := twitterEnv(broker, dbName)
	res := runRuntime(t, examplePipeline("hashtag-extractor"), env, "--drain")
	if res.err != nil {
		t.Fatalf("kappa-runtime --drain: %v\n%s", res.err, tail(res.stderr))
	}
	rows, err := db.Query(fmt.Sprintf("SELECT timestamp, hashtag, SUM(count), SUM(sum) FROM %s.twitter_by_hashtag GROUP BY timestamp, hashtag", dbName))
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	got, gotReach := map[string]int64{}, map[string]int64{}
	for rows.Next() {
		var ts, tag string
		var n int64
		var sum float64
		if err := rows.Scan(&ts, &tag, &n, &sum); err != nil {
			t.Fatal(err)
		}
		got[ts+","+tag] = n
		gotReach[ts+","+tag] = int64(sum)
	}
	compareMinutes(t, got, truth)
	compareMinutes(t, gotReach, reach)
	if sum(reach) == 0 {
		t.Error("the firehose's authors have no followers; the sum column is not exercised")
	}
	t.Logf("%d (minute, hashtag) cells from %d facts match", len(truth), res.facts)
}

func produceRecords(t *testing.T, broker, topic string, recs []firehose.Record) {
	t.Helper()
	cl, err := kgo.NewClient(append(firehose.ProducerOpts(topic), kgo.SeedBrokers(broker))...)
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	batch := make([]*kgo.Record, len(recs))
	for i, r := range recs {
		batch[i] = &kgo.Record{Value: r.Value}
	}
	if err := cl.ProduceSync(ctx, batch...).FirstErr(); err != nil {
		t.Fatalf("produce: %v", err)
	}
}

// TestJSONLSourceExample: tweets read from two JSON-lines files by the
// example source are counted exactly once although the first run is
// killed with SIGKILL mid-stream, lines are appended afterwards and the
// last line is only half written when the drain starts.
func TestJSONLSourceExample(t *testing.T) {
	bin := bins(t)
	recs, gen := generate(t, 30000, 11)
	truth := minuteTruth(gen)
	dir := t.TempDir()
	files := [2]*os.File{}
	for i := range files {
		f, err := os.Create(filepath.Join(dir, fmt.Sprintf("tweets-%d.jsonl", i)))
		if err != nil {
			t.Fatal(err)
		}
		defer f.Close()
		files[i] = f
	}
	write := func(from, to int) {
		for i := from; i < to; i++ {
			if _, err := files[i%2].Write(append(recs[i].Value, '\n')); err != nil {
				t.Fatal(err)
			}
		}
	}
	write(0, len(recs)*2/3)

	dbName, db := database(t)
	env := append(os.Environ(), "KAPPA_JSONL_DIR="+dir, "KAPPA_MYSQL_DSN="+testenv.MySQLDSN(dbName))
	// A run without --drain, killed while it commits batches.
	cmd := exec.Command(filepath.Join(bin, "kappa-runtime"), "--log-json", examplePipeline("jsonl-source"))
	cmd.Env = env
	stderr, err := cmd.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	// Killed at a random instant after its first commit (the pipeline's
	// batches hold 5000 lines): mid-stream, maybe mid-commit.
	started := make(chan struct{})
	go func(committed chan struct{}) {
		sc := bufio.NewScanner(stderr)
		sc.Buffer(nil, 1<<20)
		for sc.Scan() {
			if strings.Contains(sc.Text(), `"batch committed"`) && committed != nil {
				close(committed)
				committed = nil
			}
		}
	}(started)
	select {
	case <-started:
		time.Sleep(time.Duration(rand.IntN(100)) * time.Millisecond)
	case <-time.After(30 * time.Second):
		t.Error("kappa-runtime committed no batch within 30s")
	}
	cmd.Process.Signal(syscall.SIGKILL)
	cmd.Wait()
	var before int64
	db.QueryRow(fmt.Sprintf("SELECT COALESCE(SUM(count), 0) FROM %s.tweets_from_files", dbName)).Scan(&before)
	t.Logf("killed after committing %d tweets", before)

	write(len(recs)*2/3, len(recs)-1)
	last := recs[len(recs)-1].Value
	files[(len(recs)-1)%2].Write(last[:len(last)/2]) // still being written
	res := runRuntime(t, examplePipeline("jsonl-source"), []string{"KAPPA_JSONL_DIR=" + dir, "KAPPA_MYSQL_DSN=" + testenv.MySQLDSN(dbName)}, "--drain")
	if res.err != nil {
		t.Fatalf("kappa-runtime --drain: %v\n%s", res.err, tail(res.stderr))
	}
	files[(len(recs)-1)%2].Write(append(last[len(last)/2:], '\n'))
	res = runRuntime(t, examplePipeline("jsonl-source"), []string{"KAPPA_JSONL_DIR=" + dir, "KAPPA_MYSQL_DSN=" + testenv.MySQLDSN(dbName)}, "--drain")
	if res.err != nil {
		t.Fatalf("second kappa-runtime --drain: %v\n%s", res.err, tail(res.stderr))
	}
	if res.records != 1 {
		t.Errorf("the drain after the last line was finished read %d records, want 1", res.records)
	}
	compareMinutes(t, perMinute(t, db, dbName, "tweets_from_files"), truth)
	var lines int64
	db.QueryRow(fmt.Sprintf("SELECT SUM(next_offset) FROM %s.kappa_offsets WHERE pipeline = 'tweets-from-files'", dbName)).Scan(&lines)
	if lines != int64(len(recs)) {
		t.Errorf("positions add up to %d lines, the files hold %d", lines, len(recs))
	}
}

// TestCSVSinkExample: the original pipeline with the example CSV sink
// swapped in; per-minute sums of the CSV file equal the ground truth, and a
// second drain adds nothing.
func TestCSVSinkExample(t *testing.T) {
	bins(t)
	broker := startBroker(t, "twitter", 4)
	_, truth := runFirehose(t, broker, "twitter", "--count", "20000", "--seed", "5")
	dir := t.TempDir()
	env := []string{"KAPPA_BROKERS=" + broker, "KAPPA_CSV_DIR=" + dir}
	for run := 1; run <= 2; run++ {
		res := runRuntime(t, examplePipeline("csv-sink"), env, "--drain")
		if res.err != nil {
			t.Fatalf("run %d: kappa-runtime --drain: %v\n%s", run, res.err, tail(res.stderr))
		}
		if run == 2 && res.records != 0 {
			t.Errorf("second drain read %d records, want 0", res.records)
		}
	}
	rows := readCSV(t, filepath.Join(dir, "twitter.csv"))
	if strings.Join(rows[0], ",") != "partition_id,start_offset,end_offset,timestamp,count" {
		t.Errorf("header %v", rows[0])
	}
	got := map[string]int64{}
	for _, r := range rows[1:] {
		n, err := strconv.ParseInt(r[4], 10, 64)
		if err != nil {
			t.Fatal(err)
		}
		got[r[3]] += n
	}
	compareMinutes(t, got, truth)
}
