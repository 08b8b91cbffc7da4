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
	for _, file := range []string{"../../../pipelines/twitter.yaml", "../../../pipelines/twitter-by-lang.yaml", "../../../examples/csv-sink/pipeline.yaml"} {
		problems, notes, err := Validate(context.Background(), file)
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
