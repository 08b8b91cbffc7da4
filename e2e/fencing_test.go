package e2e

import (
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

// shortBatches writes pipelines/twitter.yaml with batches of at most 200ms
// and the given extra top-level lines, so that two runtimes race often.
func shortBatches(t *testing.T, extra string) string {
	t.Helper()
	original, err := os.ReadFile(filepath.Join(repoRoot(), "pipelines", "twitter.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	text := strings.Replace(string(original), "interval: 1s", "interval: 200ms", 1)
	if text == string(original) {
		t.Fatal("pipelines/twitter.yaml has no `interval: 1s` to shorten")
	}
	return writePipeline(t, text+extra)
}

// Two runtimes on one pipeline while the firehose produces: the fence lets
// only one commit each range, so the counts stay exact; a fenced runtime
// says so once per spell of being fenced, not once per batch; and a
// runtime whose pipeline says `on_fenced: exit` exits when fenced.
func TestTwoRuntimesNeverDoubleCount(t *testing.T) {
	broker := startBroker(t, "twitter", 8)
	dbName, db := database(t)
	env := twitterEnv(broker, dbName)
	retry := shortBatches(t, "")
	exit := shortBatches(t, "on_fenced: exit\n")
	// Writing for 12 s: the third runtime, started once one of the first
	// two is fenced, must still find batches to be fenced on.
	produced := producing(t, broker, "twitter", "--count", "60000", "--rate", "5000", "--seed", "31")

	a := startRuntime(t, retry, env)
	b := startRuntime(t, retry, env)
	waitFor(t, 60*time.Second, "one of the two runtimes to be fenced", func() bool {
		return a.logCount("fenced: another runtime is committing this pipeline's partitions; standing by and retrying (said once until this runtime commits again)") > 0 ||
			b.logCount("fenced: another runtime is committing this pipeline's partitions; standing by and retrying (said once until this runtime commits again)") > 0
	})
	// A runtime that must exit when fenced meets two that keep working.
	c := startRuntime(t, exit, env)
	if err := c.wait(t, 60*time.Second); err == nil || !strings.Contains(c.stderr.String(), "on_fenced is exit") {
		t.Errorf("runtime with on_fenced: exit: %v, want a non-zero exit saying it was fenced\n%s", err, tail(c.stderr.String()))
	}

	_, truth := produced()
	for _, rt := range []*backgroundRuntime{a, b} {
		rt.cmd.Process.Signal(syscall.SIGTERM)
		if err := rt.wait(t, 60*time.Second); err != nil {
			t.Errorf("runtime after SIGTERM: %v\n%s", err, tail(rt.stderr.String()))
		}
		log := rt.stderr.String()
		fenced := strings.Count(log, `"msg":"fenced: `)
		again := strings.Count(log, `"msg":"no longer fenced: committing again"`)
		batches := strings.Count(log, `"msg":"batch committed"`)
		t.Logf("runtime: %d batches committed, fenced %d times, committing again %d times", batches, fenced, again)
		if fenced > again+1 {
			t.Errorf("fenced said %d times but only %d spells ended: it is said more than once per spell", fenced, again)
		}
	}
	res := runRuntime(t, retry, env, "--drain")
	if res.err != nil {
		t.Fatalf("drain: %v\n%s", res.err, tail(res.stderr))
	}
	compareMinutes(t, perMinute(t, db, dbName, "twitter"), truth)
	if code, out := runAudit(t, retry, env); code != 0 {
		t.Errorf("audit: exit %d\n%s", code, out)
	}
}
