package pipeline

import (
	"errors"
	"slices"
	"strings"
	"testing"

	"github.com/kappa-stream/kappa/sdk"
)

func TestConfigErrorsPositions(t *testing.T) {
	p, err := parseFile(t, "testdata/good.yaml", nil)
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		plugin Plugin
		path   string
		want   string
	}{
		{p.Sink, "table", "testdata/good.yaml:15:5: sink.config.table: boom"},
		{p.Sink, "tls.ca", "testdata/good.yaml:17:7: sink.config.tls.ca: boom"},
		// A key the plugin requires but the file lacks: the nearest
		// enclosing key that exists.
		{p.Sink, "tls.cert", "testdata/good.yaml:16:5: sink.config.tls.cert: boom"},
		{p.Sink, "pool.size", "testdata/good.yaml:13:3: sink.config.pool.size: boom"},
		{p.Sink, "", "testdata/good.yaml:13:3: sink.config: boom"},
		{p.Source, "topic", "testdata/good.yaml:7:5: source.config.topic: boom"},
		{p.Source, "topic[0]", "testdata/good.yaml:7:5: source.config.topic[0]: boom"},
		// The extractor has no config: block, so its own key.
		{p.Extractor, "format", "testdata/good.yaml:9:1: extractor.config.format: boom"},
	} {
		err := tc.plugin.ConfigErrors(sdk.ConfigErrors{{Path: tc.path, Message: "boom"}})
		if got := messages(t, err); !slices.Equal(got, []string{tc.want}) {
			t.Errorf("%s: got %q, want %q", tc.path, got, tc.want)
		}
	}
	if err := p.Sink.ConfigErrors(nil); err != nil {
		t.Errorf("no config errors gave %v, want nil", err)
	}
}

func TestConfigErrorsInListsAndOrder(t *testing.T) {
	data := []byte(`version: 1
source: {plugin: kafka-source}
extractor: {plugin: tweet-extractor}
sink:
  plugin: mysql-sink
  config:
    replicas:
      - host: a
      - host: b
        port: 3307
    table: t
`)
	p, err := Parse("x.yaml", data, nil)
	if err != nil {
		t.Fatal(err)
	}
	err = p.Sink.ConfigErrors(sdk.ConfigErrors{
		{Path: "table", Message: "must not be t"},
		{Path: "replicas[1].port", Message: "must be 3306"},
		{Path: "replicas[7]", Message: "out of range"},
	})
	want := []string{
		"x.yaml:7:5: sink.config.replicas[7]: out of range",
		"x.yaml:10:9: sink.config.replicas[1].port: must be 3306",
		"x.yaml:11:5: sink.config.table: must not be t",
	}
	if got := messages(t, err); !slices.Equal(got, want) {
		t.Errorf("got\n%s\nwant\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
	var e *Error
	if !errors.As(err, &e) || e.Line != 7 || e.Path != "sink.config.replicas[7]" {
		t.Errorf("errors.As gave %+v, want the first error at line 7", e)
	}
}

// A plugin's errors may quote the value (yaml.v3's own messages quote the
// first characters of it, and a third-party plugin may pass them on); for
// secret keys the positioned error must not.
func TestConfigErrorsHideSecrets(t *testing.T) {
	const password = "hunter2-correct-horse"
	vars := map[string]string{"KAPPA_MYSQL_DSN": "admin:" + password + "@tcp(db:3306)/aggregates"}
	p, err := parseFile(t, "testdata/good.yaml", vars)
	if err != nil {
		t.Fatal(err)
	}
	ces := sdk.ConfigErrors{
		{Path: "dsn", Message: "cannot unmarshal !!str `admin:h...` into int"},
		{Path: "table", Message: "cannot unmarshal !!str `twitter` into int"},
		{Path: "tls", Message: "cannot unmarshal !!map into string"},
	}
	got := messages(t, p.Sink.ConfigErrors(ces))
	want := []string{
		"testdata/good.yaml:14:5: sink.config.dsn: cannot unmarshal !!str [redacted] into int",
		// Not a secret: the value may help.
		"testdata/good.yaml:15:5: sink.config.table: cannot unmarshal !!str `twitter` into int",
		"testdata/good.yaml:16:5: sink.config.tls: cannot unmarshal !!map into string",
	}
	if !slices.Equal(got, want) {
		t.Errorf("got\n%s\nwant\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}

	// A message that quotes the whole value.
	got = messages(t, p.Sink.ConfigErrors(sdk.ConfigErrors{{Path: "dsn", Message: "cannot parse admin:" + password + "@tcp(db:3306)/aggregates: bad"}}))
	if want := "testdata/good.yaml:14:5: sink.config.dsn: cannot parse [redacted]: bad"; got[0] != want {
		t.Errorf("got %q, want %q", got[0], want)
	}
}
