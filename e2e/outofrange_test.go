package e2e

import (
	"context"
	"fmt"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/kappa-stream/kappa/internal/testenv"
)

// Records deleted by retention before they were read: by default the run
// stops at once with an error naming the partition and offsets; with
// on_out_of_range: skip it goes on at the log start, records the gap with
// the range (kappa_batches.lost) and in the log, and the audit stays clean.
func TestOffsetsOutOfRangePolicies(t *testing.T) {
	dir := bins(t)
	broker := startBroker(t, "twitter", 1)
	dbName, db := database(t)
	kcat, err := exec.LookPath("kcat")
	if err != nil {
		t.Fatalf("kcat not found (apt-get install -y kcat): %v", err)
	}
	produceTweets := func(first, n int) {
		t.Helper()
		var lines strings.Builder
		for i := first; i < first+n; i++ {
			ts := time.Date(2016, 6, 1, 19, 36, i, 0, time.UTC)
			fmt.Fprintf(&lines, `{"created_at":%q,"id":%d,"timestamp_ms":"%d"}`+"\n", ts.Format("Mon Jan 02 15:04:05 -0700 2006"), i, ts.UnixMilli())
		}
		cmd := exec.Command(kcat, "-b", broker, "-P", "-t", "twitter", "-p", "0")
		cmd.Stdin = strings.NewReader(lines.String())
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Fatalf("kcat: %v\n%s", err, out)
		}
	}
	text := fmt.Sprintf(pipelineTemplate, "kafka-source", broker, testenv.MySQLDSN(dbName))
	failing := writePipeline(t, text)
	skipping := writePipeline(t, strings.Replace(text, "topic: twitter\n", "topic: twitter\n    on_out_of_range: skip\n", 1))
	env := []string{"KAPPA_PLUGIN_PATH=" + dir}

	produceTweets(0, 10)
	if res := runRuntime(t, failing, env, "--drain"); res.err != nil || res.facts != 10 {
		t.Fatalf("first drain: %v, %d facts\n%s", res.err, res.facts, tail(res.stderr))
	}
	// Offsets 10..19 are written, then 10..14 deleted before anyone read them.
	produceTweets(10, 10)
	cl, err := kgo.NewClient(kgo.SeedBrokers(broker))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	var upTo kadm.Offsets
	upTo.Add(kadm.Offset{Topic: "twitter", Partition: 0, At: 15})
	if _, err := kadm.NewClient(cl).DeleteRecords(context.Background(), upTo); err != nil {
		t.Fatalf("delete records: %v", err)
	}

	started := time.Now()
	res := runRuntime(t, failing, env, "--drain")
	if res.err == nil {
		t.Fatalf("drain over deleted records succeeded with on_out_of_range: fail\n%s", tail(res.stderr))
	}
	if !strings.Contains(res.stderr, "partition 0: offset 10 is out of range (log start 15") {
		t.Errorf("the error does not name the partition and offsets:\n%s", tail(res.stderr))
	}
	if took := time.Since(started); took > 60*time.Second {
		t.Errorf("stopping on deleted records took %s; it is no transient failure to retry", took)
	}

	res = runRuntime(t, skipping, env, "--drain")
	if res.err != nil {
		t.Fatalf("drain with on_out_of_range: skip: %v\n%s", res.err, tail(res.stderr))
	}
	if res.facts != 5 || !strings.Contains(res.stderr, `"lost":5`) {
		t.Errorf("skip counted %d tweets, want the 5 not deleted, and a log line with lost 5:\n%s", res.facts, tail(res.stderr))
	}
	var lost, total int64
	if err := db.QueryRow(fmt.Sprintf("SELECT SUM(lost) FROM %s.kappa_batches", dbName)).Scan(&lost); err != nil || lost != 5 {
		t.Errorf("kappa_batches records %d lost offsets (%v), want 5", lost, err)
	}
	if err := db.QueryRow(fmt.Sprintf("SELECT SUM(count) FROM %s.twitter", dbName)).Scan(&total); err != nil || total != 15 {
		t.Errorf("table counts %d tweets (%v), want 15", total, err)
	}
	if code, out := runAudit(t, skipping, env); code != 0 || !strings.Contains(out, "audit clean") {
		t.Errorf("audit after the skip: exit %d\n%s", code, out)
	}
}
