package e2e

import (
	"bytes"
	"context"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/kappa-stream/kappa/internal/testenv"
)

// The PostgreSQL sink end to end: the original job (pipelines/
// twitter-postgres.yaml) drained into PostgreSQL by real processes, checked
// with psql running the original query; and a chaos run against it.

// postgresDatabase creates a database for the test on the PostgreSQL of
// testenv.PostgresDSN, dropped when the test ends.
func postgresDatabase(t *testing.T) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	name, drop, err := testenv.CreatePostgresDatabase(ctx)
	if err != nil {
		t.Fatalf("%v (start it with ./scripts/services, or point %s at another server)", err, testenv.EnvPostgresDSN)
	}
	t.Cleanup(func() {
		if err := drop(); err != nil {
			t.Errorf("drop database %s: %v", name, err)
		}
	})
	return name
}

// originalQueryPsql is the 2016 job's query exactly, run by psql on the
// command line: per window, the summed count.
const originalQueryPsql = "SELECT timestamp, sum(count) FROM aggregates.twitter GROUP BY timestamp ORDER BY timestamp;"

// psqlPerMinute runs the original query with `psql -c` and returns its
// windows as "2006-01-02 15:04:05" → count, as perMinute does for MariaDB.
func psqlPerMinute(t *testing.T, database string) map[string]int64 {
	t.Helper()
	psql, err := exec.LookPath("psql")
	if err != nil {
		t.Fatalf("psql not found (./scripts/services installs postgresql): %v", err)
	}
	out, err := exec.Command(psql, testenv.PostgresDSN(database), "--no-psqlrc", "-v", "ON_ERROR_STOP=1",
		"--no-align", "--tuples-only", "--field-separator=|", "-c", originalQueryPsql).CombinedOutput()
	if err != nil {
		t.Fatalf("psql -c %q: %v\n%s", originalQueryPsql, err, out)
	}
	got := map[string]int64{}
	for _, line := range strings.Split(strings.TrimSpace(string(out)), "\n") {
		if line == "" {
			continue
		}
		ts, n, ok := strings.Cut(line, "|")
		count, err := strconv.ParseInt(n, 10, 64)
		if !ok || err != nil {
			t.Fatalf("psql printed %q", line)
		}
		got[ts] = count
	}
	return got
}

// psqlValue runs one query with psql and returns its only value.
func psqlValue(t *testing.T, database, query string) string {
	t.Helper()
	return sinkDB{name: database, postgres: true}.value(t, query)
}

func postgresEnv(broker, database string) []string {
	return []string{"KAPPA_BROKERS=" + broker, "KAPPA_POSTGRES_DSN=" + testenv.PostgresDSN(database)}
}

// TestTwitterPostgresMatchesGroundTruth is the acceptance run of the
// original job into PostgreSQL: 100k tweets over 8 partitions, 10% up to
// three hours late, with notices and malformed records, drained by real
// processes; then kcat-produced records with every codec. `psql -c` with
// the original query must equal the firehose's ground truth.
func TestTwitterPostgresMatchesGroundTruth(t *testing.T) {
	d := postgresDB(t)
	run := testTwitterMatchesGroundTruth(t, d, "20161130")
	// Compaction rolls every partition's batches up; the original query,
	// the audit and the dead letters stay as they were.
	rowsBefore := d.value(t, "SELECT count(*) FROM aggregates.twitter")
	if code, out := runSubcommand(t, "compact", run.pipelineFile, run.env, "--older-than", "0s"); code != 0 {
		t.Fatalf("kappa-runtime compact: exit %d\n%s", code, out)
	}
	rowsAfter := d.value(t, "SELECT count(*) FROM aggregates.twitter")
	t.Logf("compaction: %s rows before, %s after", rowsBefore, rowsAfter)
	if batches := d.value(t, "SELECT count(*) FROM aggregates.kappa_batches"); batches != "8" {
		t.Errorf("%s batch records after a full compaction, want one per partition", batches)
	}
	compareMinutes(t, d.perMinute(t), run.truth)
	if code, out := runAudit(t, run.pipelineFile, run.env); code != 0 || !strings.Contains(out, "audit clean") {
		t.Errorf("audit: exit %d\n%s", code, out)
	}
	// kcat wrote one "{not json" line per codec and partition.
	checkDeadLettersAreTheRejectedRecords(t, run.broker, d.name, run.summary.Malformed+5*8)
	// kappa-runtime rejected lists them through the sink.
	if code, out := runSubcommand(t, "rejected", run.pipelineFile, run.env, "--raw", "--partition", "3"); code != 0 && code != 4 || !strings.Contains(out, "{not json") {
		t.Errorf("kappa-runtime rejected --raw --partition 3: exit %d, want kcat's \"{not json\" among the records\n%s", code, tail(out))
	}
}

