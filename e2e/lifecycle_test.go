package e2e

import (
	"bytes"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/kappa-stream/kappa/internal/testenv"
)

// SIGTERM while batches flow: the runtime exits 0, and a later drain makes
// the table equal the ground truth exactly, so nothing was half committed,
// lost or counted twice.
func TestSIGTERMMidStreamLosesAndDoublesNothing(t *testing.T) {
	dir := bins(t)
	broker := startBroker(t, "twitter", 8)
	dbName, db := database(t)
	env := append(os.Environ(),
		"KAPPA_BROKERS="+broker,
		"KAPPA_MYSQL_DSN="+testenv.MySQLDSN(dbName),
	)
	pipelineFile := filepath.Join(repoRoot(), "pipelines", "twitter.yaml")

	// The firehose produces at a steady rate while the runtime runs.
	firehose := make(chan struct {
		summary firehoseSummary
		truth   map[string]int64
	}, 1)
	go func() {
		s, truth := runFirehose(t, broker, "twitter", "--count", "30000", "--rate", "10000", "--seed", "7")
		firehose <- struct {
			summary firehoseSummary
			truth   map[string]int64
		}{s, truth}
	}()

	cmd := exec.Command(filepath.Join(dir, "kappa-runtime"), "--log-json", pipelineFile)
	cmd.Env = env
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	// Wait for some committed batches, then stop it mid-stream.
	deadline := time.Now().Add(60 * time.Second)
	for time.Now().Before(deadline) {
		var n int
		db.QueryRow(fmt.Sprintf("SELECT COALESCE(SUM(count), 0) FROM %s.twitter", dbName)).Scan(&n)
		if n > 3000 {
			break
		}
		time.Sleep(100 * time.Millisecond)
	}
	if err := cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("runtime after SIGTERM: %v, want exit 0\n%s", err, tail(stderr.String()))
		}
	case <-time.After(90 * time.Second):
		cmd.Process.Kill()
		t.Fatalf("runtime did not exit within 90s of SIGTERM\n%s", tail(stderr.String()))
	}
	if !strings.Contains(stderr.String(), `"msg":"pipeline stopped"`) {
		t.Errorf("no orderly stop logged:\n%s", tail(stderr.String()))
	}

	produced := <-firehose
	res := runRuntime(t, pipelineFile, env[len(env)-2:], "--drain")
	if res.err != nil {
		t.Fatalf("drain after SIGTERM: %v\n%s", res.err, tail(res.stderr))
	}
	compareMinutes(t, perMinute(t, db, dbName, "twitter"), produced.truth)
}

// A partition whose records are all notices or malformed still advances,
// so it is not read again on the next run (the 2016 job re-read it forever).
func TestPartitionOfNoticesOnlyAdvances(t *testing.T) {
	dir := bins(t)
	broker := startBroker(t, "notices", 2)
	dbName, db := database(t)
	kcat, err := exec.LookPath("kcat")
	if err != nil {
		t.Fatalf("kcat not found (apt-get install -y kcat): %v", err)
	}
	lines := `{"delete":{"status":{"id":1,"id_str":"1","user_id":3,"user_id_str":"3"},"timestamp_ms":"1464809760000"}}
{"limit":{"track":12,"timestamp_ms":"1464809760001"}}
{"created_at":"Wed Jun 01 19:36:00 +0000 2016","id":5
not json at all
[1,2,3]
{"id":7,"text":"a tweet without any time"}
`
	for p, input := range []string{
		`{"created_at":"Wed Jun 01 19:36:00 +0000 2016","id":1,"text":"counted"}` + "\n",
		lines,
	} {
		cmd := exec.Command(kcat, "-b", broker, "-P", "-t", "notices", "-p", fmt.Sprint(p))
		cmd.Stdin = strings.NewReader(input)
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Fatalf("kcat: %v\n%s", err, out)
		}
	}
	text := fmt.Sprintf(pipelineTemplate, "kafka-source", broker, testenv.MySQLDSN(dbName))
	file := writePipeline(t, strings.Replace(text, "topic: twitter", "topic: notices", 1))
	env := []string{"KAPPA_PLUGIN_PATH=" + dir}

	res := runRuntime(t, file, env, "--drain")
	if res.err != nil {
		t.Fatalf("drain: %v\n%s", res.err, tail(res.stderr))
	}
	if res.facts != 1 || res.skipped != 2 || res.rejected != 4 {
		t.Errorf("facts=%d skipped=%d rejected=%d, want 1, 2 and 4", res.facts, res.skipped, res.rejected)
	}
	var next int64
	err = db.QueryRow(fmt.Sprintf("SELECT next_offset FROM %s.kappa_offsets WHERE stream = 'notices' AND partition_id = 1", dbName)).Scan(&next)
	if err != nil || next != 6 {
		t.Errorf("partition 1 next_offset = %d (%v), want 6: its records are all notices or malformed", next, err)
	}
	again := runRuntime(t, file, env, "--drain")
	if again.err != nil || again.records != 0 {
		t.Errorf("second drain read %d records (%v), want 0", again.records, again.err)
	}
}
