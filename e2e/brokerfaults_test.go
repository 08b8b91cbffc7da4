package e2e

import (
	"net"
	"os/exec"
	"path/filepath"
	"strconv"
	"syscall"
	"testing"
	"time"
)

// devBroker is a `kappa-dev broker` that a test can stop and start again
// on the same address and data.
type devBroker struct {
	addr, dataDir, topic string
	partitions           int
	cmd                  *exec.Cmd
	out                  *lockedBuffer
}

func newDevBroker(t *testing.T, topic string, partitions int) *devBroker {
	t.Helper()
	b := &devBroker{addr: freeAddr(t), dataDir: t.TempDir(), topic: topic, partitions: partitions}
	b.start(t)
	t.Cleanup(b.stop)
	return b
}

func (b *devBroker) start(t *testing.T) {
	t.Helper()
	b.out = &lockedBuffer{}
	b.cmd = exec.Command(filepath.Join(bins(t), "kappa-dev"), "broker", "--addr", b.addr, "--topic", b.topic,
		"--partitions", strconv.Itoa(b.partitions), "--data-dir", b.dataDir)
	b.cmd.Stdout, b.cmd.Stderr = b.out, b.out
	if err := b.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	waitFor(t, 20*time.Second, "the broker to listen on "+b.addr, func() bool {
		c, err := net.DialTimeout("tcp", b.addr, 200*time.Millisecond)
		if err == nil {
			c.Close()
		}
		return err == nil
	})
}

// stop ends the broker cleanly (SIGTERM saves its state: internal/devbroker, Close).
func (b *devBroker) stop() {
	if b.cmd == nil {
		return
	}
	b.cmd.Process.Signal(syscall.SIGTERM)
	b.cmd.Wait()
	b.cmd = nil
}

// The broker goes away for a while during a run: the runtime waits and
// retries, says so in its log, and resumes when the broker is back.
func TestBrokerUnreachableForAWhile(t *testing.T) {
	broker := newDevBroker(t, "twitter", 8)
	dbName, db := database(t)
	env := twitterEnv(broker.addr, dbName)
	pipelineFile := shortBatches(t, "")
	first, truth1 := runFirehose(t, broker.addr, "twitter", "--count", "10000", "--seed", "51")
	rt := startRuntime(t, pipelineFile, env)
	waitFor(t, 60*time.Second, "the first records to be counted", func() bool {
		return committedCount(db, dbName, "twitter") == sum(truth1)
	})

	broker.stop()
	failed := rt.logCount("batch failed; re-reading committed positions") + rt.logCount("resume failed")
	waitFor(t, 60*time.Second, "the runtime to notice the broker is gone", func() bool {
		return rt.logCount("batch failed; re-reading committed positions")+rt.logCount("resume failed") > failed
	})
	if rt.exited() {
		t.Fatalf("runtime exited while the broker was away: %v\n%s", rt.err, tail(rt.stderr.String()))
	}
	broker.start(t)
	second, truth2 := runFirehose(t, broker.addr, "twitter", "--count", "10000", "--seed", "52", "--start", "2016-06-02T00:00:00Z")
	for m, n := range truth2 {
		truth1[m] += n
	}
	waitFor(t, 90*time.Second, "the records produced after the outage to be counted", func() bool {
		return committedCount(db, dbName, "twitter") == sum(truth1)
	})
	t.Logf("records %d + %d; runtime log: %d failed batches, %d failed resumes",
		first.Records, second.Records, rt.logCount("batch failed; re-reading committed positions"), rt.logCount("resume failed"))
	stopAndCompare(t, rt, pipelineFile, env, db, dbName, truth1)
}