// checkDeadLettersAreTheRejectedRecords checks the dead-letter table of a
// drained pipeline against the topic: as many dead letters as malformed
// records were produced, as many as the batch records count rejected, and
// each one's bytes, length and Kafka timestamp those of the record at its
// partition and offset, read back from the broker.
func checkDeadLettersAreTheRejectedRecords(t *testing.T, broker, database string, malformed int64) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	conn, err := pgx.Connect(ctx, testenv.PostgresDSN(database))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(ctx)
	var rejected int64
	if err := conn.QueryRow(ctx, "SELECT COALESCE(sum(rejected), 0) FROM aggregates.kappa_batches").Scan(&rejected); err != nil {
		t.Fatal(err)
	}
	type letter struct {
		value     []byte
		length    int64
		truncated bool
		at        *time.Time
	}
	letters := map[kgo.EpochOffset]map[int32]letter{} // by offset, then partition
	rows, err := conn.Query(ctx, "SELECT partition_id, record_offset, value, value_length, truncated, record_time FROM aggregates.kappa_dead_letters")
	if err != nil {
		t.Fatal(err)
	}
	var n int64
	var p int32
	var o int64
	var l letter
	if _, err := pgx.ForEachRow(rows, []any{&p, &o, &l.value, &l.length, &l.truncated, &l.at}, func() error {
		k := kgo.EpochOffset{Offset: o}
		if letters[k] == nil {
			letters[k] = map[int32]letter{}
		}
		letters[k][p] = l
		n++
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	if n != malformed || rejected != malformed {
		t.Fatalf("%d dead letters and %d rejected in the batch records; %d malformed records were produced", n, rejected, malformed)
	}

	// Read every record back and find each dead letter's.
	cl, err := kgo.NewClient(kgo.SeedBrokers(broker), kgo.ConsumeTopics("twitter"), kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	ends, err := kadm.NewClient(cl).ListEndOffsets(ctx, "twitter")
	if err != nil {
		t.Fatal(err)
	}
	left := map[int32]int64{}
	ends.Each(func(e kadm.ListedOffset) {
		if e.Offset > 0 {
			left[e.Partition] = e.Offset
		}
	})
	matched := int64(0)
	for len(left) > 0 {
		fetches := cl.PollFetches(ctx)
		if err := fetches.Err0(); err != nil {
			t.Fatalf("read the topic back: %v", err)
		}
		fetches.EachRecord(func(r *kgo.Record) {
			if r.Offset+1 >= left[r.Partition] {
				delete(left, r.Partition)
			}
			d, ok := letters[kgo.EpochOffset{Offset: r.Offset}][r.Partition]
			if !ok {
				return
			}
			matched++
			if !bytes.Equal(d.value, r.Value) || d.length != int64(len(r.Value)) || d.truncated ||
				d.at == nil || !d.at.Equal(r.Timestamp.UTC().Truncate(time.Millisecond)) {
				t.Errorf("dead letter of partition %d offset %d: %q (length %d, truncated %v, time %v); the record: %q at %v",
					r.Partition, r.Offset, d.value, d.length, d.truncated, d.at, r.Value, r.Timestamp.UTC())
			}
		})
	}
	if matched != n {
		t.Errorf("%d of %d dead letters lie at a record of the topic", matched, n)
	}
}

// TestPostgresChaos kills, while the firehose produces, the runtime and
// each plugin with SIGKILL at random instants, and the sink right before
// and right after COMMIT (its kappa_faults hook); the full run
// (KAPPA_CHAOS_FULL=1, `make chaos`) also restarts PostgreSQL under a
// running runtime. A drain must then make `psql -c` with the original
// query equal the ground truth, the audit must be clean, and the dead
// letters must be exactly the malformed records.
// KAPPA_CHAOS_SEED=N replays a schedule.
func TestPostgresChaos(t *testing.T) {
	full := os.Getenv("KAPPA_CHAOS_FULL") != ""
	records, runtimeKills := 20_000, 4
	if full {
		records, runtimeKills = 100_000, 20
	}
	c := newChaosRun(t, postgresDB(t), 0x7067)
	c.produce(records, 5000)
	restarted := !full
	rt := c.start()
	for c.kills["runtime"] < runtimeKills || c.result == nil {
		c.next(rt)
		switch action := c.rng.IntN(10); {
		case action < 6:
			rt = c.killRuntime(rt)
		default:
			c.killPlugin(rt)
		}
		if !restarted && c.kills["runtime"] >= runtimeKills/2 {
			waitFor(t, 60*time.Second, "the runtime to be running", func() bool {
				return rt.logCount("resumed at committed positions") > 0
			})
			restartPostgres(t, 3*time.Second)
			c.kills["postgresql restart"]++
			restarted = true
		}
	}
	c.finish(rt)
	// Dead letters travel in the batch's transaction: after kills around
	// COMMIT there is still exactly one per malformed record, none without
	// its batch record and no batch record without its dead letters.
	checkDeadLettersAreTheRejectedRecords(t, c.broker, c.d.name, c.result.summary.Malformed)
	c.tally()
}

// restartPostgres stops this machine's cluster with pg_ctlcluster (as
// scripts/services starts it), keeps it down for down and starts it again;
// whatever happens, it runs again when the test ends. Only for tests gated
// by KAPPA_CHAOS_FULL=1: other packages' tests use the server.
func restartPostgres(t *testing.T, down time.Duration) {
	t.Helper()
	t.Cleanup(func() { startPostgres(t) })
	out, err := exec.Command("sh", "-c", `pg_ctlcluster --skip-systemctl-redirect "$(ls /etc/postgresql | sort -V | tail -n 1)" main stop -m fast`).CombinedOutput()
	if err != nil {
		t.Fatalf("stop PostgreSQL: %v\n%s", err, out)
	}
	time.Sleep(down) // the outage itself, not a wait for anything
	startPostgres(t)
}

func startPostgres(t *testing.T) {
	if exec.Command("pg_isready", "-q", "-h", "127.0.0.1", "-p", "5432").Run() == nil {
		return
	}
	cmd := exec.Command(filepath.Join(repoRoot(), "scripts", "services"))
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Errorf("scripts/services: %v\n%s", err, out)
	}
	waitFor(t, 60*time.Second, "PostgreSQL to accept connections", func() bool {
		return exec.Command("pg_isready", "-q", "-h", "127.0.0.1", "-p", "5432").Run() == nil
	})
}

// TestPostgresRejectsANULDimension: PostgreSQL text cannot hold a NUL, so
// postgres-sink publishes FactLimits.NoNUL and a record whose dimension
// holds one is a rejected record (with its dead letter), not a commit that
// fails for ever; its neighbours are counted. The stock tweet extractor
// rejects control characters itself, so the example hashtag extractor,
// which passes any hashtag through, makes the facts.
func TestPostgresRejectsANULDimension(t *testing.T) {
	broker := startBroker(t, "twitter", 1)
	dbName := postgresDatabase(t)
	hashtag := func(tag string) string {
		text, err := json.Marshal(tag)
		if err != nil {
			t.Fatal(err)
		}
		return `{"timestamp_ms":"1464809760000","entities":{"hashtags":[{"text":` + string(text) + `}]}}`
	}
	kcatProduce(t, broker, "twitter", 0, []string{hashtag("go"), hashtag("g\x00o"), hashtag("pg")})
	original, err := os.ReadFile(filepath.Join(repoRoot(), "pipelines", "twitter-postgres.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	text := strings.Replace(string(original), "    table: twitter\n", "    table: twitter_by_hashtag\n", 1)
	text = strings.Replace(text, "plugin: tweet-extractor", "plugin: hashtag-extractor", 1) + "dimensions: [hashtag]\n"
	pipelineFile := writePipeline(t, text)
	res := runRuntime(t, pipelineFile, postgresEnv(broker, dbName), "--drain")
	if res.err != nil {
		t.Fatalf("drain: %v\n%s", res.err, tail(res.stderr))
	}
	if res.facts != 2 || res.rejected != 1 {
		t.Errorf("counted %d facts and %d rejected, want 2 and 1", res.facts, res.rejected)
	}
	if got := psqlValue(t, dbName, "SELECT string_agg(hashtag || '=' || count, ',' ORDER BY hashtag) FROM aggregates.twitter_by_hashtag"); got != "go=1,pg=1" {
		t.Errorf("rows %q, want go=1,pg=1", got)
	}
	if got := psqlValue(t, dbName, "SELECT record_offset || ' ' || reason FROM aggregates.kappa_dead_letters"); !strings.HasPrefix(got, "1 ") || !strings.Contains(got, "NUL") {
		t.Errorf("dead letter %q, want offset 1 rejected for its NUL", got)
	}
}
