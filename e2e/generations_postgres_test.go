package e2e

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/kappa-stream/kappa/internal/testenv"
)

// Generations into PostgreSQL: the Kappa recipe of generations_test.go
// with pipelines/twitter-postgres.yaml, whose swap is one transaction.

// byLangPostgres is pipelines/twitter-postgres.yaml changed to count per
// language (dimensions: [lang]) into the same table twitter.
func byLangPostgres(t *testing.T) string {
	t.Helper()
	text, err := os.ReadFile(filepath.Join(repoRoot(), "pipelines", "twitter-postgres.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	changed := strings.Replace(string(text), "name: twitter\n", "name: twitter-by-lang\n", 1)
	changed = strings.Replace(changed, "window: 1m\n", "window: 1m\ndimensions: [lang]\n", 1)
	// The sink's test hook reads KAPPA_TEST_SINK_FAULTS, which reaches a
	// plugin only when named.
	changed = strings.Replace(changed, "  plugin: postgres-sink\n", "  plugin: postgres-sink\n  env: [KAPPA_TEST_SINK_FAULTS]\n", 1)
	if changed == string(text) || !strings.Contains(changed, "dimensions: [lang]") {
		t.Fatal("pipelines/twitter-postgres.yaml changed: the test cannot derive its by-lang pipeline")
	}
	file := filepath.Join(t.TempDir(), "twitter-by-lang-postgres.yaml")
	if err := os.WriteFile(file, []byte(changed), 0o644); err != nil {
		t.Fatal(err)
	}
	return file
}

// pgReader runs the original query every 50 ms on its own connection and
// records a failed query or a total below the one seen before; it also
// keeps the longest query.
type pgReader struct {
	stop, done chan struct{}
	mu         sync.Mutex
	problems   []string
	reads      int
	last       int64
	longest    time.Duration
}

func startPgReader(t *testing.T, database string) *pgReader {
	t.Helper()
	conn, err := pgx.Connect(context.Background(), testenv.PostgresDSN(database))
	if err != nil {
		t.Fatal(err)
	}
	r := &pgReader{stop: make(chan struct{}), done: make(chan struct{})}
	go func() {
		defer close(r.done)
		defer conn.Close(context.Background())
		for {
			select {
			case <-r.stop:
				return
			case <-time.After(50 * time.Millisecond):
			}
			began := time.Now()
			var total int64
			rows, err := conn.Query(context.Background(), strings.TrimSuffix(originalQueryPsql, " ORDER BY timestamp;"))
			if err == nil {
				var ts time.Time
				var n int64
				_, err = pgx.ForEachRow(rows, []any{&ts, &n}, func() error { total += n; return nil })
			}
			took := time.Since(began)
			r.mu.Lock()
			r.reads++
			r.longest = max(r.longest, took)
			switch {
			case err != nil:
				r.problems = append(r.problems, "query failed: "+err.Error())
			case total < r.last:
				r.problems = append(r.problems, fmt.Sprintf("total fell from %d to %d", r.last, total))
			default:
				r.last = total
			}
			r.mu.Unlock()
		}
	}()
	t.Cleanup(r.finish)
	return r
}

func (r *pgReader) finish() {
	select {
	case <-r.stop:
	default:
		close(r.stop)
	}
	<-r.done
}

// TestReprocessPostgresSwapsGenerationUnderReaders is
// TestReprocessSwapsGenerationUnderReaders into PostgreSQL: a live runtime
// on pipelines/twitter-postgres.yaml while the firehose produces; a
// reprocess --drain of the pipeline changed to count per language into the
// same table, killed -9 right after the swap (its transaction committed,
// generation 2 not live yet) and run again, which binds to the renamed
// table and completes the cutover; a reader running the original query
// every 50 ms throughout never fails and never sees its total fall. After
// the swap the table equals the ground truth, the audit is clean, the old
// runtime has exited 0 naming the live generation, and its file is
// refused; a rollback brings generation 1 back, exact after its file
// catches up, and retire drops generation 2's table.
func TestReprocessPostgresSwapsGenerationUnderReaders(t *testing.T) {
	testReprocessPostgres(t, "swap", "", true)
}

// TestReprocessPostgresResumesAfterKill (KAPPA_CHAOS_FULL=1) kills -9 the
// reprocessing runtime after each other cutover step, the sink right after
// the swap's transaction committed, and the old runtime as the freeze
// begins: a restart completes the cutover, exact, and the old runtime
// restarted afterwards is refused.
func TestReprocessPostgresResumesAfterKill(t *testing.T) {
	if os.Getenv("KAPPA_CHAOS_FULL") != "1" {
		t.Skip("one kill is in TestReprocessPostgresSwapsGenerationUnderReaders; the others with KAPPA_CHAOS_FULL=1")
	}
	for _, step := range []string{"freeze", "catch_up", "live"} {
		t.Run(step, func(t *testing.T) { testReprocessPostgres(t, step, "", false) })
	}
	t.Run("sink_after_swap", func(t *testing.T) { testReprocessPostgres(t, "", "after_rename=1", false) })
	t.Run("old_runtime_at_freeze", func(t *testing.T) { testReprocessPostgres(t, "old", "", false) })
}

func testReprocessPostgres(t *testing.T, killAfter, sinkFaults string, rollback bool) {
	began := time.Now()
	mark := func(what string) { t.Logf("%5.1fs %s", time.Since(began).Seconds(), what) }
	broker := startBroker(t, "twitter", 4)
	dbName := postgresDatabase(t)
	env := postgresEnv(broker, dbName)
	twitter := filepath.Join(repoRoot(), "pipelines", "twitter-postgres.yaml")
	byLang := byLangPostgres(t)

	truths := make(chan map[string]int64, 1)
	go func() {
		_, truth := runFirehose(t, broker, "twitter", "--count", "15000", "--rate", "3000", "--seed", "13")
		truths <- truth
	}()
	mark("broker and database")
	old := startRuntime(t, twitter, env)
	waitFor(t, 30*time.Second, "the live runtime's first commit", func() bool {
		out, err := exec.Command("psql", testenv.PostgresDSN(dbName), "--no-psqlrc", "-At", "-c", "SELECT count(*) FROM aggregates.twitter").Output()
		return err == nil && strings.TrimSpace(string(out)) != "0"
	})
	reader := startPgReader(t, dbName)
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
	// The firehose may have written more since the reprocess drained; a
	// plain run of the new file continues the live generation.
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

	compareMinutes(t, psqlPerMinute(t, dbName), truth)
	if n := psqlValue(t, dbName, "SELECT count(DISTINCT lang) FROM aggregates.twitter"); n == "0" || n == "1" {
		t.Errorf("table twitter after the swap: %s languages, want the new shape", n)
	}
	if code, out := runAudit(t, byLang, env); code != 0 {
		t.Errorf("audit of the new generation exited %d\n%s", code, out)
	}
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
	if code, out := runSubcommand(t, "rollback", byLang, env); code != 0 {
		t.Fatalf("rollback: exit %d\n%s", code, out)
	}
	mark("rolled back")
	if res := runRuntime(t, twitter, env, "--drain"); res.err != nil {
		t.Fatalf("the old file after the rollback: %v\n%s", res.err, tail(res.stderr))
	}
	compareMinutes(t, psqlPerMinute(t, dbName), truth)
	if code, out := runSubcommand(t, "retire", twitter, env); code != 0 || !strings.Contains(out, "dropped") {
		t.Errorf("retire: exit %d\n%s", code, out)
	}
	if n := psqlValue(t, dbName, "SELECT count(*) FROM information_schema.tables WHERE table_schema = 'aggregates' AND table_name = 'twitter__g2'"); n != "0" {
		t.Errorf("twitter__g2 is still there after retire")
	}
	mark("retired")
}

// TestReprocessPostgresWithLongReader measures the cutover into PostgreSQL
// with a reader transaction that holds table twitter (ACCESS SHARE) for
// 30 s across it (only with KAPPA_CHAOS_FULL=1): how long the cutover took
// and the longest any other reader of the original query waited. The swap
// waits at most 2 s for its ACCESS EXCLUSIVE lock each try (lock_timeout),
// so queries queued behind it wait at most about that long, not 30 s.
//
//	KAPPA_CHAOS_FULL=1 go test -count=1 -v -run TestReprocessPostgresWithLongReader ./e2e
func TestReprocessPostgresWithLongReader(t *testing.T) {
	if os.Getenv("KAPPA_CHAOS_FULL") != "1" {
		t.Skip("takes over 30 s; set KAPPA_CHAOS_FULL=1")
	}
	broker := startBroker(t, "twitter", 4)
	dbName := postgresDatabase(t)
	env := postgresEnv(broker, dbName)
	_, truth := runFirehose(t, broker, "twitter", "--count", "20000", "--seed", "17")
	twitter := filepath.Join(repoRoot(), "pipelines", "twitter-postgres.yaml")
	if res := runRuntime(t, twitter, env, "--drain"); res.err != nil {
		t.Fatalf("drain: %v\n%s", res.err, tail(res.stderr))
	}
	old := startRuntime(t, twitter, env)

	ctx := context.Background()
	long, err := pgx.Connect(ctx, testenv.PostgresDSN(dbName))
	if err != nil {
		t.Fatal(err)
	}
	defer long.Close(ctx)
	tx, err := long.Begin(ctx)
	if err != nil {
		t.Fatal(err)
	}
	var n int64
	if err := tx.QueryRow(ctx, "SELECT count(*) FROM aggregates.twitter").Scan(&n); err != nil {
		t.Fatal(err)
	}
	opened := time.Now()
	reader := startPgReader(t, dbName)

	rep := startReprocess(t, byLangPostgres(t), env, "--drain", "--catch-up", "1s")
	time.Sleep(30*time.Second - time.Since(opened))
	if err := tx.Commit(ctx); err != nil {
		t.Fatal(err)
	}
	if err := rep.wait(t, 120*time.Second); err != nil {
		t.Fatalf("reprocess --drain: %v\n%s", err, tail(rep.stderr.String()))
	}
	reader.finish()
	if err := old.wait(t, 30*time.Second); err != nil {
		t.Fatalf("old runtime: %v", err)
	}
	compareMinutes(t, psqlPerMinute(t, dbName), truth)
	if len(reader.problems) > 0 {
		t.Errorf("the reader saw: %s", strings.Join(reader.problems[:min(5, len(reader.problems))], "; "))
	}
	swapTook, cutoverTook := cutoverFigures(rep.stderr.String())
	t.Logf("PostgreSQL, with a 30 s reader transaction open: the swap step took %s, the cutover (freeze to live) %s; the longest wait of a reader of the original query was %s (over %d reads)",
		swapTook, cutoverTook, reader.longest, reader.reads)
}

// cutoverFigures reads the reprocess's JSON log: how long the swap step
// and the cutover (freeze to live) took; empty when not logged.
func cutoverFigures(log string) (swapTook, cutoverTook string) {
	for _, line := range strings.Split(log, "\n") {
		var l struct {
			Msg         string
			RenameTook  time.Duration `json:"rename_took"`
			CutoverTook time.Duration `json:"cutover_took"`
		}
		if json.Unmarshal([]byte(line), &l) != nil {
			continue
		}
		switch l.Msg {
		case "tables swapped":
			swapTook = l.RenameTook.String()
		case "generation is live":
			cutoverTook = l.CutoverTook.String()
		}
	}
	return swapTook, cutoverTook
}

// TestReprocessPostgresRefusesDeletedHistory is
// TestReprocessRefusesDeletedHistory into PostgreSQL: a topic whose start
// retention deleted is refused, naming the offsets it would miss.
func TestReprocessPostgresRefusesDeletedHistory(t *testing.T) {
	broker := startBroker(t, "twitter", 2)
	dbName := postgresDatabase(t)
	env := postgresEnv(broker, dbName)
	runFirehose(t, broker, "twitter", "--count", "2000", "--seed", "5")
	twitter := filepath.Join(repoRoot(), "pipelines", "twitter-postgres.yaml")
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
	code, out := runSubcommand(t, "reprocess", byLangPostgres(t), env, "--drain")
	if code != 1 || !strings.Contains(out, "partition 1: offsets 0 to 99") || !strings.Contains(out, "retention") {
		t.Fatalf("reprocess over deleted history: exit %d, want 1 naming partition 1's offsets 0 to 99\n%s", code, tail(out))
	}
	if n := psqlValue(t, dbName, "SELECT count(*) FROM aggregates.kappa_generations"); n != "1" {
		t.Errorf("%s generations recorded after the refusal, want generation 1 only", n)
	}
}
