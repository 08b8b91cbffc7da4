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
