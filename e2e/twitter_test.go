package e2e

import (
	"fmt"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/kappa-stream/kappa/internal/testenv"
)

// TestTwitterPipelineMatchesGroundTruth is the acceptance run of the
// original job: 100k tweets over 8 partitions, 10% up to three hours late,
// with notices and malformed records, drained into MariaDB by real
// processes; the original query must equal the firehose's ground truth.
func TestTwitterPipelineMatchesGroundTruth(t *testing.T) {
	broker := startBroker(t, "twitter", 8)
	summary, truth := runFirehose(t, broker, "twitter",
		"--count", "100000", "--late-frac", "0.1", "--max-late", "3h", "--seed", "20160601")
	if summary.Tweets != 100000 || summary.Notices == 0 || summary.Malformed == 0 || summary.Late < 9000 {
		t.Fatalf("firehose made %+v, want 100000 tweets, some notices and malformed records, >= 10%% late", summary)
	}
	if sum(truth) != summary.Tweets {
		t.Fatalf("truth file holds %d tweets, firehose says %d", sum(truth), summary.Tweets)
	}

	dbName, db := database(t)
	env := []string{
		"KAPPA_BROKERS=" + broker,
		"KAPPA_MYSQL_DSN=" + testenv.MySQLDSN(dbName),
	}
	pipelineFile := filepath.Join(repoRoot(), "pipelines", "twitter.yaml")

	started := time.Now()
	res := runRuntime(t, pipelineFile, env, "--drain")
	if res.err != nil {
		t.Fatalf("kappa-runtime --drain: %v\n%s", res.err, tail(res.stderr))
	}
	t.Logf("drained %d records (%d tweets, %d minutes) in %s", res.records, sum(truth), len(truth), time.Since(started).Round(time.Millisecond))

	compareMinutes(t, perMinute(t, db, dbName, "twitter"), truth)
	if res.records != summary.Records || res.facts != summary.Tweets || res.skipped != summary.Notices || res.rejected != summary.Malformed {
		t.Errorf("runtime counted records=%d facts=%d skipped=%d rejected=%d; firehose produced records=%d tweets=%d notices=%d malformed=%d",
			res.records, res.facts, res.skipped, res.rejected, summary.Records, summary.Tweets, summary.Notices, summary.Malformed)
	}
	var partitions int
	if err := db.QueryRow(fmt.Sprintf("SELECT COUNT(DISTINCT partition_id) FROM %s.kappa_offsets", dbName)).Scan(&partitions); err != nil {
		t.Fatal(err)
	}
	if partitions != 8 {
		t.Errorf("offsets recorded for %d partitions, want all 8", partitions)
	}

	// A second drain finds nothing new and adds nothing.
	var rowsBefore int
	db.QueryRow(fmt.Sprintf("SELECT COUNT(*) FROM %s.twitter", dbName)).Scan(&rowsBefore)
	again := runRuntime(t, pipelineFile, env, "--drain")
	if again.err != nil {
		t.Fatalf("second drain: %v\n%s", again.err, tail(again.stderr))
	}
	var rowsAfter int
	db.QueryRow(fmt.Sprintf("SELECT COUNT(*) FROM %s.twitter", dbName)).Scan(&rowsAfter)
	if again.records != 0 || rowsAfter != rowsBefore {
		t.Errorf("second drain read %d records and went from %d to %d rows; want nothing", again.records, rowsBefore, rowsAfter)
	}

	// New records, written by an independent client with every codec,
	// keyed and unkeyed, to every partition, are counted exactly once more.
	kcatTruth := produceWithKcat(t, broker, "twitter")
	third := runRuntime(t, pipelineFile, env, "--drain")
	if third.err != nil {
		t.Fatalf("drain after kcat: %v\n%s", third.err, tail(third.stderr))
	}
	for m, n := range kcatTruth {
		truth[m] += n
	}
	compareMinutes(t, perMinute(t, db, dbName, "twitter"), truth)
	if third.facts != sum(kcatTruth) {
		t.Errorf("drain after kcat counted %d tweets, kcat produced %d", third.facts, sum(kcatTruth))
	}
}

// produceWithKcat writes tweets with kcat, one batch per codec and
// partition, half of them keyed, and returns their per-minute truth.
func produceWithKcat(t *testing.T, broker, topic string) map[string]int64 {
	t.Helper()
	kcat, err := exec.LookPath("kcat")
	if err != nil {
		t.Fatalf("kcat not found (apt-get install -y kcat, or ./scripts/services): %v", err)
	}
	truth := map[string]int64{}
	base := time.Date(2016, 6, 1, 19, 36, 0, 0, time.UTC)
	n := 0
	for i, codec := range []string{"none", "gzip", "snappy", "lz4", "zstd"} {
		for p := 0; p < 8; p++ {
			var lines strings.Builder
			for j := 0; j < 7; j++ {
				n++
				ts := base.Add(time.Duration(i*97+p*13+j) * time.Minute)
				truth[ts.Format(time.DateTime)]++
				tweet := fmt.Sprintf(`{"created_at":%q,"id":%d,"id_str":"%d","text":"kcat %s p%d \u00e9\ud83d\ude00","user":{"created_at":"Mon Jan 01 00:00:00 +0000 2007"},"timestamp_ms":"%d"}`,
					ts.Format("Mon Jan 02 15:04:05 -0700 2006"), 1<<60+n, 1<<60+n, codec, p, ts.UnixMilli())
				if j%2 == 0 {
					fmt.Fprintf(&lines, "key-%d\t%s\n", n, tweet)
				} else {
					fmt.Fprintf(&lines, "%s\n", tweet)
				}
				// stream notices and garbage, which must not count
				if j == 3 {
					lines.WriteString(`{"delete":{"status":{"id":1,"id_str":"1","user_id":2,"user_id_str":"2"},"timestamp_ms":"1464809760000"}}` + "\n")
					lines.WriteString("{not json\n")
				}
			}
			args := []string{"-b", broker, "-P", "-t", topic, "-p", fmt.Sprint(p), "-K", "\t"}
			if codec != "none" {
				args = append(args, "-z", codec)
			}
			cmd := exec.Command(kcat, args...)
			// Unkeyed lines have no tab; kcat takes them as values with a null key.
			cmd.Stdin = strings.NewReader(lines.String())
			if out, err := cmd.CombinedOutput(); err != nil {
				t.Fatalf("kcat %v: %v\n%s", args, err, out)
			}
		}
	}
	return truth
}

func tail(s string) string {
	lines := strings.Split(s, "\n")
	if len(lines) > 40 {
		lines = lines[len(lines)-40:]
	}
	return strings.Join(lines, "\n")
}
