package sdk

import (
	"bytes"
	"encoding/json"
	"testing"
)

// The host (go-plugin) keeps a plugin's log level only for JSON lines with
// @level and @message, and rejects a line whose @timestamp it cannot parse.
func TestPluginLoggerWritesWhatTheHostReads(t *testing.T) {
	var buf bytes.Buffer
	newPluginLogger(&buf).Warn("broker unreachable", "broker", "127.0.0.1:1", "attempt", 3)
	var line map[string]any
	if err := json.Unmarshal(buf.Bytes(), &line); err != nil {
		t.Fatalf("%q: %v", buf.String(), err)
	}
	if line["@level"] != "warn" || line["@message"] != "broker unreachable" || line["broker"] != "127.0.0.1:1" || line["attempt"] != 3.0 {
		t.Errorf("line = %v", line)
	}
	if _, ok := line["@timestamp"]; ok {
		t.Errorf("line carries a @timestamp the host may not parse: %v", line)
	}
}
