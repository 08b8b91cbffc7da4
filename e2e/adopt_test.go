package e2e

import (
	"database/sql"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/kappa-stream/kappa/internal/firehose"
)

// sparkJobDDL are the 2016 job's MYSQL file's statements: a latin1
// database and its table in the widths that MySQL 5 printed.
const sparkJobDDL = `CREATE DATABASE %[1]s CHARACTER SET latin1 COLLATE latin1_bin;
CREATE TABLE %[1]s.twitter (
  start_offset bigint(8) NOT NULL,
  end_offset bigint(8) NOT NULL,
  timestamp datetime NOT NULL,
  partition_id int(11) NOT NULL,
  count int(11) NOT NULL,
  PRIMARY KEY (start_offset, end_offset, timestamp, partition_id)
) DEFAULT CHARSET=latin1 COLLATE=latin1_bin`

// createSparkTable runs sparkJobDDL for dbName.
func createSparkTable(t *testing.T, db *sql.DB, dbName string) {
	t.Helper()
	for _, stmt := range strings.Split(fmt.Sprintf(sparkJobDDL, dbName), ";\n") {
		if _, err := db.Exec(stmt); err != nil {
			t.Fatalf("%s: %v", stmt, err)
		}
	}
}

// runSparkJob does what the 2016 job did on an empty table: it reads
// partition 0 only, from offset 0 to its end, in batches of batchSize
// records, and writes per batch one row per minute carrying the batch's
// range (its JVM ran in UTC here, so its minutes are Kappa's). It returns
// the minutes it counted.
func runSparkJob(t *testing.T, broker string, db *sql.DB, dbName string, batchSize int) map[string]int64 {
	t.Helper()
	out, err := exec.Command("kcat", "-b", broker, "-C", "-t", "twitter", "-p", "0", "-o", "beginning", "-e", "-q", "-f", "%o %s\n").Output()
	if err != nil {
		t.Fatalf("kcat -C: %v", err)
	}
	type record struct {
		offset int64
		minute string
	}
	var records []record
	for _, line := range strings.Split(strings.TrimSpace(string(out)), "\n") {
		offset, value, _ := strings.Cut(line, " ")
		o, err := strconv.ParseInt(offset, 10, 64)
		if err != nil {
			t.Fatalf("kcat line %q: %v", line, err)
		}
		i := strings.Index(value, `"timestamp_ms":"`)
		if i < 0 {
			t.Fatalf("record at offset %d has no timestamp_ms: %s", o, value)
		}
		ms, err := strconv.ParseInt(strings.TrimSuffix(value[i+len(`"timestamp_ms":"`):], `"}`), 10, 64)
		if err != nil {
			t.Fatalf("record at offset %d: %v", o, err)
		}
		records = append(records, record{o, time.UnixMilli(ms).UTC().Truncate(time.Minute).Format(firehose.MinuteLayout)})
	}
	counted := map[string]int64{}
	for i := 0; i < len(records); i += batchSize {
		batch := records[i:min(i+batchSize, len(records))]
		start, end := batch[0].offset, batch[len(batch)-1].offset+1
		perMinute := map[string]int64{}
		for _, r := range batch {
			perMinute[r.minute]++
			counted[r.minute]++
		}
		for minute, n := range perMinute {
			_, err := db.Exec(fmt.Sprintf("INSERT INTO %s.twitter (start_offset, end_offset, timestamp, partition_id, count) VALUES (?, ?, ?, 0, ?)", dbName),
				start, end, minute, n)
			if err != nil {
				t.Fatal(err)
			}
		}
	}
	return counted
}

// runAdopt runs `kappa-runtime adopt` and returns its exit code and output.
func runAdopt(t *testing.T, pipelineFile string, env []string, args ...string) (int, string) {
	t.Helper()
	return runSubcommand(t, "adopt", pipelineFile, env, args...)
}

// positionsOf lists the committed positions as "partition:next_offset:stream_id".
func positionsOf(t *testing.T, db *sql.DB, dbName string) []string {
	t.Helper()
	rows, err := db.Query(fmt.Sprintf("SELECT partition_id, next_offset, stream_id FROM %s.kappa_offsets ORDER BY partition_id", dbName))
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	var got []string
	for rows.Next() {
		var p, next int64
		var id string
		if err := rows.Scan(&p, &next, &id); err != nil {
			t.Fatal(err)
		}
		got = append(got, fmt.Sprintf("%d:%d:%s", p, next, id))
	}
	return got
}

