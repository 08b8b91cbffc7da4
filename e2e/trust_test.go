package e2e

import (
	"bytes"
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
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
