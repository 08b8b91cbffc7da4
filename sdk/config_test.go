package sdk

import (
	"errors"
	"reflect"
	"strings"
	"testing"
	"time"
)

type testTLS struct {
	CA string `yaml:"ca"`
}

type testConfig struct {
	DSN     string        `yaml:"dsn"`
	Port    int           `yaml:"port"`
	Timeout time.Duration `yaml:"timeout"`
	TLS     testTLS       `yaml:"tls"`
}

func (c *testConfig) Validate() error {
	if c.DSN == "" {
		return ConfigErrors{{Path: "dsn", Message: "must not be empty"}}
	}
	return nil
}

func TestDecodeConfigKeepsDefaultsAndDecodes(t *testing.T) {
	c := testConfig{Port: 3306, Timeout: time.Second}
	if err := DecodeConfig([]byte("dsn: x\ntimeout: 5s\ntls:\n  ca: /etc/ca.pem\n"), &c); err != nil {
		t.Fatal(err)
	}
	want := testConfig{DSN: "x", Port: 3306, Timeout: 5 * time.Second, TLS: testTLS{CA: "/etc/ca.pem"}}
	if !reflect.DeepEqual(c, want) {
		t.Errorf("got %+v, want %+v", c, want)
	}
}

func TestDecodeConfigReportsEveryProblemWithItsPath(t *testing.T) {
	var c testConfig
	err := DecodeConfig([]byte("dsn: 'root:hunter2@tcp(x)/db'\nport: 'root:hunter2'\nbogus: 1\ntls:\n  ca: [a]\n  cert: x\n"), &c)
	var errs ConfigErrors
	if !errors.As(err, &errs) {
		t.Fatalf("err = %v, want ConfigErrors", err)
	}
	got := map[string]string{}
	for _, e := range errs {
		got[e.Path] = e.Message
	}
	for path, want := range map[string]string{
		"port":     "must be an integer",
		"bogus":    "unknown key",
		"tls.ca":   "must be a string, not a sequence",
		"tls.cert": "unknown key",
	} {
		if !strings.Contains(got[path], want) {
			t.Errorf("%s: message %q, want it to contain %q", path, got[path], want)
		}
	}
	if len(errs) != 4 {
		t.Errorf("got %d problems, want 4: %v", len(errs), errs)
	}
	if strings.Contains(err.Error(), "hunter2") {
		t.Errorf("error echoes a secret value: %v", err)
	}
}

func TestDecodeConfigRunsValidate(t *testing.T) {
	var c testConfig
	err := DecodeConfig([]byte("{}"), &c)
	var errs ConfigErrors
	if !errors.As(err, &errs) || len(errs) != 1 || errs[0].Path != "dsn" {
		t.Fatalf("err = %v, want one problem at dsn", err)
	}
	if err := DecodeConfig(nil, &testConfig{DSN: "x"}); err != nil {
		t.Errorf("empty config with valid defaults: %v", err)
	}
}

// taggedConfig declares "required" and "enum" only in its tags; its
// Validate repeats the required check by hand, as plugins did before the
// tags were enforced, to show that the tag's message is the one reported.
type taggedConfig struct {
	Table     string   `yaml:"table" required:"true"`
	Isolation string   `yaml:"isolation" enum:"read_committed,read_uncommitted"`
	Modes     []string `yaml:"modes" enum:"a, b"`
	TLS       struct {
		CA string `yaml:"ca" required:"true"`
	} `yaml:"tls"`
}

func (c *taggedConfig) Validate() error {
	if c.Table == "" {
		return ConfigError{Path: "table", Message: "must not be empty"}
	}
	return nil
}

func TestDecodeConfigEnforcesTheTagsDescribeShows(t *testing.T) {
	defaults := taggedConfig{Isolation: "read_committed"}
	c := defaults
	err := DecodeConfig([]byte("isolation: serializable\nmodes: [a, c]\n"), &c)
	want := ConfigErrors{
		{Path: "table", Message: "required (string)"},
		{Path: "isolation", Message: `"serializable" is not one of read_committed, read_uncommitted`},
		{Path: "modes", Message: `"c" is not one of a, b`},
		{Path: "tls.ca", Message: "required (string)"},
	}
	var got ConfigErrors
	if !errors.As(err, &got) || !reflect.DeepEqual(got, want) {
		t.Errorf("DecodeConfig =\n%#v\nwant\n%#v", err, want)
	}

	// The message of validate (the Validate call across the boundary) is
	// the same, and Describe shows the same tags.
	info := Info{Config: &defaults}
	info.Fields = Fields(info)
	if err := validateConfig(info, []byte("isolation: serializable\nmodes: [a, c]\n")); !errors.As(err, &got) || !reflect.DeepEqual(got, want) {
		t.Errorf("validateConfig =\n%#v\nwant\n%#v", err, want)
	}
	byName := map[string]Field{}
	for _, f := range info.Fields {
		byName[f.Name] = f
	}
	if !byName["table"].Required || !byName["tls.ca"].Required || byName["isolation"].Required {
		t.Errorf("required in Describe: %+v", info.Fields)
	}
	if e := byName["isolation"].Enum; !reflect.DeepEqual(e, []string{"read_committed", "read_uncommitted"}) || byName["isolation"].Default != "read_committed" {
		t.Errorf("isolation in Describe: %+v", byName["isolation"])
	}

	c = defaults
	if err := DecodeConfig([]byte("table: t\nisolation: read_uncommitted\nmodes: [b]\ntls: {ca: x}\n"), &c); err != nil {
		t.Errorf("valid block: %v", err)
	}
	// A key set but empty passes the tag; the plugin's own check says why
	// it is wrong.
	c = defaults
	err = DecodeConfig([]byte("table: ''\ntls: {ca: x}\n"), &c)
	if !errors.As(err, &got) || len(got) != 1 || got[0].Message != "must not be empty" {
		t.Errorf("empty table = %v, want the struct's own check", err)
	}
}