// The way from the 2016 job to Kappa: the job counted the first part of
// the topic into the table its MYSQL file made (partition 0 only, one
// range per batch, rows per minute); the rest of the topic is written
// afterwards across all partitions. adopt shows what it found, records it
// with --yes, and a drain then counts only what the job had not: the
// original query equals the ground truth of the whole topic. The audit
// says which range is adopted, compaction leaves it alone, and a second
// adopt refuses.
func TestAdoptTakesOverTheSparkJobsTable(t *testing.T) {
	broker := startBroker(t, "twitter", 4)
	dbName, db := database(t)
	env := twitterEnv(broker, dbName)
	pipelineFile := filepath.Join(repoRoot(), "pipelines", "twitter.yaml")
	createSparkTable(t, db, dbName)

	produceTweetsTo(t, broker, "twitter", 0, 0, 900)
	truth := runSparkJob(t, broker, db, dbName, 70)
	if sum(truth) != 900 {
		t.Fatalf("the simulated job counted %d tweets, want 900", sum(truth))
	}
	_, rest := runFirehose(t, broker, "twitter", "--count", "3000", "--seed", "16")
	for minute, n := range rest {
		truth[minute] += n
	}

	// Without adopt the table is refused, and the refusal says what to do.
	if res := runRuntime(t, pipelineFile, env, "--drain"); res.err == nil || !strings.Contains(res.stderr, "kappa-runtime adopt") {
		t.Fatalf("a drain into the job's table before adopt: %v, want a refusal naming kappa-runtime adopt\n%s", res.err, tail(res.stderr))
	}

	code, out := runAdopt(t, pipelineFile, env)
	t.Logf("adopt without --yes:\n%s", out)
	if code != 0 || !strings.Contains(out, "nothing recorded") || !regexp.MustCompile(`(?m)^0 +0 +900 +\d+ +13 +\d+ +900 +2016-06-01 19:36:00 +2016-06-01 19:50:00$`).MatchString(out) ||
		!strings.Contains(out, "start: 1, 2, 3") {
		t.Fatalf("adopt without --yes: exit %d, want 0 and partition 0 from 0 to 900 in 13 ranges counting 900 over 19:36-19:50, partitions 1-3 at start:\n%s", code, out)
	}
	if got := positionsOf(t, db, dbName); len(got) != 0 {
		t.Fatalf("adopt without --yes recorded positions %q", got)
	}

	code, out = runAdopt(t, pipelineFile, env, "--yes")
	if code != 0 || !strings.Contains(out, "recorded: 1 positions") {
		t.Fatalf("adopt --yes: exit %d\n%s", code, out)
	}
	id := topicIDOf(t, broker, "twitter")
	if got := positionsOf(t, db, dbName); len(got) != 1 || got[0] != "0:900:"+id {
		t.Fatalf("positions after adopt: %q, want partition 0 at 900 with topic ID %s", got, id)
	}

	res := runRuntime(t, pipelineFile, env, "--drain")
	if res.err != nil {
		t.Fatalf("drain after adopt: %v\n%s", res.err, tail(res.stderr))
	}
	compareMinutes(t, perMinute(t, db, dbName, "twitter"), truth)
	if n := committedCount(db, dbName, "twitter"); n != sum(truth) {
		t.Errorf("table counts %d tweets, want %d: the adopted ones once and the rest once", n, sum(truth))
	}

	code, out = runAudit(t, pipelineFile, env)
	t.Logf("audit:\n%s", out)
	if code != 0 || !strings.Contains(out, "audit clean") || !strings.Contains(out, "ADOPTED: partition 0: offsets [0, 900) adopted") ||
		!strings.Contains(out, "counters unknown") {
		t.Errorf("audit after adopt and drain: exit %d, want clean, naming the adopted range\n%s", code, out)
	}
	compact := exec.Command(filepath.Join(bins(t), "kappa-runtime"), "compact", "--older-than", "0s", pipelineFile)
	compact.Env = append(os.Environ(), env...)
	compactOut, err := compact.CombinedOutput()
	if err != nil {
		t.Fatalf("compact: %v\n%s", err, compactOut)
	}
	t.Logf("compact:\n%s", compactOut)
	compareMinutes(t, perMinute(t, db, dbName, "twitter"), truth)
	if code, out := runAudit(t, pipelineFile, env); code != 0 || !strings.Contains(out, "ADOPTED: partition 0: offsets [0, 900)") || !strings.Contains(out, "audit clean") {
		t.Errorf("audit after compaction: exit %d, want clean with the adopted range as it was\n%s", code, out)
	}

	code, out = runAdopt(t, pipelineFile, env, "--yes")
	if code == 0 || !strings.Contains(out, `pipeline "twitter" already has positions`) {
		t.Errorf("second adopt: exit %d, want a refusal naming the positions\n%s", code, out)
	}
	compareMinutes(t, perMinute(t, db, dbName, "twitter"), truth)
}

