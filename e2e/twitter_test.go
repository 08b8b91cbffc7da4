package e2e

import (
	"fmt"
	"os/exec"
	"strings"
	"testing"
	"time"
)

// TestTwitterPipelineMatchesGroundTruth is the acceptance run of the
// original job: 100k tweets over 8 partitions, 10% up to three hours late,
// with notices and malformed records, drained into MariaDB by real
// processes; the original query must equal the firehose's ground truth.
func TestTwitterPipelineMatchesGroundTruth(t *testing.T) {
	testTwitterMatchesGroundTruth(t, mariaDB(t), "20160601")
}

// twitterRun is what testTwitterMatchesGroundTruth ran, for the checks
// a test adds after it.
type twitterRun struct {
	broker, pipelineFile string
	env                  []string
	summary              firehoseSummary
	truth                map[string]int64
}

// testTwitterMatchesGroundTruth is the acceptance run of the original job
// into d's sink: the firehose's records (seed) drained by real processes,
// a second drain that adds nothing, and kcat-produced records with every
// codec; the original query must equal the ground truth after each.
func testTwitterMatchesGroundTruth(t *testing.T, d sinkDB, seed string) twitterRun {
	t.Helper()
	broker := startBroker(t, "twitter", 8)
	summary, truth := runFirehose(t, broker, "twitter",
		"--count", "100000", "--late-frac", "0.1", "--max-late", "3h", "--seed", seed)
	if summary.Tweets != 100000 || summary.Notices == 0 || summary.Malformed == 0 || summary.Late < 9000 {
		t.Fatalf("firehose made %+v, want 100000 tweets, some notices and malformed records, >= 10%% late", summary)
	}
	if sum(truth) != summary.Tweets {
		t.Fatalf("truth file holds %d tweets, firehose says %d", sum(truth), summary.Tweets)
	}
	env := d.env(broker)
	pipelineFile := d.twitterPipeline()

	started := time.Now()
	res := runRuntime(t, pipelineFile, env, "--drain")
	if res.err != nil {
		t.Fatalf("kappa-runtime --drain: %v\n%s", res.err, tail(res.stderr))
	}
	t.Logf("drained %d records (%d tweets, %d minutes) with %s in %s", res.records, sum(truth), len(truth), d.sink(), time.Since(started).Round(time.Millisecond))

	compareMinutes(t, d.perMinute(t), truth)
	if res.records != summary.Records || res.facts != summary.Tweets || res.skipped != summary.Notices || res.rejected != summary.Malformed {
		t.Errorf("runtime counted records=%d facts=%d skipped=%d rejected=%d; firehose produced records=%d tweets=%d notices=%d malformed=%d",
			res.records, res.facts, res.skipped, res.rejected, summary.Records, summary.Tweets, summary.Notices, summary.Malformed)
	}
	if n := d.value(t, "SELECT COUNT(DISTINCT partition_id) FROM "+d.table("kappa_offsets")); n != "8" {
		t.Errorf("offsets recorded for %s partitions, want all 8", n)
	}
	if n := d.value(t, "SELECT SUM(rejected) FROM "+d.table("kappa_batches")); n != fmt.Sprint(summary.Malformed) {
		t.Errorf("batch records count %s rejected, firehose made %d malformed", n, summary.Malformed)
	}

	// A second drain finds nothing new and adds nothing.
	rowsBefore := d.value(t, "SELECT COUNT(*) FROM "+d.table("twitter"))
	again := runRuntime(t, pipelineFile, env, "--drain")
	if again.err != nil {
		t.Fatalf("second drain: %v\n%s", again.err, tail(again.stderr))
	}
	if rowsAfter := d.value(t, "SELECT COUNT(*) FROM "+d.table("twitter")); again.records != 0 || rowsAfter != rowsBefore {
		t.Errorf("second drain read %d records and went from %s to %s rows; want nothing", again.records, rowsBefore, rowsAfter)
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
	compareMinutes(t, d.perMinute(t), truth)
	if third.facts != sum(kcatTruth) {
		t.Errorf("drain after kcat counted %d tweets, kcat produced %d", third.facts, sum(kcatTruth))
	}
	return twitterRun{broker: broker, pipelineFile: pipelineFile, env: env, summary: summary, truth: truth}
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
