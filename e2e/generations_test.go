package e2e

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"
)

// byLangAsTwitter is the changed pipeline a reprocess replaces d's
// twitter pipeline with: counting per language into table twitter.
func byLangAsTwitter(t *testing.T, d sinkDB) string {
	t.Helper()
	if d.postgres {
		return byLangPostgres(t)
	}
	// pipelines/twitter-by-lang.yaml writing table twitter
	text, err := os.ReadFile(filepath.Join(repoRoot(), "pipelines", "twitter-by-lang.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	changed := strings.Replace(string(text), "table: twitter_by_lang", "table: twitter", 1)
	// The sink's test hook reads KAPPA_TEST_SINK_FAULTS, which reaches a
	// plugin only when named.
	changed = strings.Replace(changed, "  plugin: mysql-sink\n", "  plugin: mysql-sink\n  env: [KAPPA_TEST_SINK_FAULTS]\n", 1)
	file := filepath.Join(t.TempDir(), "twitter-by-lang.yaml")
	if err := os.WriteFile(file, []byte(changed), 0o644); err != nil {
		t.Fatal(err)
	}
	return file
}

// runReprocess runs `kappa-runtime reprocess` in the background.
func startReprocess(t *testing.T, file string, env []string, args ...string) *backgroundRuntime {
	t.Helper()
	return startSubcommand(t, "reprocess", file, env, append(args, "--log-json")...)
}

// startSubcommand starts `kappa-runtime SUB [args] FILE`; it is killed
// when the test ends if it still runs.
func startSubcommand(t *testing.T, sub, file string, env []string, args ...string) *backgroundRuntime {
	t.Helper()
	return startKappaRuntime(t, append(append([]string{sub}, args...), file), env, false)
}

// TestReprocessSwapsGenerationUnderReaders is the Kappa recipe end to end:
// a live runtime on pipelines/twitter.yaml while the firehose produces; a
// reprocess --drain of the pipeline changed to count per language into the
// same table; a reader running the original query every 50 ms throughout
// never fails and never sees its total fall. After the swap the table
// equals the ground truth, the audit of the new generation is clean, the
// old runtime has exited 0 saying which generation is live, and its file
// is refused; a rollback brings generation 1 back, exact after its file
// catches up, and retire drops generation 2's table.
func TestReprocessSwapsGenerationUnderReaders(t *testing.T) {
	testReprocess(t, mariaDB(t), "", "", true)
}

// TestReprocessResumesAfterKill kills the reprocess's sink right after the
// swap's RENAME, before it is recorded (the runtime restarts the sink,
// which finds the RENAME done), and the reprocessing runtime right after
// the freeze (KAPPA_CHAOS_FULL=1: after every step): a restart completes
// the cutover, exact.
func TestReprocessResumesAfterKill(t *testing.T) {
	t.Run("after_rename", func(t *testing.T) { testReprocess(t, mariaDB(t), "", "after_rename=1", false) })
	if os.Getenv("KAPPA_CHAOS_FULL") != "1" {
		return
	}
	for _, step := range []string{"freeze", "catch_up", "swap", "live"} {
		t.Run(step, func(t *testing.T) { testReprocess(t, mariaDB(t), step, "", false) })
	}
	t.Run("old_runtime_at_freeze", func(t *testing.T) { testReprocess(t, mariaDB(t), "old", "", false) })
}

// testReprocess is the Kappa recipe into d's sink while a firehose of
// tweets produces: the reprocess killed after the cutover step killAfter
// ("old": the old runtime killed as the freeze begins) or its sink by
// the fault hook sinkFaults, and restarted; with rollback, a rollback and
// retire after the checks.
func testReprocess(t *testing.T, d sinkDB, killAfter, sinkFaults string, rollback bool) {
	began := time.Now()
	mark := func(what string) { t.Logf("%5.1fs %s", time.Since(began).Seconds(), what) }
	broker := startBroker(t, "twitter", 4)
	env := d.env(broker)
	twitter := d.twitterPipeline()
	byLang := byLangAsTwitter(t, d)
	tweets := "24000"
	if d.postgres {
		tweets = "15000"
	}

	truths := make(chan map[string]int64, 1)
	go func() {
		_, truth := runFirehose(t, broker, "twitter", "--count", tweets, "--rate", "3000", "--seed", "13")
		truths <- truth
	}()
	mark("broker and database")
	old := startRuntime(t, twitter, env)
	waitFor(t, 30*time.Second, "the live runtime's first commit", func() bool {
		n, err := d.query("SELECT COUNT(*) FROM " + d.table("twitter"))
		return err == nil && n != "0"
	})
	reader := startReader(t, d)
	mark("the reader started")

	var reprocessEnv []string
	killOld := killAfter == "old"
	if killOld {
		killAfter = ""
	}
	if killAfter != "" {
		reprocessEnv = append(reprocessEnv, "KAPPA_TEST_CUTOVER_KILL="+killAfter)
	}
	if sinkFaults != "" {
		reprocessEnv = append(reprocessEnv, "KAPPA_TEST_SINK_FAULTS="+sinkFaults)
	}
	rep := startReprocess(t, byLang, append(env, reprocessEnv...), "--drain", "--catch-up", "2s")
	if killAfter != "" {
		if err := rep.wait(t, 90*time.Second); exitCode(err) != -1 {
			t.Fatalf("reprocess killed after %s exited %v, want killed\n%s", killAfter, err, tail(rep.stderr.String()))
		}
		swapTook, cutoverTook := cutoverFigures(rep.stderr.String())
		t.Logf("before the kill: the swap step took %q, the cutover (freeze to live) %q", swapTook, cutoverTook)
		mark("the reprocess was killed after " + killAfter)
		rep = startReprocess(t, byLang, env, "--drain", "--catch-up", "2s")
	}
	if killOld {
		// The old runtime dies as the freeze begins, its commit in flight
		// or not; a restart of it afterwards is refused.
		waitFor(t, 90*time.Second, "the freeze", func() bool {
			return strings.Contains(rep.stderr.String(), "freezing the live one") || rep.exited()
		})
		old.kill9(t)
	}
	if err := rep.wait(t, 120*time.Second); err != nil {
		t.Fatalf("reprocess --drain: %v\n%s", err, tail(rep.stderr.String()))
	}
	if sinkFaults != "" && !strings.Contains(rep.stderr.String(), "test fault hook: SIGKILL after RENAME TABLE") {
		// The runtime restarts its sink, which finds the swap recorded.
		t.Errorf("the sink's fault hook did not fire\n%s", tail(rep.stderr.String()))
	}
	mark("the reprocess exited")
	swapTook, cutoverTook := cutoverFigures(rep.stderr.String())
	t.Logf("the swap step took %q, the cutover (freeze to live) %q", swapTook, cutoverTook)
	if killOld {
		old = startRuntime(t, twitter, env)
		if err := old.wait(t, 60*time.Second); exitCode(err) != 1 || !strings.Contains(old.stderr.String(), "generation 2") {
			t.Fatalf("the old runtime restarted after the cutover: %v, want refused naming generation 2\n%s", err, tail(old.stderr.String()))
		}
	} else {
		if err := old.wait(t, 30*time.Second); err != nil {
			t.Fatalf("the old generation's runtime exited with %v, want 0\n%s", err, tail(old.stderr.String()))
		} else if n := old.logCount("generation ended: this pipeline's generation was replaced, nothing more is committed"); n != 1 {
			t.Errorf("the old runtime said %d times that its generation ended, want once\n%s", n, tail(old.stderr.String()))
		}
		if !strings.Contains(old.stderr.String(), `generation 2 (pipeline \"twitter-by-lang\")`) {
			t.Errorf("the old runtime's message does not name the live generation\n%s", tail(old.stderr.String()))
		}
	}
	mark("the old runtime checked")

	truth := <-truths
	mark("the firehose ended")
	// The reprocess drained to the log's end after the swap; the firehose
	// may have written more since. A plain run of the new file continues
	// the live generation.
	if res := runRuntime(t, byLang, env, "--drain"); res.err != nil {
		t.Fatalf("kappa-runtime --drain on the new file: %v\n%s", res.err, tail(res.stderr))
	}
	reader.finish()
	reader.mu.Lock()
	if len(reader.problems) > 0 {
		t.Errorf("the reader saw, over %d reads: %s", reader.reads, strings.Join(reader.problems[:min(5, len(reader.problems))], "; "))
	}
	t.Logf("the reader ran the original query %d times, the longest took %s", reader.reads, reader.longest)
	reader.mu.Unlock()

	compareMinutes(t, d.perMinute(t), truth)
	if n := d.value(t, "SELECT COUNT(DISTINCT lang) FROM "+d.table("twitter")); n == "0" || n == "1" {
		t.Errorf("table twitter after the swap: %s languages, want the new shape", n)
	}
	if code, out := runAudit(t, byLang, env); code != 0 {
		t.Errorf("audit of the new generation exited %d\n%s", code, out)
	}
	// The old file is refused, naming the live generation and the way back.
	res := runRuntime(t, twitter, env, "--drain")
	if exitCode(res.err) != 1 || !strings.Contains(res.stderr, "generation 2") || !strings.Contains(res.stderr, "kappa-runtime rollback") {
		t.Errorf("the old file after the swap: %v, want refused naming generation 2 and rollback\n%s", res.err, tail(res.stderr))
	}
	code, out := runSubcommand(t, "generations", byLang, env)
	if code != 0 || !strings.Contains(out, "retired") || !strings.Contains(out, "twitter__g1") {
		t.Errorf("generations: exit %d\n%s", code, out)
	}
	if !rollback {
		return
	}
	mark("checked")
	// Rollback swaps generation 1 back; its file then continues it from
	// its frozen positions to the end; retire drops generation 2's table.
	if code, out := runSubcommand(t, "rollback", byLang, env); code != 0 {
		t.Fatalf("rollback: exit %d\n%s", code, out)
	}
	mark("rolled back")
	if res := runRuntime(t, twitter, env, "--drain"); res.err != nil {
		t.Fatalf("the old file after the rollback: %v\n%s", res.err, tail(res.stderr))
	}
	compareMinutes(t, d.perMinute(t), truth)
	if code, out := runSubcommand(t, "retire", twitter, env); code != 0 || !strings.Contains(out, "dropped") {
		t.Errorf("retire: exit %d\n%s", code, out)
	}
	if n := d.value(t, fmt.Sprintf("SELECT COUNT(*) FROM information_schema.tables WHERE table_schema = '%s' AND table_name = 'twitter__g2'", d.schema())); n != "0" {
		t.Errorf("twitter__g2 is still there after retire")
	}
	mark("retired")
}

// TestReprocessRefusesDeletedHistory: a topic whose start retention
// deleted cannot be reprocessed from the live generation's first offsets;
// reprocess refuses, naming the offsets it would miss.
func TestReprocessRefusesDeletedHistory(t *testing.T) {
	testReprocessRefusesDeletedHistory(t, mariaDB(t))
}

func testReprocessRefusesDeletedHistory(t *testing.T, d sinkDB) {
	broker := startBroker(t, "twitter", 2)
	env := d.env(broker)
	runFirehose(t, broker, "twitter", "--count", "2000", "--seed", "5")
	twitter := d.twitterPipeline()
	if res := runRuntime(t, twitter, env, "--drain"); res.err != nil {
		t.Fatalf("drain: %v\n%s", res.err, tail(res.stderr))
	}
	cl, err := kgo.NewClient(kgo.SeedBrokers(broker))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	var upTo kadm.Offsets
	upTo.Add(kadm.Offset{Topic: "twitter", Partition: 1, At: 100})
	if _, err := kadm.NewClient(cl).DeleteRecords(context.Background(), upTo); err != nil {
		t.Fatalf("delete records: %v", err)
	}
	code, out := runSubcommand(t, "reprocess", byLangAsTwitter(t, d), env, "--drain")
	if code != 1 || !strings.Contains(out, "partition 1: offsets 0 to 99") || !strings.Contains(out, "retention") {
		t.Fatalf("reprocess over deleted history: exit %d, want 1 naming partition 1's offsets 0 to 99\n%s", code, tail(out))
	}
	t.Logf("refused: %s", finalError(out))
	if n := d.value(t, "SELECT COUNT(*) FROM "+d.table("kappa_generations")); n != "1" {
		t.Errorf("%s generations recorded after the refusal, want generation 1 only", n)
	}
}

// TestReprocessWithLongReader measures the cutover with a reader
// transaction that holds table twitter for 30 s across it (only with
// KAPPA_CHAOS_FULL=1: it takes over 30 s): how long the cutover took and
// the longest any other reader of the original query waited. The RENAME
// waits at most 2 s for the long reader each try (RENAME … WAIT), so
// queries queued behind it wait at most about that long, not 30 s.
//
//	KAPPA_CHAOS_FULL=1 go test -count=1 -v -run TestReprocessWithLongReader ./e2e
func TestReprocessWithLongReader(t *testing.T) {
	if os.Getenv("KAPPA_CHAOS_FULL") != "1" {
		t.Skip("takes over 30 s; set KAPPA_CHAOS_FULL=1")
	}
	d := mariaDB(t)
	env, truth, old := startLongReaderRun(t, d)

	ctx := context.Background()
	long, err := d.db.Conn(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer long.Close()
	if _, err := long.ExecContext(ctx, "BEGIN"); err != nil {
		t.Fatal(err)
	}
	var n int64
	if err := long.QueryRowContext(ctx, "SELECT COUNT(*) FROM "+d.table("twitter")).Scan(&n); err != nil {
		t.Fatal(err)
	}
	opened := time.Now()

	// Measured only: the queries' longest wait.
	reader := startReader(t, d)

	rep := startReprocess(t, byLangAsTwitter(t, d), env, "--drain", "--catch-up", "1s")
	time.Sleep(30*time.Second - time.Since(opened))
	if _, err := long.ExecContext(ctx, "COMMIT"); err != nil {
		t.Fatal(err)
	}
	if err := rep.wait(t, 120*time.Second); err != nil {
		t.Fatalf("reprocess --drain: %v\n%s", err, tail(rep.stderr.String()))
	}
	reader.finish()
	if err := old.wait(t, 30*time.Second); err != nil {
		t.Fatalf("old runtime: %v", err)
	}
	compareMinutes(t, d.perMinute(t), truth)
	swapTook, cutoverTook := cutoverFigures(rep.stderr.String())
	t.Logf("with a 30 s reader transaction open: the swap step took %s, the cutover (freeze to live) %s; the longest wait of a reader of the original query was %s",
		swapTook, cutoverTook, reader.longest)
}

// startLongReaderRun is the start of the long-reader tests: 20000 tweets
// drained into d's twitter pipeline, and a runtime on it, the live
// generation a reprocess replaces; it returns the pipeline's env, the
// ground truth and that runtime.
func startLongReaderRun(t *testing.T, d sinkDB) ([]string, map[string]int64, *backgroundRuntime) {
	t.Helper()
	broker := startBroker(t, "twitter", 4)
	env := d.env(broker)
	_, truth := runFirehose(t, broker, "twitter", "--count", "20000", "--seed", "17")
	if res := runRuntime(t, d.twitterPipeline(), env, "--drain"); res.err != nil {
		t.Fatalf("drain: %v\n%s", res.err, tail(res.stderr))
	}
	return env, truth, startRuntime(t, d.twitterPipeline(), env)
}
