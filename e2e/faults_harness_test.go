package e2e

import (
	"bytes"
	"database/sql"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// Helpers of the failure tests: a runtime that runs in the background,
// its plugin processes, and waiting on conditions instead of sleeping.

// lockedBuffer is a bytes.Buffer that a process writes while a test reads.
type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (b *lockedBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.Write(p)
}

func (b *lockedBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.String()
}

// backgroundRuntime is a kappa-runtime started by a test.
type backgroundRuntime struct {
	cmd    *exec.Cmd
	stderr *lockedBuffer
	done   chan struct{}
	err    error // set when done is closed
}

// startRuntime starts kappa-runtime on pipelineFile; it is killed when the
// test ends if it still runs.
func startRuntime(t *testing.T, pipelineFile string, env []string, args ...string) *backgroundRuntime {
	t.Helper()
	return startKappaRuntime(t, append(append([]string{"--log-json"}, args...), pipelineFile), env, false)
}

// startKappaRuntime starts `kappa-runtime ARGS` with env added to the
// test's, keeping its stderr. When the test ends it is killed if it still
// runs, and with group it leads a process group of its own (as under
// systemd, so that a test can signal the group), killed as a whole.
func startKappaRuntime(t *testing.T, args, env []string, group bool) *backgroundRuntime {
	t.Helper()
	cmd := exec.Command(filepath.Join(bins(t), "kappa-runtime"), args...)
	cmd.Env = append(os.Environ(), env...)
	if group {
		cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	}
	r := &backgroundRuntime{cmd: cmd, stderr: &lockedBuffer{}, done: make(chan struct{})}
	cmd.Stderr = r.stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() {
		r.err = cmd.Wait()
		close(r.done)
	}()
	t.Cleanup(func() {
		if group {
			syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
		} else {
			cmd.Process.Kill()
		}
		<-r.done
	})
	return r
}

func (r *backgroundRuntime) exited() bool {
	select {
	case <-r.done:
		return true
	default:
		return false
	}
}

// wait waits up to d for the runtime to exit and returns its error.
func (r *backgroundRuntime) wait(t *testing.T, d time.Duration) error {
	t.Helper()
	select {
	case <-r.done:
		return r.err
	case <-time.After(d):
		t.Fatalf("runtime did not exit within %s\n%s", d, tail(r.stderr.String()))
		return nil
	}
}

// kill9 kills the runtime with SIGKILL and waits until it is gone.
func (r *backgroundRuntime) kill9(t *testing.T) {
	t.Helper()
	r.cmd.Process.Signal(syscall.SIGKILL)
	r.wait(t, 10*time.Second)
}

// logCount counts the runtime's log lines whose message is msg.
func (r *backgroundRuntime) logCount(msg string) int {
	return strings.Count(r.stderr.String(), `"msg":"`+msg+`"`)
}

// waitFor polls cond until it holds or d passes.
func waitFor(t *testing.T, d time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(d)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %s waiting for %s", d, what)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// pluginNames are the process names (comm) of the plugin binaries.
var pluginNames = []string{"kafka-source", "tweet-extractor", "mysql-sink"}

// childProcesses maps the comm name of each live child of pid to its pid.
func childProcesses(pid int) map[string]int {
	out := map[string]int{}
	entries, _ := os.ReadDir("/proc")
	for _, e := range entries {
		child, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		comm, ppid, state, ok := procStat(child)
		if ok && ppid == pid && state != "Z" {
			out[comm] = child
		}
	}
	return out
}

// procStat reads a process's name, parent and state from /proc.
func procStat(pid int) (comm string, ppid int, state string, ok bool) {
	data, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return "", 0, "", false
	}
	// "pid (comm) state ppid …"; comm may hold spaces and parentheses.
	s := string(data)
	open, close := strings.IndexByte(s, '('), strings.LastIndexByte(s, ')')
	if open < 0 || close < open {
		return "", 0, "", false
	}
	fields := strings.Fields(s[close+1:])
	if len(fields) < 2 {
		return "", 0, "", false
	}
	ppid, _ = strconv.Atoi(fields[1])
	return s[open+1 : close], ppid, fields[0], true
}

// alive reports whether pid is a process that has not exited (a zombie
// waiting to be reaped counts as exited).
func alive(pid int) bool {
	_, _, state, ok := procStat(pid)
	return ok && state != "Z" && !errors.Is(syscall.Kill(pid, 0), syscall.ESRCH)
}

// pluginPids waits until the runtime has its three plugins running and
// returns their pids by name.
func (r *backgroundRuntime) pluginPids(t *testing.T) map[string]int {
	t.Helper()
	var pids map[string]int
	waitFor(t, 30*time.Second, "the three plugin processes", func() bool {
		pids = childProcesses(r.cmd.Process.Pid)
		for _, n := range pluginNames {
			if pids[n] == 0 {
				return false
			}
		}
		return true
	})
	return pids
}

// committedCount is the number of tweets counted so far in database.table.
func committedCount(db *sql.DB, database, table string) int64 {
	var n int64
	db.QueryRow(fmt.Sprintf("SELECT COALESCE(SUM(count), 0) FROM %s.%s", database, table)).Scan(&n)
	return n
}

// connectionsTo counts the server's connections whose current database is
// database, and the open InnoDB transactions among them.
func connectionsTo(t *testing.T, db *sql.DB, database string) (conns, trxs int) {
	t.Helper()
	if err := db.QueryRow("SELECT COUNT(*) FROM information_schema.PROCESSLIST WHERE DB = ?", database).Scan(&conns); err != nil {
		t.Fatal(err)
	}
	err := db.QueryRow(`SELECT COUNT(*) FROM information_schema.INNODB_TRX t
		JOIN information_schema.PROCESSLIST p ON p.ID = t.trx_mysql_thread_id WHERE p.DB = ?`, database).Scan(&trxs)
	if err != nil {
		t.Fatal(err)
	}
	return conns, trxs
}

// producing starts the firehose in the background; the returned function
// waits for it and returns its ground truth.
func producing(t *testing.T, broker, topic string, args ...string) func() (firehoseSummary, map[string]int64) {
	type result struct {
		summary firehoseSummary
		truth   map[string]int64
	}
	done := make(chan result, 1)
	go func() {
		s, truth := runFirehose(t, broker, topic, args...)
		done <- result{s, truth}
	}()
	return func() (firehoseSummary, map[string]int64) {
		r := <-done
		return r.summary, r.truth
	}
}
