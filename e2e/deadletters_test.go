package e2e

import (
	"bufio"
	"bytes"
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"
)

// Dead letters end to end: the firehose's malformed records (and a few
// produced here: one over the size limit, ones with newlines) drained
// into mysql-sink with `dead_letters:` on must come back as dead-letter
// rows one for one — partition, offset, bytes — and through `kappa-runtime
// rejected --raw | kcat -P` into another topic, byte for byte.

const deadLetterPipeline = `version: 1
name: dead-letters
source:
  plugin: kafka-source
  config:
    brokers: ${KAPPA_BROKERS}
    topic: twitter
extractor:
  plugin: tweet-extractor
sink:
  plugin: mysql-sink
  env: [KAPPA_TEST_SINK_FAULTS]
  config:
    dsn: ${KAPPA_MYSQL_DSN}
    table: twitter
    dead_letters: kappa_dead_letters
    dead_letters_max_bytes: %d
batch:
  max_records: %d
`

// malformedRecord is one line of `kappa-dev tweets --malformed FILE`, or
// a record the test produced itself.
type malformedRecord struct {
	Partition    int32  `json:"partition"`
	Offset       int64  `json:"offset"`
	Malformation string `json:"malformation"`
	Value        []byte `json:"value"`
}

func readMalformed(t *testing.T, path string) []malformedRecord {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var out []malformedRecord
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 1<<20), 1<<24)
	for sc.Scan() {
		var m malformedRecord
		if err := json.Unmarshal(sc.Bytes(), &m); err != nil {
			t.Fatal(err)
		}
		out = append(out, m)
	}
	return out
}

// produceExtra writes values to partition 0 of topic and returns them
// with their offsets.
func produceExtra(t *testing.T, broker, topic string, values ...[]byte) []malformedRecord {
	t.Helper()
	client, err := kgo.NewClient(kgo.SeedBrokers(broker), kgo.DefaultProduceTopic(topic), kgo.RecordPartitioner(kgo.ManualPartitioner()))
	if err != nil {
		t.Fatal(err)
	}
	defer client.Close()
	var out []malformedRecord
	for _, v := range values {
		res := client.ProduceSync(context.Background(), &kgo.Record{Value: v, Partition: 0})
		r, err := res.First()
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, malformedRecord{Partition: r.Partition, Offset: r.Offset, Malformation: "test", Value: v})
	}
	return out
}

// createTopic makes a topic of one partition.
func createTopic(t *testing.T, broker, topic string) {
	t.Helper()
	client, err := kgo.NewClient(kgo.SeedBrokers(broker))
	if err != nil {
		t.Fatal(err)
	}
	defer client.Close()
	if _, err := kadm.NewClient(client).CreateTopic(context.Background(), 1, 1, nil, topic); err != nil {
		t.Fatalf("create topic %s: %v", topic, err)
	}
}

// consumeAll reads every record of topic's partition 0 up to its end.
func consumeAll(t *testing.T, broker, topic string, want int) [][]byte {
	t.Helper()
	client, err := kgo.NewClient(kgo.SeedBrokers(broker), kgo.ConsumePartitions(map[string]map[int32]kgo.Offset{topic: {0: kgo.NewOffset().AtStart()}}))
	if err != nil {
		t.Fatal(err)
	}
	defer client.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	var out [][]byte
	for len(out) < want {
		fs := client.PollFetches(ctx)
		if ctx.Err() != nil {
			t.Fatalf("read %d records of %s, want %d", len(out), topic, want)
		}
		fs.EachRecord(func(r *kgo.Record) { out = append(out, r.Value) })
	}
	return out
}

type deadLetterRow struct {
	partition int32
	offset    int64
	value     []byte
	length    int64
	truncated bool
	reason    string
}

