package e2e

import (
	"bytes"
	"context"
	"fmt"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/kappa-stream/kappa/internal/testenv"
)

// The trust boundaries between the runtime and its plugin processes:
// which binary runs, what environment it gets, what it leaves behind.

// A pipeline file named from its own folder (`kappa-runtime p.yaml`): the
// plugins beside it run, never binaries of the same names found earlier
// on $PATH, which would receive the pipeline's config (the DSN with its
// password).
func TestPluginsBesideThePipelineRunNotThoseOnPath(t *testing.T) {
	bin := bins(t)
	broker := startBroker(t, "twitter", 2)
	dbName, db := database(t)
	_, truth := runFirehose(t, broker, "twitter", "--count", "300", "--seed", "31")

	// The pipeline's folder holds the real plugins; a folder first on
	// $PATH holds impostors that leave a mark when they run.
	dir, impostors := t.TempDir(), t.TempDir()
	marks := filepath.Join(t.TempDir(), "ran")
	for _, name := range pluginNames {
		if err := os.Symlink(filepath.Join(bin, name), filepath.Join(dir, name)); err != nil {
			t.Fatal(err)
		}
		script := "#!/bin/sh\necho " + name + " >> " + marks + "\nexit 1\n"
		if err := os.WriteFile(filepath.Join(impostors, name), []byte(script), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	text, err := os.ReadFile(filepath.Join(repoRoot(), "pipelines", "twitter.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "p.yaml"), text, 0o644); err != nil {
		t.Fatal(err)
	}

	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, filepath.Join(bin, "kappa-runtime"), "--drain", "p.yaml")
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), append(twitterEnv(broker, dbName), "PATH="+impostors+":"+os.Getenv("PATH"))...)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	err = cmd.Run()
	if ran, _ := os.ReadFile(marks); len(ran) > 0 {
		t.Errorf("binaries found on $PATH ran instead of the pipeline's plugins: %s", strings.Fields(string(ran)))
	}
	if err != nil {
		t.Fatalf("kappa-runtime --drain p.yaml in %s: %v\n%s", dir, err, tail(stderr.String()))
	}
	compareMinutes(t, perMinute(t, db, dbName, "twitter"), truth)
}

// environ reads the environment process pid started with.
func environ(t *testing.T, pid int) map[string]string {
	t.Helper()
	data, err := os.ReadFile(fmt.Sprintf("/proc/%d/environ", pid))
	if err != nil {
		t.Fatal(err)
	}
	env := map[string]string{}
	for _, kv := range strings.Split(string(data), "\x00") {
		if name, value, ok := strings.Cut(kv, "="); ok {
			env[name] = value
		}
	}
	return env
}

