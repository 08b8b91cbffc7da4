package e2e

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

// kill -9 of the runtime while batches flow: its plugins exit within a few
// seconds, none keeps a database connection or an open transaction, and a
// later drain still matches the ground truth.
func TestKilledRuntimeLeavesNoPluginNorConnection(t *testing.T) {
	broker := startBroker(t, "twitter", 8)
	dbName, db := database(t)
	env := twitterEnv(broker, dbName)
	pipelineFile := filepath.Join(repoRoot(), "pipelines", "twitter.yaml")
	produced := producing(t, broker, "twitter", "--count", "20000", "--rate", "10000", "--seed", "11")

	rt := startRuntime(t, pipelineFile, env)
	pids := rt.pluginPids(t)
	waitFor(t, 60*time.Second, "a first committed batch", func() bool { return committedCount(db, dbName, "twitter") > 0 })
	if conns, _ := connectionsTo(t, db, dbName); conns == 0 {
		t.Fatalf("the sink holds no connection to %s before the kill; the check below would prove nothing", dbName)
	}
	killed := time.Now()
	rt.kill9(t)
	waitFor(t, 5*time.Second, "every plugin to exit after kill -9 of the runtime", func() bool {
		for _, pid := range pids {
			if alive(pid) {
				return false
			}
		}
		return true
	})
	waitFor(t, 5*time.Second, "the sink's connections to close", func() bool {
		conns, trxs := connectionsTo(t, db, dbName)
		return conns == 0 && trxs == 0
	})
	t.Logf("plugins %v and their connections gone %s after kill -9 of the runtime", pids, time.Since(killed).Round(time.Millisecond))

	_, truth := produced()
	res := runRuntime(t, pipelineFile, env, "--drain")
	if res.err != nil {
		t.Fatalf("drain after kill -9: %v\n%s", res.err, tail(res.stderr))
	}
	compareMinutes(t, perMinute(t, db, dbName, "twitter"), truth)
}

// kill -9 of each plugin in turn while batches flow: the runtime restarts
// it, goes on, stops cleanly on SIGTERM, and nothing is lost or doubled.
func TestKilledPluginsAreRestarted(t *testing.T) {
	broker := startBroker(t, "twitter", 8)
	dbName, db := database(t)
	env := twitterEnv(broker, dbName)
	pipelineFile := filepath.Join(repoRoot(), "pipelines", "twitter.yaml")
	// Writing for 10 s: each of the three rounds needs progress before and
	// after its kill, and the pipeline catches up with a backlog at once.
	produced := producing(t, broker, "twitter", "--count", "40000", "--rate", "4000", "--seed", "12")

	rt := startRuntime(t, pipelineFile, env)
	for i, name := range pluginNames {
		before := committedCount(db, dbName, "twitter")
		waitFor(t, 60*time.Second, "progress before killing "+name, func() bool {
			return committedCount(db, dbName, "twitter") > before
		})
		pid := rt.pluginPids(t)[name]
		if err := syscall.Kill(pid, syscall.SIGKILL); err != nil {
			t.Fatal(err)
		}
		waitFor(t, 30*time.Second, name+" to be restarted", func() bool { return rt.logCount("plugin restarted") > i })
		if rt.exited() {
			t.Fatalf("runtime exited after %s was killed: %v\n%s", name, rt.err, tail(rt.stderr.String()))
		}
		after := committedCount(db, dbName, "twitter")
		waitFor(t, 60*time.Second, "progress after restarting "+name, func() bool {
			return committedCount(db, dbName, "twitter") > after
		})
	}
	// The restarted source and extractor share the runtime's arena again
	// (values cross in it); the sink has no use for it.
	for name, pid := range rt.pluginPids(t) {
		if got, want := mapsArena(t, pid), name != "mysql-sink"; got != want {
			t.Errorf("%s (pid %d) maps the arena: %v, want %v", name, pid, got, want)
		}
	}
	if err := rt.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	if err := rt.wait(t, 60*time.Second); err != nil {
		t.Fatalf("runtime after SIGTERM: %v, want exit 0\n%s", err, tail(rt.stderr.String()))
	}
	if n := rt.logCount("plugin restarted"); n != len(pluginNames) {
		t.Errorf("%d restarts logged, want %d", n, len(pluginNames))
	}

	_, truth := produced()
	res := runRuntime(t, pipelineFile, append(os.Environ(), env...), "--drain")
	if res.err != nil {
		t.Fatalf("drain: %v\n%s", res.err, tail(res.stderr))
	}
	compareMinutes(t, perMinute(t, db, dbName, "twitter"), truth)
}

// mapsArena reports whether process pid has the runtime's shared memory
// (internal/arena) mapped.
func mapsArena(t *testing.T, pid int) bool {
	t.Helper()
	maps, err := os.ReadFile(fmt.Sprintf("/proc/%d/maps", pid))
	if err != nil {
		t.Fatal(err)
	}
	return strings.Contains(string(maps), "memfd:kappa-arena")
}
