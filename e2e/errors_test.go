package e2e

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/kappa-stream/kappa/internal/testenv"
)

// writePipeline writes a pipeline file into a fresh folder and returns
// its path; plugins are found through KAPPA_PLUGIN_PATH.
func writePipeline(t *testing.T, text string) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "p.yaml")
	if err := os.WriteFile(path, []byte(text), 0o644); err != nil {
		t.Fatal(err)
	}
	return path
}

const pipelineTemplate = `version: 1
name: errors
source:
  plugin: %s
  config:
    brokers: %s
    topic: twitter
extractor:
  plugin: tweet-extractor
sink:
  plugin: mysql-sink
  config:
    dsn: %s
    table: twitter
`

func databaseExists(t *testing.T, name string) bool {
	t.Helper()
	_, db := database(t)
	var n int
	if err := db.QueryRow("SELECT COUNT(*) FROM information_schema.schemata WHERE schema_name = ?", name).Scan(&n); err != nil {
		t.Fatal(err)
	}
	return n > 0
}

// Each broken setup fails with one clear error naming the file and line,
// the binary or the address, exits non-zero and writes nothing.
func TestBrokenSetupsFailClearlyAndWriteNothing(t *testing.T) {
	dir := bins(t)
	broker := startBroker(t, "twitter", 2)
	badPlugin := filepath.Join(t.TempDir(), "not-a-plugin")
	if err := os.WriteFile(badPlugin, []byte("#!/bin/sh\necho hello from a script that is no plugin\nsleep 1\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	env := []string{"KAPPA_PLUGIN_PATH=" + dir}

	for _, c := range []struct {
		name     string
		pipeline string // %s: database name
		want     []string
	}{
		{
			name:     "bad yaml",
			pipeline: "version: 1\nsource:\n  plugin: kafka-source\n  bogus: 1\nextractor:\n  plugin: tweet-extractor\nsink:\n  plugin: mysql-sink\nwindow: soon\n",
			want:     []string{"p.yaml:4:3: source.bogus", "p.yaml:9:1: window: must be a duration"},
		},
		{
			name:     "missing plugin binary",
			pipeline: fmt.Sprintf(pipelineTemplate, "no-such-source", broker, testenv.MySQLDSN("%s")),
			want:     []string{"p.yaml: source.plugin", `"no-such-source"`, "not found"},
		},
		{
			name:     "plugin that fails its handshake",
			pipeline: fmt.Sprintf(pipelineTemplate, badPlugin, broker, testenv.MySQLDSN("%s")),
			want:     []string{"start source plugin " + badPlugin},
		},
		{
			name:     "unreachable broker",
			pipeline: fmt.Sprintf(pipelineTemplate, "kafka-source", "127.0.0.1:1", testenv.MySQLDSN("%s")),
			want:     []string{"127.0.0.1:1"},
		},
		{
			name:     "unreachable database",
			pipeline: fmt.Sprintf(pipelineTemplate, "kafka-source", broker, "root:sekrit@tcp(127.0.0.1:1)/%s"),
			want:     []string{"127.0.0.1:1"},
		},
		{
			name:     "bad plugin config",
			pipeline: fmt.Sprintf(pipelineTemplate+"    bogus_key: 1\n", "kafka-source", broker, testenv.MySQLDSN("%s")),
			want:     []string{"p.yaml:15:5: sink.config.bogus_key: unknown key"},
		},
	} {
		t.Run(c.name, func(t *testing.T) {
			dbName := fmt.Sprintf("kappa_e2e_never_%d", os.Getpid())
			text := c.pipeline
			if strings.Contains(text, "%s") {
				text = fmt.Sprintf(text, dbName)
			}
			res := runRuntime(t, writePipeline(t, text), env, "--drain")
			if res.err == nil {
				t.Fatalf("kappa-runtime succeeded; want failure\n%s", tail(res.stderr))
			}
			for _, w := range c.want {
				if !strings.Contains(res.stderr, w) {
					t.Errorf("stderr lacks %q:\n%s", w, tail(res.stderr))
				}
			}
			if strings.Contains(res.stderr, "sekrit") {
				t.Errorf("the DSN's password appears in the output:\n%s", tail(res.stderr))
			}
			if databaseExists(t, dbName) {
				t.Errorf("database %s was created by a failing run", dbName)
			}
		})
	}
}
