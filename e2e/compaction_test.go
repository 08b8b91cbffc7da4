package e2e

import (
	"bytes"
	"context"
	"database/sql"
	"fmt"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// compactionPipeline is pipelines/twitter.yaml with small batches, so that
// a drain commits many ranges per partition, and the given compaction block.
func compactionPipeline(t *testing.T, compaction string) string {
	t.Helper()
	original, err := os.ReadFile(filepath.Join(repoRoot(), "pipelines", "twitter.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	text := strings.Replace(string(original), "interval: 1s", "interval: 200ms", 1)
	text = strings.Replace(text, "max_records: 50000", "max_records: 300", 1)
	if !strings.Contains(text, "max_records: 300") || !strings.Contains(text, "interval: 200ms") {
		t.Fatal("pipelines/twitter.yaml has no `interval: 1s` and `max_records: 50000` to shrink")
	}
	return writePipeline(t, text+compaction)
}

// runCompact runs `kappa-runtime compact` and returns its output; it fails
// the test unless it exits 0.
func runCompact(t *testing.T, pipelineFile string, env []string, args ...string) string {
	t.Helper()
	out, err := compactCmd(pipelineFile, env, args...).CombinedOutput()
	if err != nil {
		t.Fatalf("kappa-runtime compact: %v\n%s", err, out)
	}
	return string(out)
}

func compactCmd(pipelineFile string, env []string, args ...string) *exec.Cmd {
	cmd := exec.Command(filepath.Join(binDir, "kappa-runtime"), append(append([]string{"compact"}, args...), pipelineFile)...)
	cmd.Env = append(os.Environ(), env...)
	return cmd
}

// tableCounts are the aggregate rows, the distinct (partition, minute)
// among them, and the batch records.
func tableCounts(t *testing.T, db *sql.DB, dbName string) (rows, buckets, batches int64) {
	t.Helper()
	q := fmt.Sprintf("SELECT (SELECT COUNT(*) FROM %[1]s.twitter), "+
		"(SELECT COUNT(*) FROM (SELECT DISTINCT partition_id, timestamp FROM %[1]s.twitter) d), "+
		"(SELECT COUNT(*) FROM %[1]s.kappa_batches)", dbName)
	if err := db.QueryRow(q).Scan(&rows, &buckets, &batches); err != nil {
		t.Fatal(err)
	}
	return rows, buckets, batches
}

func checkAuditClean(t *testing.T, pipelineFile string, env []string) {
	t.Helper()
	if code, out := runAudit(t, pipelineFile, env); code != 0 || !strings.Contains(out, "audit clean") {
		t.Fatalf("audit: exit %d\n%s", code, out)
	}
}

// Acceptance (b): after a drain in small batches, `compact --older-than 0s`
// leaves one row per (partition, minute) and one batch record per
// partition; the original query still equals the ground truth, and the
// audit is clean.
func TestCompactAfterDrainLeavesOneRowPerPartitionMinute(t *testing.T) {
	broker := startBroker(t, "twitter", 8)
	dbName, db := database(t)
	env := twitterEnv(broker, dbName)
	pipelineFile := compactionPipeline(t, "compaction: off\n")
	_, truth := runFirehose(t, broker, "twitter", "--count", "20000", "--seed", "1010")
	if res := runRuntime(t, pipelineFile, env, "--drain"); res.err != nil {
		t.Fatalf("drain: %v\n%s", res.err, tail(res.stderr))
	}
	compareMinutes(t, perMinute(t, db, dbName, "twitter"), truth)
	rows, buckets, batches := tableCounts(t, db, dbName)
	t.Logf("after the drain: %d aggregate rows, %d distinct (partition, minute), %d batch records", rows, buckets, batches)
	if rows <= buckets || batches <= 8 {
		t.Fatalf("the drain left %d rows for %d buckets and %d batch records: nothing to compact, the test proves nothing", rows, buckets, batches)
	}

	out := runCompact(t, pipelineFile, env, "--older-than", "0s")
	t.Logf("kappa-runtime compact:\n%s", out)
	want := fmt.Sprintf("aggregate rows: %d before, %d after", rows, buckets)
	if !strings.Contains(out, want) || !strings.Contains(out, fmt.Sprintf("batch records:  %d before, 8 after", batches)) {
		t.Errorf("compact printed\n%s\nwant %q and %d → 8 batch records", out, want, batches)
	}
	rows, after, batches := tableCounts(t, db, dbName)
	if rows != buckets || after != buckets || batches != 8 {
		t.Errorf("after compact: %d rows for %d buckets (%d before) and %d batch records; want one row per bucket and 8 records", rows, after, buckets, batches)
	}
	compareMinutes(t, perMinute(t, db, dbName, "twitter"), truth)
	checkAuditClean(t, pipelineFile, env)

	// The default --older-than is the pipeline's compaction.after (10m):
	// nothing new is that old, so a second run merges nothing.
	// compaction: off leaves that default as it is.
	if out := runCompact(t, pipelineFile, env); !strings.Contains(out, "spans merged: 0") || !strings.Contains(out, "committed more than 10m0s ago") {
		t.Errorf("a second compact, by default older than 10m, printed:\n%s", out)
	}
}

// snapshotReader runs the original query in a loop, each time in one
// snapshot with the batch records' facts, and reports any read whose
// total differs from the facts committed at that moment, any total that
// shrank and any minute whose count went down.
type snapshotReader struct {
	reads    int
	problems []string
}

func (r *snapshotReader) run(ctx context.Context, db *sql.DB, dbName string) {
	last := map[string]int64{}
	var lastTotal int64
	for ctx.Err() == nil {
		got, facts, err := readSnapshot(ctx, db, dbName)
		if err != nil {
			time.Sleep(50 * time.Millisecond) // tables not made yet, or a server hiccup
			continue
		}
		r.reads++
		var total int64
		for m, n := range got {
			total += n
			if n < last[m] {
				r.problems = append(r.problems, fmt.Sprintf("read %d: minute %s went from %d to %d", r.reads, m, last[m], n))
			}
		}
		if total != facts {
			r.problems = append(r.problems, fmt.Sprintf("read %d: the original query totals %d, the batch records %d facts", r.reads, total, facts))
		}
		if total < lastTotal {
			r.problems = append(r.problems, fmt.Sprintf("read %d: total went from %d to %d", r.reads, lastTotal, total))
		}
		last, lastTotal = got, total
	}
}

func readSnapshot(ctx context.Context, db *sql.DB, dbName string) (map[string]int64, int64, error) {
	tx, err := db.BeginTx(ctx, &sql.TxOptions{Isolation: sql.LevelRepeatableRead, ReadOnly: true})
	if err != nil {
		return nil, 0, err
	}
	defer tx.Rollback()
	// The first read fixes the snapshot both statements see.
	var facts int64
	if err := tx.QueryRowContext(ctx, fmt.Sprintf("SELECT COALESCE(SUM(facts), 0) FROM %s.kappa_batches", dbName)).Scan(&facts); err != nil {
		return nil, 0, err
	}
	rows, err := tx.QueryContext(ctx, fmt.Sprintf("SELECT timestamp, sum(count) FROM %s.twitter GROUP BY timestamp", dbName))
	if err != nil {
		return nil, 0, err
	}
	defer rows.Close()
	got := map[string]int64{}
	for rows.Next() {
		var ts string
		var n int64
		if err := rows.Scan(&ts, &n); err != nil {
			return nil, 0, err
		}
		got[ts] = n
	}
	return got, facts, rows.Err()
}

// Acceptance (c) and (d): compaction every 2s inside the runtime, while
// the runtime and the sink are killed at random instants and a second
// compactor (`kappa-runtime compact`) runs beside it; a reader running the
// original query throughout never sees a total other than the committed
// facts, nor a minute going down; at the end the counts are exact and the
// audit is clean.
func TestCompactionUnderKillsIsExactAndReadersSeeNoDip(t *testing.T) {
	broker := startBroker(t, "twitter", 8)
	dbName, db := database(t)
	env := twitterEnv(broker, dbName)
	pipelineFile := compactionPipeline(t, "compaction:\n  after: 0s\n  every: 2s\n")
	seed := uint64(time.Now().UnixNano())
	t.Logf("seed %d", seed)
	rng := rand.New(rand.NewPCG(seed, 10))
	produced := producing(t, broker, "twitter", "--count", "30000", "--rate", "2500", "--seed", fmt.Sprint(seed))

	ctx, stopReader := context.WithCancel(context.Background())
	reader := &snapshotReader{}
	var readerDone sync.WaitGroup
	readerDone.Add(1)
	go func() {
		defer readerDone.Done()
		reader.run(ctx, db, dbName)
	}()
	defer func() { stopReader(); readerDone.Wait() }()

	kills := map[string]int{}
	var compactors []*exec.Cmd
	var compactorOut []*bytes.Buffer
	rt := startRuntime(t, pipelineFile, env)
	began := time.Now()
	for time.Since(began) < 14*time.Second {
		time.Sleep(time.Duration(500+rng.IntN(2000)) * time.Millisecond)
		switch action := rng.IntN(6); {
		case action < 2:
			rt.kill9(t)
			kills["runtime"]++
			rt = startRuntime(t, pipelineFile, env)
		case action < 4:
			if pid := childProcesses(rt.cmd.Process.Pid)["mysql-sink"]; pid != 0 {
				syscall.Kill(pid, syscall.SIGKILL)
				kills["sink"]++
			}
		default:
			// A second compactor beside the runtime's, merging everything.
			cmd := compactCmd(pipelineFile, env, "--older-than", "0s")
			var out bytes.Buffer
			cmd.Stdout, cmd.Stderr = &out, &out
			if err := cmd.Start(); err != nil {
				t.Fatal(err)
			}
			compactors = append(compactors, cmd)
			compactorOut = append(compactorOut, &out)
			kills["second compactor started"]++
		}
	}
	_, truth := produced()
	// Let the last runtime commit and compact a few more passes, then stop it.
	time.Sleep(5 * time.Second)
	rt.kill9(t)
	t.Logf("compaction passes that merged something, last runtime: %d", rt.logCount("compacted"))
	for i, cmd := range compactors {
		if err := cmd.Wait(); err != nil {
			t.Errorf("second compactor %d: %v\n%s", i, err, compactorOut[i])
		}
	}
	final := runRuntime(t, pipelineFile, env, "--drain")
	if final.err != nil {
		t.Fatalf("final drain: %v\n%s", final.err, tail(final.stderr))
	}
	runCompact(t, pipelineFile, env, "--older-than", "0s")
	stopReader()
	readerDone.Wait()

	compareMinutes(t, perMinute(t, db, dbName, "twitter"), truth)
	checkAuditClean(t, pipelineFile, env)
	rows, buckets, batches := tableCounts(t, db, dbName)
	if rows != buckets || batches != 8 {
		t.Errorf("after the last compact: %d rows for %d buckets, %d batch records; want one per bucket and 8", rows, buckets, batches)
	}
	t.Logf("kills %v; %d reads of the original query during compaction", kills, reader.reads)
	if reader.reads < 10 {
		t.Errorf("only %d reads: the reader did not watch compaction", reader.reads)
	}
	if len(reader.problems) > 0 {
		if len(reader.problems) > 20 {
			reader.problems = reader.problems[:20]
		}
		t.Errorf("readers saw:\n%s", strings.Join(reader.problems, "\n"))
	}
}
