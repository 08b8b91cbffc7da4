package pipeline

import (
	"slices"
	"strings"
	"testing"
)

// Each plugin block's `env:` names the variables of the runtime's
// environment its process gets; the names are checked at load.
func TestPluginEnv(t *testing.T) {
	text := `version: 1
source:
  plugin: kafka-source
  env: [GOGC, GOMEMLIMIT]
extractor:
  plugin: tweet-extractor
sink:
  plugin: mysql-sink
  env:
    - KAPPA_TEST_SINK_FAULTS
`
	p, err := Parse("x.yaml", []byte(text), nil)
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(p.Source.Env, []string{"GOGC", "GOMEMLIMIT"}) || p.Extractor.Env != nil ||
		!slices.Equal(p.Sink.Env, []string{"KAPPA_TEST_SINK_FAULTS"}) {
		t.Errorf("env: source %q, extractor %q, sink %q", p.Source.Env, p.Extractor.Env, p.Sink.Env)
	}
}

func TestBrokenPluginEnv(t *testing.T) {
	text := `version: 1
source:
  plugin: kafka-source
  env: GOGC
extractor:
  plugin: tweet-extractor
  env: [1X, "A-B", "", 3]
sink:
  plugin: mysql-sink
  env: [TZ_NAME, KAPPA_ARENA, PLUGIN_MIN_PORT, KAPPA_PLUGIN, TZ_NAME, {a: b}]
`
	_, err := Parse("x.yaml", []byte(text), nil)
	want := []string{
		"x.yaml:4:3: source.env: must be a list of environment variable names, not a string",
		"x.yaml:7:9: extractor.env[0]: must be a variable name: letters, digits and _, not starting with a digit",
		"x.yaml:7:13: extractor.env[1]: must be a variable name: letters, digits and _, not starting with a digit",
		"x.yaml:7:20: extractor.env[2]: must be a variable name: letters, digits and _, not starting with a digit",
		"x.yaml:7:24: extractor.env[3]: must be a variable name, not an integer",
		"x.yaml:10:18: sink.env[1]: is set by the runtime for every plugin; a pipeline cannot pass it",
		"x.yaml:10:31: sink.env[2]: is set by the runtime for every plugin; a pipeline cannot pass it",
		"x.yaml:10:48: sink.env[3]: is set by the runtime for every plugin; a pipeline cannot pass it",
		"x.yaml:10:62: sink.env[4]: duplicate of sink.env[0]",
		"x.yaml:10:71: sink.env[5]: must be a variable name, not a mapping",
	}
	if got := messages(t, err); !slices.Equal(got, want) {
		t.Errorf("got\n%s\nwant\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
}
