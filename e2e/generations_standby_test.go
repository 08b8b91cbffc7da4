package e2e

import (
	"maps"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

// TestOldGenerationStandsByUntilRollback: a live runtime on
// pipelines/twitter.yaml with `on_generation_ended: standby` and --http; a
// reprocess --drain of the pipeline changed to count per language into the
// same table replaces its generation. The old runtime stays up, /status
// says it stands by and names the live generation, and it commits nothing
// of what is produced next; `kappa-runtime rollback` makes its generation
// live again, and it resumes from its positions: table twitter ends equal
// to the ground truth of everything produced.
func TestOldGenerationStandsByUntilRollback(t *testing.T) {
	broker := startBroker(t, "twitter", 2)
	dbName, db := database(t)
	env := twitterEnv(broker, dbName)
	text, err := os.ReadFile(filepath.Join(repoRoot(), "pipelines", "twitter.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	twitter := filepath.Join(t.TempDir(), "twitter.yaml")
	if err := os.WriteFile(twitter, append(text, "on_generation_ended: standby\n"...), 0o644); err != nil {
		t.Fatal(err)
	}
	byLang := byLangAsTwitter(t, sinkDB{name: dbName, db: db})

	_, truth := runFirehose(t, broker, "twitter", "--count", "4000", "--seed", "31")
	addr := freeAddr(t)
	old := startRuntime(t, twitter, env, "--http", addr)
	caughtUp := func(table string, want map[string]int64) func() bool {
		return func() bool {
			if old.exited() {
				t.Fatalf("the old runtime exited: %v\n%s", old.err, tail(old.stderr.String()))
			}
			var n int
			db.QueryRow("SELECT COUNT(*) FROM information_schema.TABLES WHERE TABLE_SCHEMA = ? AND TABLE_NAME = ?", dbName, table).Scan(&n)
			return n == 1 && maps.Equal(perMinute(t, db, dbName, table), want)
		}
	}
	waitFor(t, 30*time.Second, "generation 1 to count the first records", caughtUp("twitter", truth))
	t.Logf("%s generation 1 caught up", time.Now().Format("15:04:05.000"))

	if code, out := runSubcommand(t, "reprocess", byLang, env, "--drain", "--catch-up", "2s"); code != 0 {
		t.Fatalf("reprocess --drain: exit %d\n%s", code, tail(out))
	}
	t.Logf("%s reprocessed", time.Now().Format("15:04:05.000"))
	var st struct {
		State      string `json:"state"`
		Role       string `json:"role"`
		Generation string `json:"generation_ended"`
	}
	waitFor(t, 15*time.Second, "the old runtime to stand by", func() bool {
		if old.exited() {
			t.Fatalf("the old runtime exited: %v\n%s", old.err, tail(old.stderr.String()))
		}
		getJSON(t, "http://"+addr+"/status", &st)
		return st.Generation != ""
	})
	if st.State != "standby" || st.Role != "standby" || !strings.Contains(st.Generation, `generation 2 (pipeline "twitter-by-lang") is live`) {
		t.Errorf("/status of the old runtime: state %q role %q generation_ended %q; want standby naming generation 2 live", st.State, st.Role, st.Generation)
	}

	// What is produced now, generation 1 does not commit while standing
	// by: its table (twitter__g1 since the swap) keeps the first records'
	// counts for a few batch intervals.
	t.Logf("%s standing by", time.Now().Format("15:04:05.000"))
	_, more := runFirehose(t, broker, "twitter", "--count", "2000", "--seed", "32")
	time.Sleep(3 * time.Second)
	if got := perMinute(t, db, dbName, "twitter__g1"); !maps.Equal(got, truth) {
		t.Errorf("generation 1 committed while standing by")
		compareMinutes(t, got, truth)
	}
	if old.exited() {
		t.Fatalf("the old runtime exited while standing by: %v\n%s", old.err, tail(old.stderr.String()))
	}

	if code, out := runSubcommand(t, "rollback", byLang, env); code != 0 {
		t.Fatalf("rollback: exit %d\n%s", code, tail(out))
	}
	t.Logf("%s rolled back", time.Now().Format("15:04:05.000"))
	for m, n := range more {
		truth[m] += n
	}
	waitFor(t, 30*time.Second, "the old runtime to resume and count everything", caughtUp("twitter", truth))
	st.Generation = "" // omitted when none
	getJSON(t, "http://"+addr+"/status", &st)
	if st.Generation != "" || st.State != "running" {
		t.Errorf("/status after the rollback: state %q generation_ended %q, want running and none", st.State, st.Generation)
	}
	t.Logf("%s resumed", time.Now().Format("15:04:05.000"))
	old.cmd.Process.Signal(syscall.SIGTERM)
	if err := old.wait(t, 30*time.Second); err != nil {
		t.Errorf("the old runtime exited with %v after SIGTERM, want 0", err)
	}
	for msg, want := range map[string]int{
		"generation ended: nothing more is committed; standing by until a rollback makes this generation live again (on_generation_ended: standby)": 1,
		"generation live again: resuming from its committed positions":                                                                              1,
	} {
		if n := old.logCount(msg); n != want {
			t.Errorf("the old runtime logged %q %d times, want %d\n%s", msg, n, want, tail(old.stderr.String()))
		}
	}
}