// A plugin process gets a minimal environment and what its block's `env:`
// declares, never the rest of the runtime's: not the sink's DSN with its
// secret, not an unrelated variable.
func TestPluginsGetOnlyTheirEnvironment(t *testing.T) {
	broker := startBroker(t, "twitter", 2)
	dbName, db := database(t)
	produced := producing(t, broker, "twitter", "--count", "2000", "--seed", "32")
	const secret = "s3cret-marker-7f41"
	env := []string{
		"KAPPA_BROKERS=" + broker,
		// A DSN that carries the marker and still connects.
		"KAPPA_MYSQL_DSN=" + testenv.MySQLDSN(dbName) + "?connectionAttributes=marker:" + secret,
		"KAPPA_E2E_UNRELATED=unrelated-7f41",
		"KAPPA_E2E_FOR_SOURCE=for-the-source-7f41",
	}
	text, err := os.ReadFile(filepath.Join(repoRoot(), "pipelines", "twitter.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	declared := strings.Replace(string(text), "  plugin: kafka-source\n", "  plugin: kafka-source\n  env: [KAPPA_E2E_FOR_SOURCE]\n", 1)
	if declared == string(text) {
		t.Fatal("pipelines/twitter.yaml has no `plugin: kafka-source` line")
	}
	rt := startRuntime(t, writePipeline(t, declared), env)
	pids := rt.pluginPids(t)
	waitFor(t, 60*time.Second, "a first committed batch", func() bool { return committedCount(db, dbName, "twitter") > 0 })

	for name, pid := range pids {
		vars := environ(t, pid)
		for k, v := range vars {
			if strings.Contains(v, secret) {
				t.Errorf("%s (pid %d) can read the sink's secret in its environment: %s", name, pid, k)
			}
		}
		if _, ok := vars["KAPPA_E2E_UNRELATED"]; ok {
			t.Errorf("%s (pid %d) got KAPPA_E2E_UNRELATED, which no block declares", name, pid)
		}
		got, want := vars["KAPPA_E2E_FOR_SOURCE"], ""
		if name == "kafka-source" {
			want = "for-the-source-7f41"
		}
		if got != want {
			t.Errorf("%s (pid %d): KAPPA_E2E_FOR_SOURCE=%q, want %q (declared in the source's env: only)", name, pid, got, want)
		}
		if _, ok := vars["PATH"]; !ok {
			t.Errorf("%s (pid %d) has no PATH", name, pid)
		}
	}
	// The arena: the source writes values there, the extractor only
	// reads them, through a read-only descriptor.
	for name, want := range map[string]int{"kafka-source": syscall.O_RDWR, "tweet-extractor": syscall.O_RDONLY} {
		if got := arenaAccess(t, pids[name]); got != want {
			t.Errorf("%s (pid %d) holds the arena with access mode %#o, want %#o", name, pids[name], got, want)
		}
	}
	rt.cmd.Process.Signal(syscall.SIGTERM)
	if err := rt.wait(t, 60*time.Second); err != nil {
		t.Fatalf("runtime after SIGTERM: %v, want exit 0\n%s", err, tail(rt.stderr.String()))
	}
	produced()
}

// arenaAccess returns the access mode (O_RDONLY, O_RDWR) of process pid's
// descriptor of the runtime's shared memory, from /proc/PID/fdinfo.
func arenaAccess(t *testing.T, pid int) int {
	t.Helper()
	fds, err := os.ReadDir(fmt.Sprintf("/proc/%d/fd", pid))
	if err != nil {
		t.Fatal(err)
	}
	for _, fd := range fds {
		target, err := os.Readlink(fmt.Sprintf("/proc/%d/fd/%s", pid, fd.Name()))
		if err != nil || !strings.HasPrefix(target, "/memfd:kappa-arena") {
			continue
		}
		info, err := os.ReadFile(fmt.Sprintf("/proc/%d/fdinfo/%s", pid, fd.Name()))
		if err != nil {
			t.Fatal(err)
		}
		for _, line := range strings.Split(string(info), "\n") {
			if v, ok := strings.CutPrefix(line, "flags:"); ok {
				flags, err := strconv.ParseInt(strings.TrimSpace(v), 8, 64)
				if err != nil {
					t.Fatalf("fdinfo flags %q: %v", v, err)
				}
				return int(flags) & syscall.O_ACCMODE
			}
		}
	}
	t.Fatalf("process %d holds no descriptor of the arena", pid)
	return -1
}

// startRuntimeGroup is startRuntime with the runtime leading a process
// group of its own, as under systemd, so that a test can signal the group.
func startRuntimeGroup(t *testing.T, pipelineFile string, env []string) *backgroundRuntime {
	t.Helper()
	return startKappaRuntime(t, []string{"--log-json", pipelineFile}, env, true)
}

// socketsIn lists the unix sockets under dir, at any depth.
func socketsIn(t *testing.T, dir string) []string {
	t.Helper()
	var found []string
	err := filepath.WalkDir(dir, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.Type()&fs.ModeSocket != 0 {
			found = append(found, strings.TrimPrefix(path, dir+"/"))
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return found
}

// Plugin sockets stay inside the runtime's own folder of $TMPDIR and go
// away with their processes: after a supervised restart, after kill -9 of
// a runtime and another run, after SIGTERM to a runtime's process group.
// The folder of a runtime that lives is never removed.
func TestPluginSocketsAreRemoved(t *testing.T) {
	broker := startBroker(t, "twitter", 2)
	db1, db := database(t)
	db2, _ := database(t)
	produced := producing(t, broker, "twitter", "--count", "20000", "--rate", "2000", "--seed", "33")
	// A short folder: a unix socket's path has at most 107 bytes.
	tmp, err := os.MkdirTemp("", "ks")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(tmp) })
	pipelineFile := filepath.Join(repoRoot(), "pipelines", "twitter.yaml")
	env1 := append(twitterEnv(broker, db1), "TMPDIR="+tmp)
	env2 := append(twitterEnv(broker, db2), "TMPDIR="+tmp)

	// A runtime killed with SIGKILL cannot clean up.
	killed := startRuntimeGroup(t, pipelineFile, env1)
	killedPids := killed.pluginPids(t)
	waitFor(t, 60*time.Second, "a first committed batch", func() bool { return committedCount(db, db1, "twitter") > 0 })
	killed.kill9(t)
	waitFor(t, 10*time.Second, "the killed runtime's plugins to exit", func() bool {
		for _, pid := range killedPids {
			if alive(pid) {
				return false
			}
		}
		return true
	})

	// Its plugins, exiting as its connections end, unlink their sockets.
	killedDir := fmt.Sprintf("kappa-sockets-%d/", killed.cmd.Process.Pid)
	for _, s := range socketsIn(t, tmp) {
		t.Errorf("socket %s is left after the runtime was killed and its plugins exited", s)
	}
	if _, err := os.Stat(filepath.Join(tmp, killedDir)); err != nil {
		t.Errorf("the killed runtime's socket folder: %v; the next run must find it and remove it", err)
	}

	// A live runtime, one of whose plugins is killed and restarted.
	live := startRuntimeGroup(t, pipelineFile, env2)
	pids := live.pluginPids(t)
	waitFor(t, 60*time.Second, "a first committed batch of the second pipeline", func() bool { return committedCount(db, db2, "twitter") > 0 })
	if err := syscall.Kill(pids["tweet-extractor"], syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	waitFor(t, 30*time.Second, "the extractor to be restarted", func() bool { return live.logCount("plugin restarted") > 0 })
	liveDir := fmt.Sprintf("kappa-sockets-%d/", live.cmd.Process.Pid)

	// Another run starts (and drains the first pipeline) while the live
	// runtime runs.
	if res := runRuntime(t, pipelineFile, env1, "--drain"); res.err != nil {
		t.Fatalf("drain: %v\n%s", res.err, tail(res.stderr))
	}
	if _, err := os.Stat(filepath.Join(tmp, killedDir)); err == nil {
		t.Errorf("the killed runtime's socket folder %s is left after another run", killedDir)
	}
	got := socketsIn(t, tmp)
	if len(got) != 3 {
		t.Errorf("with one runtime and its 3 plugins alive, %s holds %d sockets, want 3: %q", tmp, len(got), got)
	}
	for _, s := range got {
		if !strings.HasPrefix(s, liveDir) {
			t.Errorf("socket %s is not in the live runtime's folder %s", s, liveDir)
		}
	}
	if live.exited() {
		t.Fatalf("the live runtime exited: %v\n%s", live.err, tail(live.stderr.String()))
	}

	// SIGTERM to the process group, as systemd and timeout send it.
	if err := syscall.Kill(-live.cmd.Process.Pid, syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	err = live.wait(t, 60*time.Second)
	t.Logf("runtime after SIGTERM to its process group: %v", err)
	if got := socketsIn(t, tmp); len(got) > 0 {
		t.Errorf("after every runtime exited, %s holds sockets: %q", tmp, got)
	}
	if left, _ := filepath.Glob(filepath.Join(tmp, "kappa-sockets-*")); len(left) > 0 {
		t.Errorf("after every runtime exited, socket folders are left: %q", left)
	}
	produced()
}
