package e2e

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/kappa-stream/kappa/internal/testenv"
)

// A copied pipeline file names another pipeline (the name defaults to the
// file's) on the same table: it would read everything again into that
// table and double every count. It is refused, naming the table and its
// owner, and the counts stay as they were.
func TestSecondPipelineOnATableIsRefused(t *testing.T) {
	dir := bins(t)
	broker := startBroker(t, "twitter", 2)
	dbName, db := database(t)
	env := []string{"KAPPA_PLUGIN_PATH=" + dir}
	text := strings.Replace(fmt.Sprintf(pipelineTemplate, "kafka-source", broker, testenv.MySQLDSN(dbName)), "name: errors\n", "", 1)
	secondPipelineRefused(t, broker, text, env, fmt.Sprintf(`table %s.twitter belongs to pipeline "a"`, dbName),
		func() map[string]int64 { return perMinute(t, db, dbName, "twitter") })
}

// The same with postgres-sink (pipelines/twitter-postgres.yaml copied).
func TestSecondPipelineOnAPostgresTableIsRefused(t *testing.T) {
	broker := startBroker(t, "twitter", 2)
	dbName := postgresDatabase(t)
	original, err := os.ReadFile(filepath.Join(repoRoot(), "pipelines", "twitter-postgres.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	text := strings.Replace(string(original), "name: twitter\n", "", 1)
	if text == string(original) {
		t.Fatal("pipelines/twitter-postgres.yaml has no `name: twitter` to leave out")
	}
	secondPipelineRefused(t, broker, text, postgresEnv(broker, dbName), `table aggregates.twitter belongs to pipeline "a"`,
		func() map[string]int64 { return psqlPerMinute(t, dbName) })
}

// secondPipelineRefused writes text as a.yaml and b.yaml, drains a.yaml,
// and checks that b.yaml is then refused, saying want and what to do,
// and that the counts perMinute reads stay a.yaml's.
func secondPipelineRefused(t *testing.T, broker, text string, env []string, want string, perMinute func() map[string]int64) {
	t.Helper()
	folder := t.TempDir()
	a, b := filepath.Join(folder, "a.yaml"), filepath.Join(folder, "b.yaml")
	for _, f := range []string{a, b} {
		if err := os.WriteFile(f, []byte(text), 0o644); err != nil {
			t.Fatal(err)
		}
	}

	produceTweetsTo(t, broker, "twitter", 0, 0, 6)
	produceTweetsTo(t, broker, "twitter", 1, 0, 6)
	if res := runRuntime(t, a, env, "--drain"); res.err != nil || res.facts != 12 {
		t.Fatalf("drain of a.yaml: %v, %d facts\n%s", res.err, res.facts, tail(res.stderr))
	}
	before := perMinute()
	if n := sum(before); n != 12 {
		t.Fatalf("a.yaml's drain counted %d tweets, want 12", n)
	}
	// More records, so that b's batches would not repeat a's keys.
	produceTweetsTo(t, broker, "twitter", 0, 6, 3)
	produceTweetsTo(t, broker, "twitter", 1, 6, 3)

	res := runRuntime(t, b, env, "--drain")
	if res.err == nil {
		t.Errorf("b.yaml on a.yaml's table exited 0 (facts %d)", res.facts)
	}
	if !strings.Contains(res.stderr, want) || !strings.Contains(res.stderr, "own table") {
		t.Errorf("the error does not name the table, its owner and what to do (%s)\n%s", want, tail(res.stderr))
	}
	compareMinutes(t, perMinute(), before)
}
