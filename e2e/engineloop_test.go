package e2e

import (
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

// How the runtime's loop ends: giving up on commits that keep failing,
// riding out a database that goes away before the first commit, and a
// drain that a signal interrupts.

// exitCode returns the exit status of a process that has exited, or -1
// when err is not an exit status.
func exitCode(err error) int {
	if err == nil {
		return 0
	}
	var exit *exec.ExitError
	if errors.As(err, &exit) {
		return exit.ExitCode()
	}
	return -1
}

// finalError returns the error line kappa-runtime printed last.
func finalError(stderr string) string {
	lines := strings.Split(strings.TrimSpace(stderr), "\n")
	for i := len(lines) - 1; i >= 0; i-- {
		if strings.HasPrefix(lines[i], "kappa-runtime: ") {
			return lines[i]
		}
	}
	return ""
}

// createTables runs a drain on an empty topic: the sink creates its
// tables, and nothing is committed.
func createTables(t *testing.T, pipelineFile string, env []string) {
	t.Helper()
	if res := runRuntime(t, pipelineFile, env, "--drain"); res.err != nil {
		t.Fatalf("drain of the empty topic: %v\n%s", res.err, tail(res.stderr))
	}
}

// Every commit fails (a trigger refuses every batch record): the runtime
// must give up after the pipeline's give_up_after and exit non-zero,
// saying so, instead of retrying forever.
func TestRuntimeGivesUpWhenEveryCommitFails(t *testing.T) {
	broker := startBroker(t, "twitter", 4)
	dbName, db := database(t)
	env := twitterEnv(broker, dbName)
	pipelineFile := shortBatches(t, "give_up_after: 5s\n")
	createTables(t, pipelineFile, env)
	// SQLSTATE 45000 is an unhandled user exception: the sink has no
	// reason to call it permanent, so the runtime retries it.
	trigger := fmt.Sprintf("CREATE TRIGGER %[1]s.refuse_every_commit BEFORE INSERT ON %[1]s.kappa_batches "+
		"FOR EACH ROW SIGNAL SQLSTATE '45000' SET MESSAGE_TEXT = 'test trigger: every commit fails'", dbName)
	if _, err := db.Exec(trigger); err != nil {
		t.Fatal(err)
	}
	runFirehose(t, broker, "twitter", "--count", "2000", "--seed", "61")

	rt := startRuntime(t, pipelineFile, env)
	err := rt.wait(t, 90*time.Second)
	log := rt.stderr.String()
	if code := exitCode(err); code != 1 {
		t.Fatalf("runtime whose commits all fail: %v (exit %d), want exit 1\n%s", err, code, tail(log))
	}
	for _, want := range []string{"gave up after batches kept failing for", "give_up_after is 5s", "test trigger: every commit fails"} {
		if !strings.Contains(log, want) {
			t.Errorf("the runtime's output does not say %q\n%s", want, tail(log))
		}
	}
	if n := committedCount(db, dbName, "twitter"); n != 0 {
		t.Errorf("%d tweets committed although every commit fails", n)
	}
	t.Logf("%d failed batches and %d failed resumes before giving up; it said:\n%s",
		rt.logCount("batch failed; re-reading committed positions"), rt.logCount("resume failed"), finalError(log))
}

// The database goes away right when the runtime first reads the
// positions of an empty database, and again at its first commit (whose
// positions it then cannot read): the runtime reads nothing until it has
// read the positions and sought the source, rides out both outages, and
// every minute ends up exact.
func TestDatabaseOutageBeforeTheFirstCommit(t *testing.T) {
	const down = 5 * time.Second
	broker := startBroker(t, "twitter", 8)
	dbName, db := database(t)
	proxy := startDBProxy(t)
	proxied := []string{"KAPPA_BROKERS=" + broker, "KAPPA_MYSQL_DSN=" + proxy.dsn(t, dbName)}
	pipelineFile := shortBatches(t, "")
	// The sink's statements, as it sends them (mysqlsink/statements.go):
	// its read of every position, and the fenced UPDATE a commit begins
	// with. Should they change, the waits below time out saying so.
	const positionsQuery, advance = "SELECT `partition_id`, `next_offset`", "UPDATE `kappa_offsets` SET `next_offset`"
	proxy.outageOn(positionsQuery, down)
	proxy.outageOn(advance, down)
	produced := producing(t, broker, "twitter", "--count", "20000", "--rate", "4000", "--seed", "62")

	rt := startRuntime(t, pipelineFile, proxied)
	waitFor(t, 90*time.Second, "the outage at the first read of the positions (a statement holding "+positionsQuery+")", func() bool {
		return proxy.outagesBegun() >= 1 || rt.exited()
	})
	waitFor(t, 120*time.Second, "the outage at the first commit (a statement holding "+advance+")", func() bool {
		return proxy.outagesBegun() >= 2 || rt.exited()
	})
	if rt.exited() {
		t.Fatalf("runtime exited during the outages: %v\n%s", rt.err, tail(rt.stderr.String()))
	}
	waitFor(t, 120*time.Second, "commits after the outages", func() bool {
		return committedCount(db, dbName, "twitter") > 0 || rt.exited()
	})
	_, truth := produced()
	log := rt.stderr.String()
	if rt.logCount("resume failed") == 0 || rt.logCount("batch failed; re-reading committed positions") == 0 {
		t.Fatalf("the runtime logged %d failed resumes and %d failed batches; the outages did not hit what they should\n%s",
			rt.logCount("resume failed"), rt.logCount("batch failed; re-reading committed positions"), tail(log))
	}
	t.Logf("%d outages; the runtime logged %d failed resumes and %d failed batches", proxy.outagesBegun(),
		rt.logCount("resume failed"), rt.logCount("batch failed; re-reading committed positions"))
	stopAndCompare(t, rt, pipelineFile, twitterEnv(broker, dbName), db, dbName, truth)
}

// SIGTERM in the middle of a --drain: the runtime exits 3 and says the
// drain was interrupted, unlike a finished drain; a second drain finishes
// it, exactly.
func TestInterruptedDrainExits3(t *testing.T) {
	broker := startBroker(t, "twitter", 8)
	dbName, db := database(t)
	env := twitterEnv(broker, dbName)
	// Small batches, so that the drain of this backlog takes hundreds of
	// commits and is still running when the signal comes.
	original, err := os.ReadFile(filepath.Join(repoRoot(), "pipelines", "twitter.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	text := strings.Replace(string(original), "max_records: 50000", "max_records: 200", 1)
	if text == string(original) {
		t.Fatal("pipelines/twitter.yaml has no `max_records: 50000` to lower")
	}
	pipelineFile := writePipeline(t, text)
	summary, truth := runFirehose(t, broker, "twitter", "--count", "60000", "--seed", "63")

	rt := startRuntime(t, pipelineFile, env, "--drain")
	waitFor(t, 90*time.Second, "a first committed batch", func() bool {
		return rt.logCount("batch committed") > 0 || rt.exited()
	})
	rt.cmd.Process.Signal(syscall.SIGTERM)
	err = rt.wait(t, 90*time.Second)
	log := rt.stderr.String()
	if code := exitCode(err); code != 3 {
		t.Fatalf("--drain after SIGTERM: %v (exit %d), want exit 3\n%s", err, code, tail(log))
	}
	for _, want := range []string{"drain interrupted before the end", "run --drain again to finish"} {
		if !strings.Contains(log, want) {
			t.Errorf("the interrupted drain does not say %q\n%s", want, tail(log))
		}
	}
	if n := committedCount(db, dbName, "twitter"); n >= sum(truth) {
		t.Fatalf("the interrupted drain committed all %d tweets; it was not interrupted", n)
	}

	res := runRuntime(t, pipelineFile, env, "--drain")
	if res.err != nil {
		t.Fatalf("second drain: %v\n%s", res.err, tail(res.stderr))
	}
	compareMinutes(t, perMinute(t, db, dbName, "twitter"), truth)
	if code, out := runAudit(t, pipelineFile, env); code != 0 {
		t.Errorf("audit: exit %d\n%s", code, out)
	}
	t.Logf("%d records; the interrupted drain committed %d batches and said:\n%s", summary.Records,
		rt.logCount("batch committed"), finalError(log))
}
