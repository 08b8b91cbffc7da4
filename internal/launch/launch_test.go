package launch

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
)

// A pipeline file named from its own folder (`kappa-runtime p.yaml`) has
// "." as its folder: Find must still return an absolute path, or
// exec.Command would look the bare name up in $PATH and run another binary
// than the one Find checked.
func TestFindReturnsAnAbsolutePath(t *testing.T) {
	dir := t.TempDir()
	for _, f := range []string{"mysql-sink", "bin/csv-sink"} {
		path := filepath.Join(dir, f)
		if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(path, []byte("#!/bin/sh\n"), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	t.Chdir(dir)
	for _, tc := range []struct{ name, want string }{
		{"mysql-sink", filepath.Join(dir, "mysql-sink")},
		{"./mysql-sink", filepath.Join(dir, "mysql-sink")},
		{"bin/csv-sink", filepath.Join(dir, "bin", "csv-sink")},
	} {
		got, err := Find(tc.name, "p.yaml", SearchPath("p.yaml"))
		if err != nil {
			t.Errorf("Find(%q): %v", tc.name, err)
			continue
		}
		if got != tc.want {
			t.Errorf("Find(%q) = %q, want %q", tc.name, got, tc.want)
		}
	}
}

// A plugin's environment is the minimal one plus what its block declared;
// nothing else of the runtime's reaches it.
func TestPluginEnv(t *testing.T) {
	t.Setenv("PATH", "/usr/bin")
	t.Setenv("LC_TIME", "C")
	t.Setenv("KAPPA_MYSQL_DSN", "kappa:secret@tcp(db:3306)/x")
	t.Setenv("KAPPA_PROFILE_DIR", "/tmp/prof")
	t.Setenv("GOGC", "100")
	t.Setenv("UNRELATED", "1")
	env := map[string]bool{}
	for _, kv := range pluginEnv([]string{"GOGC", "NOT_SET"}, "KAPPA_ARENA=3:4096") {
		env[kv] = true
	}
	for _, kv := range []string{"PATH=/usr/bin", "LC_TIME=C", "KAPPA_PROFILE_DIR=/tmp/prof", "GOGC=100", "KAPPA_ARENA=3:4096"} {
		if !env[kv] {
			t.Errorf("%s missing from %v", kv, env)
		}
	}
	for kv := range env {
		if strings.HasPrefix(kv, "KAPPA_MYSQL_DSN=") || strings.HasPrefix(kv, "UNRELATED=") || strings.HasPrefix(kv, "NOT_SET=") {
			t.Errorf("%s passed to the plugin", kv)
		}
	}
}

// At start, the socket folders of runtimes that were killed are removed;
// those of live runtimes, locked or still being made, are kept.
func TestStaleSocketFoldersAreRemoved(t *testing.T) {
	tmp := t.TempDir()
	// A PID that no process has: a child that has exited and been reaped.
	child := exec.Command("true")
	if err := child.Run(); err != nil {
		t.Fatal(err)
	}
	dead := child.Process.Pid
	mk := func(name string) string {
		dir := filepath.Join(tmp, name)
		if err := os.MkdirAll(filepath.Join(dir, "source-1"), 0o700); err != nil {
			t.Fatal(err)
		}
		return dir
	}
	stale := mk(fmt.Sprintf("kappa-sockets-%d", dead))
	staleToo := mk(fmt.Sprintf("kappa-sockets-%d-123", dead))
	locked := mk(fmt.Sprintf("kappa-sockets-%d-456", dead)) // a live runtime of another PID namespace
	unlocked := mk(fmt.Sprintf("kappa-sockets-%d", os.Getpid()))
	other := mk("kappa-socketsx")
	f, err := os.Open(locked)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX); err != nil {
		t.Fatal(err)
	}

	removeStaleSocketDirs(tmp)
	for dir, kept := range map[string]bool{stale: false, staleToo: false, locked: true, unlocked: true, other: true} {
		if _, err := os.Stat(dir); (err == nil) != kept {
			t.Errorf("%s: kept %v, want %v", filepath.Base(dir), err == nil, kept)
		}
	}
}
