package pipeline

import (
	"errors"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/kappa-stream/kappa/internal/engine"
	"github.com/kappa-stream/kappa/sdk"
)

// env is a fixed environment, so that the tests do not depend on the
// variables of the shell that runs them.
func env(vars map[string]string) func(string) (string, bool) {
	return func(name string) (string, bool) {
		v, ok := vars[name]
		return v, ok
	}
}

func parseFile(t *testing.T, file string, vars map[string]string) (*Pipeline, error) {
	t.Helper()
	data, err := os.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	return Parse(file, data, env(vars))
}

// messages returns each problem of err as one line, failing the test when
// err is not Errors.
func messages(t *testing.T, err error) []string {
	t.Helper()
	var es Errors
	if !errors.As(err, &es) {
		t.Fatalf("error is %T, want Errors: %v", err, err)
	}
	lines := make([]string, len(es))
	for i, e := range es {
		lines[i] = e.Error()
	}
	return lines
}

func TestParseGood(t *testing.T) {
	p, err := parseFile(t, "testdata/good.yaml", nil)
	if err != nil {
		t.Fatal(err)
	}
	want := Pipeline{
		File:       "testdata/good.yaml",
		Version:    1,
		Name:       "twitter",
		Window:     time.Minute,
		Dimensions: []string{"lang", "country"},
		Batch:      Batch{Interval: time.Second, MaxRecords: 50000, MaxBytes: 64 << 20},
		Timeouts:   Timeouts{Open: 30 * time.Second, Poll: 30 * time.Second, Extract: 30 * time.Second, Commit: time.Minute},
	}
	if p.File != want.File || p.Version != want.Version || p.Name != want.Name || p.Window != want.Window ||
		!slices.Equal(p.Dimensions, want.Dimensions) || p.Batch != want.Batch || p.Timeouts != want.Timeouts {
		t.Errorf("got %+v\nwant %+v", *p, want)
	}
	for _, tc := range []struct {
		plugin     Plugin
		name, conf string
	}{
		{p.Source, "kafka-source", "brokers: 127.0.0.1:9092\ntopic: twitter\nstart: earliest\n"},
		{p.Extractor, "tweet-extractor", "{}\n"},
		{p.Sink, "mysql-sink", "dsn: root@tcp(127.0.0.1:3306)/aggregates\ntable: twitter\ntls:\n  ca: /etc/ssl/ca.pem\n"},
	} {
		if tc.plugin.Name != tc.name || string(tc.plugin.Config) != tc.conf {
			t.Errorf("plugin %q with config\n%s\nwant %q with config\n%s", tc.plugin.Name, tc.plugin.Config, tc.name, tc.conf)
		}
	}
}

func TestParseDefaults(t *testing.T) {
	p, err := parseFile(t, "testdata/minimal.yaml", nil)
	if err != nil {
		t.Fatal(err)
	}
	if p.Name != "minimal" {
		t.Errorf("name %q, want the file's base name %q", p.Name, "minimal")
	}
	if p.Window != engine.DefaultWindow || p.Dimensions != nil {
		t.Errorf("window %v, dimensions %q; want %v and none", p.Window, p.Dimensions, engine.DefaultWindow)
	}
	wantBatch := Batch{Interval: engine.DefaultMaxWait, MaxRecords: engine.DefaultMaxRecords, MaxBytes: engine.DefaultMaxBytes}
	wantTimeouts := Timeouts{Open: DefaultOpenTimeout, Poll: engine.DefaultPollTimeout, Extract: engine.DefaultExtractTimeout, Commit: engine.DefaultCommitTimeout}
	if p.Batch != wantBatch || p.Timeouts != wantTimeouts {
		t.Errorf("batch %+v timeouts %+v, want %+v %+v", p.Batch, p.Timeouts, wantBatch, wantTimeouts)
	}
	if p.Sink.Name != "./bin/mysql-sink" || string(p.Sink.Config) != "{}\n" {
		t.Errorf("sink %q config %q, want ./bin/mysql-sink with {}", p.Sink.Name, p.Sink.Config)
	}
}