// Rows that cannot be one job's output read from this topic are refused,
// with the reason, and nothing is recorded: two ranges of a partition
// that overlap, and a max(end_offset) past the partition's log end.
func TestAdoptRefusesRowsThatCannotBeOneJobsOutput(t *testing.T) {
	broker := startBroker(t, "twitter", 2)
	dbName, db := database(t)
	env := twitterEnv(broker, dbName)
	pipelineFile := filepath.Join(repoRoot(), "pipelines", "twitter.yaml")
	createSparkTable(t, db, dbName)
	produceTweetsTo(t, broker, "twitter", 0, 0, 100)

	for _, c := range []struct {
		name   string
		ranges [][2]int64 // of partition 0
		want   string
	}{
		{"overlapping ranges", [][2]int64{{0, 50}, {40, 100}}, "overlapping ranges: partition 0: [40, 100) overlaps offsets below 50"},
		{"past the log end", [][2]int64{{0, 60}, {60, 150}}, "partition 0: its rows reach offset 150 (max(end_offset)), past the partition's log end 100"},
	} {
		t.Run(c.name, func(t *testing.T) {
			if _, err := db.Exec(fmt.Sprintf("DELETE FROM %s.twitter", dbName)); err != nil {
				t.Fatal(err)
			}
			for _, r := range c.ranges {
				_, err := db.Exec(fmt.Sprintf("INSERT INTO %s.twitter VALUES (?, ?, '2016-06-01 19:36:00', 0, ?)", dbName), r[0], r[1], r[1]-r[0])
				if err != nil {
					t.Fatal(err)
				}
			}
			code, out := runAdopt(t, pipelineFile, env, "--yes")
			t.Logf("adopt --yes:\n%s", out)
			if code == 0 || !strings.Contains(out, "REFUSED: "+c.want) || !strings.Contains(out, "adopt refused") {
				t.Errorf("adopt --yes: exit %d, want a refusal saying %q\n%s", code, c.want, out)
			}
			if got := positionsOf(t, db, dbName); len(got) != 0 {
				t.Errorf("a refused adopt recorded positions %q", got)
			}
		})
	}
}

// topicIDOf is the topic's ID as the source reports it.
func topicIDOf(t *testing.T, broker, topic string) string {
	t.Helper()
	cl, err := kgo.NewClient(kgo.SeedBrokers(broker))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	return topicID(t, kadm.NewClient(cl), topic)
}

// The 2016 job wrote MySQL only: adopt on a PostgreSQL pipeline fails at
// once, saying so, and records nothing.
func TestAdoptOnPostgresSaysMySQLOnly(t *testing.T) {
	broker := startBroker(t, "twitter", 2)
	database := postgresDatabase(t)
	produceTweetsTo(t, broker, "twitter", 0, 0, 10)
	code, out := runAdopt(t, filepath.Join(repoRoot(), "pipelines", "twitter-postgres.yaml"), postgresEnv(broker, database), "--yes")
	t.Logf("adopt --yes on postgres-sink:\n%s", out)
	if code == 0 || !strings.Contains(out, "twitter-postgres.yaml: sink: sink open: postgres-sink: adopting a table another program wrote is MySQL-only (the 2016 job wrote MySQL)") {
		t.Errorf("adopt --yes on postgres-sink: exit %d, want a refusal saying adopting is MySQL-only\n%s", code, out)
	}
	if n := psqlValue(t, database, "SELECT count(*) FROM information_schema.tables WHERE table_schema = 'aggregates'"); n != "0" {
		t.Errorf("adopt on postgres-sink left %s tables in schema aggregates", n)
	}
}
