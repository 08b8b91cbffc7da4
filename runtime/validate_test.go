package main

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/kappa-stream/kappa/runtime/launch"
	"github.com/kappa-stream/kappa/sdk"
)

var (
	pluginsOnce sync.Once
	pluginsDir  string
	pluginsErr  error
)

// stockPlugins builds the three stock plugins and csv-sink once and puts
// their folder on KAPPA_PLUGIN_PATH for the test.
func stockPlugins(t *testing.T) {
	t.Helper()
	if testing.Short() {
		t.Skip("builds plugin binaries; skipped with -short")
	}
	pluginsOnce.Do(func() {
		if pluginsDir, pluginsErr = os.MkdirTemp("", "kappa-validate-"); pluginsErr != nil {
			return
		}
		for _, pkg := range []string{"plugins/kafka-source", "plugins/tweet-extractor", "plugins/mysql-sink", "examples/csv-sink"} {
			cmd := exec.Command("go", "build", "-o", filepath.Join(pluginsDir, filepath.Base(pkg)), "./"+pkg)
			cmd.Dir = ".."
			if out, err := cmd.CombinedOutput(); err != nil {
				pluginsErr = &buildError{pkg: pkg, out: string(out), err: err}
				return
			}
		}
	})
	if pluginsErr != nil {
		t.Fatal(pluginsErr)
	}
	t.Setenv("KAPPA_PLUGIN_PATH", pluginsDir)
}

type buildError struct {
	pkg, out string
	err      error
}

func (e *buildError) Error() string { return "go build " + e.pkg + ": " + e.err.Error() + "\n" + e.out }

func TestMain(m *testing.M) {
	code := m.Run()
	launch.StopAll() // as main does: removes the plugins' socket folder
	if pluginsDir != "" {
		os.RemoveAll(pluginsDir)
	}
	os.Exit(code)
}

func TestValidateReportsEveryProblemWithItsLine(t *testing.T) {
	stockPlugins(t)
	file := filepath.Join("testdata", "validate", "four-problems.yaml")
	problems, _, err := validatePipeline(context.Background(), file)
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, p := range problems {
		got = append(got, p.Error())
	}
	want := []string{
		file + ":9:5: source.config.dial_timout: unknown key",
		file + ":10:5: source.config.fetch_max_bytes: must be an integer",
		file + ":12:3: extractor.plugin: plugin \"no-such-extractor\": plugin binary not found",
		file + ":15:3: sink.config.dsn: must not be empty",
	}
	if len(got) != len(want) {
		t.Fatalf("problems:\n%s\nwant %d:\n%s", strings.Join(got, "\n"), len(want), strings.Join(want, "\n"))
	}
	for i := range want {
		if !strings.HasPrefix(got[i], want[i]) {
			t.Errorf("problem %d:\n  %s\nwant it to start with\n  %s", i, got[i], want[i])
		}
	}
}

func TestValidateAcceptsTheShippedPipelines(t *testing.T) {
	stockPlugins(t)
	for _, file := range []string{"../pipelines/twitter.yaml", "../pipelines/twitter-by-lang.yaml", "../examples/csv-sink/pipeline.yaml"} {
		problems, notes, err := validatePipeline(context.Background(), file)
		if err != nil || len(problems) > 0 || len(notes) > 0 {
			t.Errorf("%s: %v %v %v", file, err, problems, notes)
		}
	}
}

func TestValidateMissingRequiredKeyFromTheSchema(t *testing.T) {
	stockPlugins(t)
	dir := t.TempDir()
	file := filepath.Join(dir, "p.yaml")
	os.WriteFile(file, []byte("version: 1\nsource:\n  plugin: kafka-source\n  config:\n    brokers: x:1\nextractor:\n  plugin: tweet-extractor\nsink:\n  plugin: csv-sink\n  config:\n    table: t\n"), 0o644)
	problems, _, err := validatePipeline(context.Background(), file)
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, p := range problems {
		got = append(got, p.Error())
	}
	// kafka-source's own check and csv-sink's `required:"true"` tag, each
	// at the config: key of its block.
	for _, want := range []string{file + ":4:3: source.config.topic:", file + ":10:3: sink.config.dir:"} {
		if !slices.ContainsFunc(got, func(g string) bool { return strings.HasPrefix(g, want) }) {
			t.Errorf("no problem starting %q in:\n%s", want, strings.Join(got, "\n"))
		}
	}
}

func TestPluginsListsKindsAndFields(t *testing.T) {
	stockPlugins(t)
	found, skipped := findAllPlugins(context.Background(), []string{pluginsDir})
	if len(skipped) > 0 {
		t.Errorf("skipped %v", skipped)
	}
	kinds := map[string]string{}
	for _, p := range found {
		kinds[p.Name] = p.Kind
		if p.Name == "kafka-source" {
			i := slices.IndexFunc(p.Fields, func(f sdk.Field) bool { return f.Name == "start" })
			if i < 0 || p.Fields[i].Default != "earliest" || p.Fields[i].Type != "string" {
				t.Errorf("kafka-source fields %+v, want start: string, default earliest", p.Fields)
			}
		}
	}
	want := map[string]string{"kafka-source": "source", "tweet-extractor": "extractor", "mysql-sink": "sink", "csv-sink": "sink"}
	for name, kind := range want {
		if kinds[name] != kind {
			t.Errorf("%s listed as %q, want %q (all: %v)", name, kinds[name], kind, kinds)
		}
	}
}