func deadLetterRows(t *testing.T, db *sql.DB, dbName string) []deadLetterRow {
	t.Helper()
	rows, err := db.Query("SELECT partition_id, record_offset, value, value_length, truncated, reason FROM " + dbName +
		".kappa_dead_letters WHERE pipeline = 'dead-letters' ORDER BY partition_id, record_offset")
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	var out []deadLetterRow
	for rows.Next() {
		var r deadLetterRow
		if err := rows.Scan(&r.partition, &r.offset, &r.value, &r.length, &r.truncated, &r.reason); err != nil {
			t.Fatal(err)
		}
		out = append(out, r)
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	return out
}

// compareDeadLetters checks that the rows are the malformed records one
// for one: same positions, bytes identical up to maxBytes, and a record
// over it cut, flagged, with its full length.
func compareDeadLetters(t *testing.T, got []deadLetterRow, want []malformedRecord, maxBytes int) {
	t.Helper()
	slices.SortFunc(want, func(a, b malformedRecord) int {
		if a.Partition != b.Partition {
			return int(a.Partition - b.Partition)
		}
		return int(a.Offset - b.Offset)
	})
	if len(got) != len(want) {
		t.Errorf("%d dead letters, %d malformed records produced", len(got), len(want))
	}
	for i := range min(len(got), len(want)) {
		g, w := got[i], want[i]
		if g.partition != w.Partition || g.offset != w.Offset {
			t.Fatalf("dead letter %d at partition %d offset %d, malformed record (%s) at partition %d offset %d",
				i, g.partition, g.offset, w.Malformation, w.Partition, w.Offset)
		}
		over := len(w.Value) > maxBytes
		keep := w.Value[:min(len(w.Value), maxBytes)]
		if !bytes.Equal(g.value, keep) || g.length != int64(len(w.Value)) || g.truncated != over || g.reason == "" {
			t.Errorf("partition %d offset %d (%s): dead letter of %d bytes (length %d, truncated %v, reason %q), record of %d bytes",
				g.partition, g.offset, w.Malformation, len(g.value), g.length, g.truncated, g.reason, len(w.Value))
		}
	}
}

func TestDeadLettersAreTheMalformedRecordsAndReplayWithKcat(t *testing.T) {
	if _, err := exec.LookPath("kcat"); err != nil {
		t.Fatalf("kcat is not installed: run ./scripts/services (apt-get install kcat)")
	}
	const maxBytes = 8192
	broker := startBroker(t, "twitter", 4)
	dbName, db := database(t)
	env := twitterEnv(broker, dbName)
	pipelineFile := writePipeline(t, fmt.Sprintf(deadLetterPipeline, maxBytes, 50000))
	malformedFile := filepath.Join(t.TempDir(), "malformed.jsonl")
	summary, truth := runFirehose(t, broker, "twitter", "--count", "10000", "--malformed-frac", "0.02", "--malformed", malformedFile)
	want := readMalformed(t, malformedFile)
	if int64(len(want)) != summary.Malformed {
		t.Fatalf("the firehose listed %d malformed records, its summary says %d", len(want), summary.Malformed)
	}
	// Records the firehose does not make: one over the limit, and records
	// with newlines (one valid JSON without a time), which --raw must
	// leave out unless another delimiter is chosen.
	extra := produceExtra(t, broker, "twitter",
		bytes.Repeat([]byte("{\"x\":"), 4000),
		[]byte("not json\nat all"),
		[]byte("{\"text\":\"two\nlines\",\"id\":7}"))
	want = append(want, extra...)

	res := runRuntime(t, pipelineFile, env, "--drain")
	if res.err != nil {
		t.Fatalf("drain: %v\n%s", res.err, tail(res.stderr))
	}
	compareMinutes(t, perMinute(t, db, dbName, "twitter"), truth)
	got := deadLetterRows(t, db, dbName)
	compareDeadLetters(t, got, want, maxBytes)
	if res.rejected != int64(len(want)) {
		t.Errorf("the runtime rejected %d records, %d were malformed", res.rejected, len(want))
	}

	// The readable listing.
	code, out := runSubcommand(t, "rejected", pipelineFile, env, "--limit", "5")
	if code != 0 || !strings.Contains(out, "PARTITION") || !strings.Contains(out, "5 rejected records") {
		t.Errorf("rejected --limit 5: exit %d\n%s", code, out)
	}
	code, out = runSubcommand(t, "rejected", pipelineFile, env, "--partition", "0", "--reason", got[0].reason)
	if code != 0 || strings.Contains(out, "\n1  ") || strings.Contains(out, "\n2  ") {
		t.Errorf("rejected --partition 0 --reason %q listed other partitions: exit %d\n%s", got[0].reason, code, out)
	}

	// The replay: with newlines as delimiters, records holding one are
	// left out (and named), as are empty and truncated ones.
	for _, tc := range []struct {
		topic, delim string
		replayable   func(malformedRecord) bool
	}{
		{"replay", `\n`, func(m malformedRecord) bool { return !bytes.Contains(m.Value, []byte("\n")) }},
		{"replay-rs", `\x1e`, func(m malformedRecord) bool { return !bytes.Contains(m.Value, []byte("\x1e")) }},
	} {
		var expect [][]byte
		leftOut := 0
		for _, m := range want {
			if len(m.Value) > 0 && len(m.Value) <= maxBytes && tc.replayable(m) {
				expect = append(expect, m.Value)
			} else {
				leftOut++
			}
		}
		newlines := 0
		for _, v := range expect {
			newlines += bytes.Count(v, []byte("\n"))
		}
		if tc.delim == `\x1e` && newlines == 0 {
			t.Fatalf("no replayed record holds a newline: the path is not tested")
		}
		cmd := exec.Command(filepath.Join(bins(t), "kappa-runtime"), "rejected", "--raw", "--delimiter", tc.delim, pipelineFile)
		cmd.Env = append(os.Environ(), env...)
		var stderr bytes.Buffer
		cmd.Stderr = &stderr
		raw, err := cmd.Output()
		if code := exitCode(err); code != 4 || strings.Count(stderr.String(), "left out:") != leftOut {
			t.Fatalf("rejected --raw --delimiter %s: exit %d (want 4), %d left out named (want %d)\n%s", tc.delim, code,
				strings.Count(stderr.String(), "left out:"), leftOut, tail(stderr.String()))
		}
		createTopic(t, broker, tc.topic)
		kcat := exec.Command("kcat", "-b", broker, "-P", "-t", tc.topic, "-p", "0", "-D", tc.delim)
		kcat.Stdin = bytes.NewReader(raw)
		if out, err := kcat.CombinedOutput(); err != nil {
			t.Fatalf("kcat -P: %v\n%s", err, out)
		}
		replayed := consumeAll(t, broker, tc.topic, len(expect))
		if len(replayed) != len(expect) {
			t.Fatalf("%s: replayed %d records, want %d", tc.topic, len(replayed), len(expect))
		}
		for i := range expect {
			if !bytes.Equal(replayed[i], expect[i]) {
				t.Fatalf("%s: replayed record %d differs: %q, want %q", tc.topic, i, replayed[i], expect[i])
			}
		}
		t.Logf("%s (delimiter %s): %d records replayed byte for byte (%d newlines inside), %d left out", tc.topic, tc.delim, len(expect), newlines, leftOut)
	}
}

// kill -9 of the sink right before and right after COMMIT (the test hook
// of kappa_faults builds) and of the runtime mid-drain: a batch never
// lands without its dead letters, nor dead letters without their batch —
// each committed range's rejected count is exactly the dead letters inside
// it, and in the end they are the malformed records one for one.
func TestKilledCommitsKeepDeadLettersWithTheirBatch(t *testing.T) {
	const maxBytes = 65536
	broker := startBroker(t, "twitter", 4)
	dbName, db := database(t)
	env := twitterEnv(broker, dbName)
	pipelineFile := writePipeline(t, fmt.Sprintf(deadLetterPipeline, maxBytes, 150))

	faults := append(env, "KAPPA_TEST_SINK_FAULTS=before_commit=0.1,after_commit=0.1,seed=14")
	var want []malformedRecord
	truth := map[string]int64{}
	var before, after int
	// Rounds of producing and draining until the hook has killed the sink
	// both before and after a COMMIT.
	for round := 0; round < 3 && (before == 0 || after == 0); round++ {
		malformedFile := filepath.Join(t.TempDir(), "malformed.jsonl")
		_, roundTruth := runFirehose(t, broker, "twitter", "--count", "4000", "--malformed-frac", "0.04", "--malformed", malformedFile)
		want = append(want, readMalformed(t, malformedFile)...)
		for k, v := range roundTruth {
			truth[k] += v
		}
		var logs strings.Builder
		if round == 0 {
			// One kill -9 of the runtime while it drains.
			r := startRuntime(t, pipelineFile, faults, "--drain")
			waitFor(t, 60*time.Second, "a few commits", func() bool { return r.logCount("batch committed") >= 3 || r.exited() })
			if !r.exited() {
				r.kill9(t)
			}
			logs.WriteString(r.stderr.String())
		}
		// Drains until one ends: the sink may die five times in a row and stop one.
		for i := 0; ; i++ {
			res := runRuntime(t, pipelineFile, faults, "--drain")
			logs.WriteString(res.stderr)
			if res.err == nil {
				break
			}
			if i == 4 {
				t.Fatalf("drain %d: %v\n%s", i, res.err, tail(res.stderr))
			}
		}
		before += strings.Count(logs.String(), "test fault hook: SIGKILL before COMMIT")
		after += strings.Count(logs.String(), "test fault hook: SIGKILL after COMMIT")
	}
	if before == 0 || after == 0 {
		t.Fatalf("the sink's fault hook killed it %d times before COMMIT, %d times after: want both", before, after)
	}
	t.Logf("the sink was killed %d times before COMMIT, %d times after", before, after)

	// Every committed range: rejected = its dead letters.
	rows, err := db.Query("SELECT b.partition_id, b.start_offset, b.end_offset, b.rejected, " +
		"(SELECT COUNT(*) FROM " + dbName + ".kappa_dead_letters d WHERE d.pipeline = b.pipeline AND d.partition_id = b.partition_id " +
		"AND d.record_offset >= b.start_offset AND d.record_offset < b.end_offset) FROM " + dbName + ".kappa_batches b WHERE b.pipeline = 'dead-letters'")
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	var ranges, inRanges int64
	for rows.Next() {
		var p int32
		var start, end, rejected, dead int64
		if err := rows.Scan(&p, &start, &end, &rejected, &dead); err != nil {
			t.Fatal(err)
		}
		if rejected != dead {
			t.Errorf("partition %d [%d, %d): %d rejected, %d dead letters", p, start, end, rejected, dead)
		}
		ranges++
		inRanges += dead
	}
	got := deadLetterRows(t, db, dbName)
	if inRanges != int64(len(got)) {
		t.Errorf("%d dead letters lie in committed ranges, %d exist: some have no batch", inRanges, len(got))
	}
	t.Logf("%d committed ranges, %d dead letters", ranges, len(got))
	compareDeadLetters(t, got, want, maxBytes)
	compareMinutes(t, perMinute(t, db, dbName, "twitter"), truth)
}
