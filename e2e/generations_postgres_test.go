package e2e

import (
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

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
	testReprocess(t, postgresDB(t), "swap", "", true)
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
		t.Run(step, func(t *testing.T) { testReprocess(t, postgresDB(t), step, "", false) })
	}
	t.Run("sink_after_swap", func(t *testing.T) { testReprocess(t, postgresDB(t), "", "after_rename=1", false) })
	t.Run("old_runtime_at_freeze", func(t *testing.T) { testReprocess(t, postgresDB(t), "old", "", false) })
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
	d := postgresDB(t)
	env, truth, old := startLongReaderRun(t, d)

	ctx := context.Background()
	long, err := pgx.Connect(ctx, testenv.PostgresDSN(d.name))
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
	reader := startReader(t, d)

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
	compareMinutes(t, d.perMinute(t), truth)
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
	testReprocessRefusesDeletedHistory(t, postgresDB(t))
}
