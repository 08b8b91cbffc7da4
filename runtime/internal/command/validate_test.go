package command

import (
	"context"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

func TestValidateReportsEveryProblemWithItsLine(t *testing.T) {
	stockPlugins(t)
	file := filepath.Join("testdata", "validate", "four-problems.yaml")
	problems, _, err := Validate(context.Background(), file)
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
		file + ":15:3: sink.config.dsn: required (string)",
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
	files, _ := filepath.Glob("../../../pipelines/*.yaml")
	if len(files) < 2 {
		t.Fatalf("pipelines/: %v, want twitter.yaml and twitter-by-lang.yaml", files)
	}
	files = append(files, samplePipelines(t)...)
	for _, file := range files {
		problems, notes, err := Validate(context.Background(), file)
		if err != nil || len(problems) > 0 || len(notes) > 0 {
			t.Errorf("%s: %v %v %v", file, err, problems, notes)
		}
	}
}

// samplePipelines returns the sample pipeline of every plugin and example
// folder (issue 15: each folder is self-describing), failing the test for
// a folder without one or whose README does not point at it.
func samplePipelines(t *testing.T) []string {
	t.Helper()
	dirs, _ := filepath.Glob("../../../plugins/*")
	examples, _ := filepath.Glob("../../../examples/*")
	dirs = append(dirs, examples...)
	if len(dirs) < 6 {
		t.Fatalf("plugin and example folders: %v, want at least 6", dirs)
	}
	var files []string
	for _, dir := range dirs {
		file := filepath.Join(dir, "pipeline.yaml")
		if _, err := os.Stat(file); err != nil {
			t.Errorf("%s has no sample pipeline: %v", dir, err)
			continue
		}
		readme, err := os.ReadFile(filepath.Join(dir, "README.md"))
		if err != nil || !strings.Contains(string(readme), "pipeline.yaml") {
			t.Errorf("%s/README.md does not point at pipeline.yaml (%v)", dir, err)
		}
		files = append(files, file)
	}
	return files
}

func TestValidateMissingRequiredKeyFromTheSchema(t *testing.T) {
	stockPlugins(t)
	dir := t.TempDir()
	file := filepath.Join(dir, "p.yaml")
	os.WriteFile(file, []byte("version: 1\nsource:\n  plugin: kafka-source\n  config:\n    brokers: x:1\nextractor:\n  plugin: tweet-extractor\nsink:\n  plugin: csv-sink\n  config:\n    table: t\n"), 0o644)
	problems, _, err := Validate(context.Background(), file)
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, p := range problems {
		got = append(got, p.Error())
	}
	// the `required:"true"` tags of kafka-source and csv-sink, each
	// at the config: key of its block.
	for _, want := range []string{file + ":4:3: source.config.topic: required (string)", file + ":10:3: sink.config.dir: required (string)"} {
		if !slices.ContainsFunc(got, func(g string) bool { return strings.HasPrefix(g, want) }) {
			t.Errorf("no problem starting %q in:\n%s", want, strings.Join(got, "\n"))
		}
	}
}
