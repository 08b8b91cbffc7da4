package e2e

import (
	"fmt"
	"path/filepath"
	"syscall"
	"testing"
	"time"
)

// At the original job's load, 45 tweets/s, live with `interval: 1s`: a
// batch is cut once a second, so the tables grow with partitions × windows
// per second, not with tweets (a batch per arriving record made one
// aggregate row per tweet: 2,697 rows for 2,700 tweets).
func TestBatchesFollowTheInterval(t *testing.T) {
	broker := startBroker(t, "twitter", 8)
	dbName, db := database(t)
	env := twitterEnv(broker, dbName)
	pipelineFile := filepath.Join(repoRoot(), "pipelines", "twitter.yaml")

	rt := startRuntime(t, pipelineFile, env)
	started := time.Now()
	// 60 s of the original load; 2,700 tweets over one simulated hour of
	// event time, 10% up to 3 h late.
	produced := producing(t, broker, "twitter", "--count", "2700", "--rate", "45", "--per-minute", "45", "--seed", "45")
	_, truth := produced()
	want := sum(truth)
	waitFor(t, 60*time.Second, fmt.Sprintf("all %d tweets committed", want), func() bool {
		return committedCount(db, dbName, "twitter") == want
	})
	rt.cmd.Process.Signal(syscall.SIGTERM)
	if err := rt.wait(t, 60*time.Second); err != nil {
		t.Fatalf("runtime after SIGTERM: %v\n%s", err, tail(rt.stderr.String()))
	}
	seconds := time.Since(started).Seconds()
	compareMinutes(t, perMinute(t, db, dbName, "twitter"), truth)

	var rows, batchRows int
	if err := db.QueryRow("SELECT COUNT(*) FROM " + dbName + ".twitter").Scan(&rows); err != nil {
		t.Fatal(err)
	}
	if err := db.QueryRow("SELECT COUNT(*) FROM " + dbName + ".kappa_batches").Scan(&batchRows); err != nil {
		t.Fatal(err)
	}
	t.Logf("%d tweets in %.0f s: %d aggregate rows, %d batch rows", want, seconds, rows, batchRows)
	// At most one batch a second, each with at most one range per partition.
	if limit := (int(seconds) + 2) * 8; batchRows > limit {
		t.Errorf("%d batch rows in %.0f s over 8 partitions, want at most %d (one batch a second)", batchRows, seconds, limit)
	}
	if rows > 1000 {
		t.Errorf("%d aggregate rows for %d tweets, want at most 1000", rows, want)
	}
}