func TestLoadExpandsProcessEnvironment(t *testing.T) {
	t.Setenv("KAPPA_BROKERS", "broker-1:9092,broker-2:9092")
	p, err := Load("testdata/good.yaml")
	if err != nil {
		t.Fatal(err)
	}
	if want := "brokers: broker-1:9092,broker-2:9092\n"; !strings.HasPrefix(string(p.Source.Config), want) {
		t.Errorf("source config\n%s\nwant it to start with %q", p.Source.Config, want)
	}
	if _, err := Load("testdata/missing.yaml"); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("Load of a missing file: %v, want os.ErrNotExist", err)
	}
}

func TestBrokenFiles(t *testing.T) {
	for _, tc := range []struct {
		file string
		vars map[string]string
		want []string
	}{{
		// yaml.v3 names the line where the enclosing mapping's context
		// started, not the misindented line 6; it gives no column.
		file: "syntax.yaml",
		want: []string{"testdata/syntax.yaml:2: invalid YAML: did not find expected key"},
	}, {
		file: "unknown-keys.yaml",
		want: []string{
			"testdata/unknown-keys.yaml:4:3: source.confg: unknown key (known: config, env, plugin)",
			"testdata/unknown-keys.yaml:10:1: windw: unknown key (known: aggregates, batch, compaction, dimensions, extractor, give_up_after, name, on_fenced, on_generation_ended, sink, source, timeouts, version, window)",
			"testdata/unknown-keys.yaml:12:3: batch.max_recrods: unknown key (known: interval, max_bytes, max_records)",
			"testdata/unknown-keys.yaml:15:3: timeouts.flush: unknown key (known: commit, extract, open, poll)",
		},
	}, {
		file: "wrong-types.yaml",
		want: []string{
			"testdata/wrong-types.yaml:1:1: version: must be an integer, not a string",
			"testdata/wrong-types.yaml:2:1: name: must be a string, not a list",
			"testdata/wrong-types.yaml:3:1: source: must be a mapping, not a string",
			"testdata/wrong-types.yaml:5:3: extractor.plugin: must be a string, not an integer",
			"testdata/wrong-types.yaml:8:3: sink.config: must be a mapping, not a string",
			"testdata/wrong-types.yaml:9:1: window: must be a duration such as 30s, 1m or 1h30m, not an integer",
			"testdata/wrong-types.yaml:10:1: dimensions: must be a list of dimension names, not a string",
			"testdata/wrong-types.yaml:12:3: batch.interval: must be a duration such as 30s, 1m or 1h30m, not a list",
			"testdata/wrong-types.yaml:13:3: batch.max_records: must be an integer, not a number",
			"testdata/wrong-types.yaml:14:3: batch.max_bytes: must be a positive size in bytes, such as 1048576 or 64MiB (units B, KB, MB, GB, KiB, MiB, GiB)",
			"testdata/wrong-types.yaml:15:1: timeouts: must be a mapping, not a string",
		},
	}, {
		file: "missing-required.yaml",
		want: []string{
			"testdata/missing-required.yaml:2:1: version: required (supported: 1)",
			"testdata/missing-required.yaml:2:1: source.plugin: required: a plugin binary name or path",
			"testdata/missing-required.yaml:2:1: sink: required: a mapping with plugin: and optionally config:",
			"testdata/missing-required.yaml:6:3: extractor.plugin: must not be empty",
		},
	}, {
		file: "bad-durations.yaml",
		want: []string{
			"testdata/bad-durations.yaml:5:1: window: must divide a day evenly, such as 1m, 5m, 15m, 1h or 24h",
			"testdata/bad-durations.yaml:7:3: batch.interval: must be positive",
			"testdata/bad-durations.yaml:9:3: timeouts.open: must be positive",
			"testdata/bad-durations.yaml:10:3: timeouts.poll: must be a duration such as 30s, 1m or 1h30m, not an integer",
			"testdata/bad-durations.yaml:11:3: timeouts.extract: must be a duration such as 30s, 1m or 1h30m",
			"testdata/bad-durations.yaml:13:1: more than one YAML document; a pipeline file holds one",
		},
	}, {
		file: "unset-variable.yaml",
		vars: map[string]string{"KAPPA_TABLE": ""},
		want: []string{
			"testdata/unset-variable.yaml:5:5: source.config.brokers: variable KAPPA_BROKERS is not set and has no default",
			"testdata/unset-variable.yaml:12:5: sink.config.dsn: variable KAPPA_MYSQL_DSN is not set and has no default",
			"testdata/unset-variable.yaml:15:9: sink.config.tables[1]: variable KAPPA_PREFIX is not set and has no default",
			"testdata/unset-variable.yaml:15:9: sink.config.tables[1]: invalid variable reference: use ${NAME} or ${NAME:-default}, NAME being letters, digits and _",
			"testdata/unset-variable.yaml:16:1: window: variable KAPPA_WINDOW is not set and has no default",
			"testdata/unset-variable.yaml:18:3: batch.interval: unterminated ${ (missing }; write $$ for a literal $)",
		},
	}} {
		t.Run(tc.file, func(t *testing.T) {
			p, err := parseFile(t, filepath.Join("testdata", tc.file), tc.vars)
			if p != nil {
				t.Errorf("got a pipeline along with the error")
			}
			if got := messages(t, err); !slices.Equal(got, tc.want) {
				t.Errorf("got\n%s\nwant\n%s", strings.Join(got, "\n"), strings.Join(tc.want, "\n"))
			}
		})
	}
}

