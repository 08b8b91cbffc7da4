package e2e

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
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
		"KAPPA_MYSQL_DSN=root@tcp(" + mysqlAddr + ")/" + dbName + "?connectionAttributes=marker:" + secret,
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
	rt.cmd.Process.Signal(syscall.SIGTERM)
	if err := rt.wait(t, 60*time.Second); err != nil {
		t.Fatalf("runtime after SIGTERM: %v, want exit 0\n%s", err, tail(rt.stderr.String()))
	}
	produced()
}
