package e2e

import (
	"bufio"
	"encoding/json"
	"path/filepath"
	"strings"
	"testing"
)

// With --log-json every line of the runtime's stderr is JSON and names the
// pipeline, the plugins' lines included; a drain on a non-terminal stderr
// shows no progress bar.
func TestLogJSONEveryLineNamesThePipeline(t *testing.T) {
	broker := startBroker(t, "twitter", 2)
	dbName, _ := database(t)
	env := twitterEnv(broker, dbName)
	runFirehose(t, broker, "twitter", "--count", "500", "--seed", "11")
	res := runRuntime(t, filepath.Join(repoRoot(), "pipelines", "twitter.yaml"), env, "--drain")
	if res.err != nil {
		t.Fatalf("drain: %v\n%s", res.err, tail(res.stderr))
	}
	plugins := map[string]bool{}
	sc := bufio.NewScanner(strings.NewReader(res.stderr))
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	n := 0
	for sc.Scan() {
		n++
		var line map[string]any
		if err := json.Unmarshal(sc.Bytes(), &line); err != nil {
			t.Errorf("line %d is not JSON: %v: %s", n, err, sc.Text())
			continue
		}
		if line["pipeline"] != "twitter" {
			t.Errorf("line %d does not name the pipeline: %s", n, sc.Text())
		}
		if kind, ok := line["plugin"].(string); ok {
			plugins[kind] = true
		}
	}
	if n == 0 {
		t.Fatal("no log lines")
	}
	// go-plugin's "plugin process exited" at the end of the run, at least.
	for _, kind := range []string{"source", "extractor", "sink"} {
		if !plugins[kind] {
			t.Errorf("no line of the %s plugin in the log:\n%s", kind, tail(res.stderr))
		}
	}
	for _, bar := range []string{"\r", "█", "records/s", "ETA"} {
		if strings.Contains(res.stderr, bar) {
			t.Errorf("a progress bar (%q) in a non-terminal log:\n%s", bar, tail(res.stderr))
		}
	}
}