func TestEveryProblemAtOnce(t *testing.T) {
	_, err := parseFile(t, "testdata/five-problems.yaml", nil)
	got := messages(t, err)
	want := []string{
		"testdata/five-problems.yaml:1:1: version: unsupported version (supported: 1)",
		"testdata/five-problems.yaml:8:3: extractor.config: must be a mapping, not a list",
		"testdata/five-problems.yaml:11:1: window: must be a whole number of seconds, at least 1s",
		"testdata/five-problems.yaml:12:20: dimensions[1]: must be an identifier: letters, digits and _, not starting with a digit, at most 64",
		"testdata/five-problems.yaml:14:3: batch.max_bytes: must be a positive size in bytes, such as 1048576 or 64MiB (units B, KB, MB, GB, KiB, MiB, GiB)",
	}
	if !slices.Equal(got, want) {
		t.Errorf("got\n%s\nwant\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
	var first *Error
	if !errors.As(err, &first) {
		t.Fatalf("errors.As(%T, *Error) failed", err)
	}
	wantFirst := Error{File: "testdata/five-problems.yaml", Line: 1, Column: 1, Path: "version", Message: "unsupported version (supported: 1)"}
	if *first != wantFirst {
		t.Errorf("first error %+v, want %+v", *first, wantFirst)
	}
}

// pipelineWith is a valid pipeline file plus extra lines under the given
// top-level block.
func pipelineWith(block, lines string) string {
	blocks := map[string]string{
		"source":    "  plugin: kafka-source\n",
		"extractor": "  plugin: tweet-extractor\n",
		"sink":      "  plugin: mysql-sink\n",
		"batch":     "  interval: 1s\n",
		"timeouts":  "  open: 1s\n",
	}
	var b strings.Builder
	b.WriteString("version: 1\n")
	for _, name := range []string{"source", "extractor", "sink", "batch", "timeouts"} {
		b.WriteString(name + ":\n" + blocks[name])
		if name == block {
			b.WriteString(lines)
		}
	}
	if block == "" {
		b.WriteString(lines)
	}
	return b.String()
}

func TestUnknownKeysAtEveryLevel(t *testing.T) {
	for _, tc := range []struct{ block, want string }{
		{"", "x.yaml:12:1: colour: unknown key (known: aggregates, batch, compaction, dimensions, extractor, give_up_after, name, on_fenced, on_generation_ended, sink, source, timeouts, version, window)"},
		{"source", "x.yaml:4:3: source.colour: unknown key (known: config, env, plugin)"},
		{"extractor", "x.yaml:6:3: extractor.colour: unknown key (known: config, env, plugin)"},
		{"sink", "x.yaml:8:3: sink.colour: unknown key (known: config, env, plugin)"},
		{"batch", "x.yaml:10:3: batch.colour: unknown key (known: interval, max_bytes, max_records)"},
		{"timeouts", "x.yaml:12:3: timeouts.colour: unknown key (known: commit, extract, open, poll)"},
	} {
		indent := "  "
		if tc.block == "" {
			indent = ""
		}
		_, err := Parse("x.yaml", []byte(pipelineWith(tc.block, indent+"colour: blue\n")), nil)
		if got := messages(t, err); !slices.Equal(got, []string{tc.want}) {
			t.Errorf("unknown key in %q: got %q, want %q", tc.block, got, tc.want)
		}
	}
	// compaction: is decoded by hand, as off or a mapping; its keys are
	// checked as strictly.
	_, err := Parse("x.yaml", []byte(pipelineWith("", "compaction:\n  after: 1m\n  evry: 5s\n")), nil)
	want := "x.yaml:14:3: compaction.evry: unknown key (known: after, every)"
	if got := messages(t, err); !slices.Equal(got, []string{want}) {
		t.Errorf("unknown key in compaction: got %q, want %q", got, want)
	}
}

func TestCompactionKeys(t *testing.T) {
	for _, tc := range []struct {
		lines string
		want  Compaction
		err   string
	}{
		{"window: 1m\n", Compaction{Enabled: true, After: 10 * time.Minute, Every: time.Minute}, ""},
		// Off keeps after's default: kappa-runtime compact's --older-than.
		{"compaction: off\n", Compaction{After: 10 * time.Minute, Every: time.Minute}, ""},
		{"compaction: false\n", Compaction{After: 10 * time.Minute, Every: time.Minute}, ""},
		{"compaction:\n  after: 0s\n  every: 2s\n", Compaction{Enabled: true, After: 0, Every: 2 * time.Second}, ""},
		{"compaction: {after: 1h}\n", Compaction{Enabled: true, After: time.Hour, Every: time.Minute}, ""},
		{"compaction: on\n", Compaction{}, "x.yaml:12:1: compaction: must be off or a mapping with after: and every:, not a string"},
		{"compaction:\n  after: -1s\n", Compaction{}, "x.yaml:13:3: compaction.after: must not be negative"},
		{"compaction:\n  every: 0s\n", Compaction{}, "x.yaml:13:3: compaction.every: must be positive"},
		{"compaction:\n  after: soon\n", Compaction{}, "x.yaml:13:3: compaction.after: must be a duration such as 0s, 30s, 10m or 1h"},
	} {
		p, err := Parse("x.yaml", []byte(pipelineWith("", tc.lines)), nil)
		if tc.err != "" {
			if got := messages(t, err); !slices.Equal(got, []string{tc.err}) {
				t.Errorf("%q: got %q, want %q", tc.lines, got, tc.err)
			}
			continue
		}
		if err != nil {
			t.Errorf("%q: %v", tc.lines, err)
		} else if p.Compaction != tc.want {
			t.Errorf("%q: compaction %+v, want %+v", tc.lines, p.Compaction, tc.want)
		}
	}
}

func TestValues(t *testing.T) {
	for _, tc := range []struct {
		block, lines string
		check        func(p *Pipeline) bool
		want         string // the one problem expected; empty when valid
	}{
		{"batch", "  max_bytes: 1048576\n", func(p *Pipeline) bool { return p.Batch.MaxBytes == 1<<20 }, ""},
		{"batch", "  max_bytes: 500 KB\n", func(p *Pipeline) bool { return p.Batch.MaxBytes == 500_000 }, ""},
		{"batch", "  max_bytes: 2GiB\n", func(p *Pipeline) bool { return p.Batch.MaxBytes == 2<<30 }, ""},
		{"batch", "  max_bytes: 64mib\n", nil, "x.yaml:10:3: batch.max_bytes: must be a positive size in bytes, such as 1048576 or 64MiB (units B, KB, MB, GB, KiB, MiB, GiB)"},
		{"batch", "  max_bytes: 99999999999999999GiB\n", nil, "x.yaml:10:3: batch.max_bytes: must be a positive size in bytes, such as 1048576 or 64MiB (units B, KB, MB, GB, KiB, MiB, GiB)"},
		{"batch", "  max_records: 0\n", nil, "x.yaml:10:3: batch.max_records: must be positive"},
		{"batch", "  max_records: 99999999999999999999\n", nil, "x.yaml:10:3: batch.max_records: must be an integer, not a number"},
		{"batch", "  interval: 250ms\n", nil, "x.yaml:10:3: batch.interval: duplicate key (first at line 9)"},
		{"", "window: 24h\n", func(p *Pipeline) bool { return p.Window == 24*time.Hour }, ""},
		{"", "window: 1500ms\n", nil, "x.yaml:12:1: window: must be a whole number of seconds, at least 1s"},
		{"", "window: 48h\n", nil, "x.yaml:12:1: window: must divide a day evenly, such as 1m, 5m, 15m, 1h or 24h"},
		{"", "window:\n", func(p *Pipeline) bool { return p.Window == engine.DefaultWindow }, ""},
		{"", "name: twitter-v2.eu\n", func(p *Pipeline) bool { return p.Name == "twitter-v2.eu" }, ""},
		{"", "name: twitter v2\n", nil, "x.yaml:12:1: name: must be letters, digits, _ . - (starting with a letter or digit), at most 64"},
		{"", "version: 1\n", nil, "x.yaml:12:1: version: duplicate key (first at line 1)"},
		{"", "dimensions: [lang, Lang]\n", nil, "x.yaml:12:20: dimensions[1]: duplicate of dimensions[0] (names are case-insensitive in the sink)"},
		{"", "dimensions: [lang, count]\n", nil, "x.yaml:12:20: dimensions[1]: is a column of every aggregate table (partition_id, start_offset, end_offset, timestamp, count); choose another name"},
		{"", "dimensions: [lang, [a]]\n", nil, "x.yaml:12:20: dimensions[1]: must be a string, not a list"},
		{"", "dimensions:\n  - lang\n  - country\n", func(p *Pipeline) bool { return slices.Equal(p.Dimensions, []string{"lang", "country"}) }, ""},
		{"", "window: 1m\n", func(p *Pipeline) bool { return slices.Equal(p.Aggregates, []string{"count"}) }, ""},
		{"", "aggregates: [sum]\n", func(p *Pipeline) bool { return slices.Equal(p.Aggregates, []string{"count", "sum"}) }, ""},
		{"", "aggregates: [count, sum, sum]\n", func(p *Pipeline) bool { return slices.Equal(p.Aggregates, []string{"count", "sum"}) }, ""},
		{"", "aggregates: [count, avg]\n", nil, "x.yaml:12:21: aggregates[1]: unknown aggregate; the aggregates are count (always kept) and sum"},
		{"", "aggregates: sum\n", nil, "x.yaml:12:1: aggregates: must be a list of aggregates (count, sum), not a string"},
		{"sink", "  config:\n    table: a\n    table: b\n", nil, "x.yaml:10:5: sink.config.table: duplicate key (first at line 9)"},
		{"source", "  config:\n", func(p *Pipeline) bool { return string(p.Source.Config) == "{}\n" }, ""},
	} {
		p, err := Parse("x.yaml", []byte(pipelineWith(tc.block, tc.lines)), nil)
		if tc.want == "" {
			if err != nil {
				t.Errorf("%q: %v", tc.lines, err)
			} else if !tc.check(p) {
				t.Errorf("%q: got %+v", tc.lines, *p)
			}
			continue
		}
		if got := messages(t, err); !slices.Equal(got, []string{tc.want}) {
			t.Errorf("%q: got %q, want %q", tc.lines, got, tc.want)
		}
	}
}

func TestAliasesRejected(t *testing.T) {
	data := []byte(`version: 1
source:
  plugin: kafka-source
  config: &shared
    brokers: b:9092
extractor: {plugin: tweet-extractor}
sink:
  plugin: mysql-sink
  config: *shared
  <<: {plugin: other}
`)
	_, err := Parse("x.yaml", data, nil)
	want := []string{
		"x.yaml:9:3: sink.config: YAML aliases are not supported in pipeline files",
		"x.yaml:10:3: sink.<<: YAML merge keys are not supported in pipeline files",
	}
	if got := messages(t, err); !slices.Equal(got, want) {
		t.Errorf("got\n%s\nwant\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
	_, err = Parse("x.yaml", []byte("version: *v\n"), nil)
	want = []string{"x.yaml: invalid YAML: unknown anchor 'v' referenced"}
	if got := messages(t, err); !slices.Equal(got, want) {
		t.Errorf("got %q, want %q", got, want)
	}
}

func TestNameFromFileName(t *testing.T) {
	data := []byte(pipelineWith("", ""))
	if p, err := Parse("pipelines/clicks.eu.yml", data, nil); err != nil || p.Name != "clicks.eu" {
		t.Errorf("got %v, %v; want name clicks.eu", p, err)
	}
	_, err := Parse("pipelines/my clicks.yaml", data, nil)
	want := "pipelines/my clicks.yaml: name: required: the file name gives no valid pipeline name (letters, digits, _ . -; at most 64)"
	if got := messages(t, err); !slices.Equal(got, []string{want}) {
		t.Errorf("got %q, want %q", got, want)
	}
}

func TestNotAPipeline(t *testing.T) {
	for _, tc := range []struct{ data, want string }{
		{"", "x.yaml: empty pipeline file"},
		{"# only a comment\n", "x.yaml: empty pipeline file"},
		{"- version: 1\n", "x.yaml:1:1: a pipeline file must be a mapping, not a list"},
	} {
		_, err := Parse("x.yaml", []byte(tc.data), nil)
		if got := messages(t, err); !slices.Equal(got, []string{tc.want}) {
			t.Errorf("%q: got %q, want %q", tc.data, got, tc.want)
		}
	}
}

func TestInterpolationCannotBreakStructure(t *testing.T) {
	// Each value would break the file, or shift lines, if it were pasted
	// into the YAML text before parsing.
	dsn := "app:p#ss: w{o}rd\n# not a comment@tcp(db:3306)/aggregates"
	vars := map[string]string{
		"KAPPA_MYSQL_DSN": dsn,
		"KAPPA_BROKERS":   "", // empty: the default applies
	}
	p, err := parseFile(t, "testdata/good.yaml", vars)
	if err != nil {
		t.Fatal(err)
	}
	var sink struct {
		DSN   string `yaml:"dsn"`
		Table string `yaml:"table"`
		TLS   struct {
			CA string `yaml:"ca"`
		} `yaml:"tls"`
	}
	if err := sdk.DecodeConfig(p.Sink.Config, &sink); err != nil {
		t.Fatalf("decode re-encoded sink config:\n%s\n%v", p.Sink.Config, err)
	}
	if sink.DSN != dsn || sink.Table != "twitter" || sink.TLS.CA != "/etc/ssl/ca.pem" {
		t.Errorf("sink config decoded to %+v from\n%s", sink, p.Sink.Config)
	}
	if !strings.HasPrefix(string(p.Source.Config), "brokers: 127.0.0.1:9092\n") {
		t.Errorf("source config\n%s\nwant the default brokers", p.Source.Config)
	}
}

func TestInterpolatedTypes(t *testing.T) {
	data := []byte(`version: ${V:-1}
source:
  plugin: kafka-source
  config:
    port: ${PORT:-3306}
    password: "${PASSWORD}"
    price: $$5 and $HOME
extractor: {plugin: tweet-extractor}
sink: {plugin: mysql-sink}
batch:
  max_records: ${N}
`)
	p, err := Parse("x.yaml", data, env(map[string]string{"PASSWORD": "null", "N": "100"}))
	if err != nil {
		t.Fatal(err)
	}
	if p.Version != 1 || p.Batch.MaxRecords != 100 {
		t.Errorf("version %d, max_records %d; want 1 and 100", p.Version, p.Batch.MaxRecords)
	}
	var source struct {
		Port     int    `yaml:"port"`
		Password string `yaml:"password"`
		Price    string `yaml:"price"`
	}
	if err := sdk.DecodeConfig(p.Source.Config, &source); err != nil {
		t.Fatalf("decode\n%s\n%v", p.Source.Config, err)
	}
	if source.Port != 3306 || source.Password != "null" || source.Price != "$5 and $HOME" {
		t.Errorf("decoded %+v from\n%s", source, p.Source.Config)
	}

	// A quoted reference stays a string, whatever it expands to.
	quoted := strings.Replace(string(data), "max_records: ${N}", `max_records: "${N}"`, 1)
	_, err = Parse("x.yaml", []byte(quoted), env(map[string]string{"PASSWORD": "", "N": "100"}))
	want := "x.yaml:11:3: batch.max_records: must be an integer, not a string"
	if got := messages(t, err); !slices.Equal(got, []string{want}) {
		t.Errorf("got %q, want %q", got, want)
	}
}

func TestInterpolate(t *testing.T) {
	vars := env(map[string]string{"A": "a", "EMPTY": "", "DOLLAR": "$B"})
	for _, tc := range []struct {
		in, want string
		problems []string
	}{
		{in: "plain", want: "plain"},
		{in: "${A}", want: "a"},
		{in: "x${A}y${A}z", want: "xayaz"},
		{in: "${A:-d}", want: "a"},
		{in: "${UNSET:-d}", want: "d"},
		{in: "${EMPTY:-d}", want: "d"},
		{in: "${EMPTY}", want: ""},
		{in: "${UNSET:-}", want: ""},
		{in: "${UNSET:-a:b}", want: "a:b"},
		{in: "${DOLLAR}", want: "$B"}, // values are not expanded again
		{in: "$${A}", want: "${A}"},
		{in: "$$$$", want: "$$"},
		{in: "pa$word$", want: "pa$word$"},
		{in: "${UNSET}-${OTHER}", want: "-", problems: []string{
			"variable UNSET is not set and has no default",
			"variable OTHER is not set and has no default",
		}},
		{in: "${A", want: "", problems: []string{"unterminated ${ (missing }; write $$ for a literal $)"}},
		{in: "${A-d}", want: "", problems: []string{"invalid variable reference: use ${NAME} or ${NAME:-default}, NAME being letters, digits and _"}},
		{in: "${}", want: "", problems: []string{"invalid variable reference: use ${NAME} or ${NAME:-default}, NAME being letters, digits and _"}},
	} {
		got, problems := interpolate(tc.in, vars)
		if got != tc.want || !slices.Equal(problems, tc.problems) {
			t.Errorf("interpolate(%q) = %q, %q; want %q, %q", tc.in, got, problems, tc.want, tc.problems)
		}
	}
}
