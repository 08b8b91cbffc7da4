package command

import (
	"bytes"
	"encoding/json"
	"log/slog"
	"strings"
	"testing"
)

// A plugin's line, as go-plugin relays it from the plugin's stderr (the
// logger launch.Start names by kind, then go-plugin by binary), arrives in
// the runtime's JSON log with the pipeline and the plugin's kind.
func TestPluginLinesArriveInTheRuntimesFormat(t *testing.T) {
	var out bytes.Buffer
	runtimeLog := slog.New(slog.NewJSONHandler(&out, nil)).With("pipeline", "tweets")
	relay := pluginLogger(runtimeLog).Named("sink").Named("mysql-sink")
	relay.Info("table created", "table", "counts", "plugin", "/usr/lib/mysql-sink")
	relay.Debug("dropped below the level")

	lines := strings.Split(strings.TrimSpace(out.String()), "\n")
	if len(lines) != 1 {
		t.Fatalf("want 1 line, got %d: %q", len(lines), out.String())
	}
	var line map[string]any
	if n := strings.Count(lines[0], `"plugin":`); n != 1 {
		t.Errorf("plugin named %d times: %s", n, lines[0])
	}
	if err := json.Unmarshal([]byte(lines[0]), &line); err != nil {
		t.Fatalf("plugin line is not JSON: %v: %s", err, lines[0])
	}
	want := map[string]any{"msg": "table created", "level": "INFO", "pipeline": "tweets", "plugin": "sink", "binary": "mysql-sink", "table": "counts", "arg_plugin": "/usr/lib/mysql-sink"}
	for k, v := range want {
		if line[k] != v {
			t.Errorf("%s = %v, want %v (line %s)", k, line[k], v, lines[0])
		}
	}
}

// Text mode names the pipeline and the plugin too.
func TestPluginLinesInTextNameThePipeline(t *testing.T) {
	var out bytes.Buffer
	relay := pluginLogger(slog.New(slog.NewTextHandler(&out, nil)).With("pipeline", "tweets")).Named("source")
	relay.Warn("broker slow")
	if got := out.String(); !strings.Contains(got, "pipeline=tweets") || !strings.Contains(got, "plugin=source") || !strings.Contains(got, `msg="broker slow"`) {
		t.Errorf("text line lacks pipeline, plugin or message: %q", got)
	}
}
