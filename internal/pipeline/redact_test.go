package pipeline

import (
	"encoding/json"
	"strings"
	"testing"
)

// /status shows the config through Redacted: no password of a sink's DSN
// may be in it, whichever sink and DSN form, nor one under a nested key,
// also in a mapping with keys that are not strings.
func TestRedactedHidesEverySecret(t *testing.T) {
	for _, c := range []struct{ name, sink, dsn string }{
		{"mysql", "mysql-sink", "kappa:s3cr3t-my@tcp(127.0.0.1:3306)/aggregates"},
		{"postgres URL", "postgres-sink", "postgres://kappa:s3cr3t-pg@127.0.0.1:5432/postgres?sslmode=disable"},
		{"postgres key=value", "postgres-sink", "host=127.0.0.1 user=kappa password=s3cr3t-kv dbname=postgres"},
	} {
		t.Run(c.name, func(t *testing.T) {
			file := `version: 1
source:
  plugin: kafka-source
  config:
    brokers: 127.0.0.1:9092
    topic: twitter
    sasl: {user: kappa, password: s3cr3t-sasl}
extractor:
  plugin: tweet-extractor
sink:
  plugin: ` + c.sink + `
  config:
    dsn: ${DSN}
    table: twitter
    tls: {1: one, private_key: s3cr3t-key}
`
			env := func(k string) (string, bool) { return c.dsn, k == "DSN" }
			p, err := Parse("t.yaml", []byte(file), env)
			if err != nil {
				t.Fatal(err)
			}
			if p.Sink.Name != c.sink {
				t.Fatalf("sink %q", p.Sink.Name)
			}
			out, err := json.Marshal(p.Redacted())
			if err != nil {
				t.Fatalf("json of the redacted config (as /status encodes it): %v", err)
			}
			if strings.Contains(string(out), "s3cr3t") {
				t.Errorf("a secret in the redacted config: %s", out)
			}
			for _, want := range []string{`"dsn":"[redacted]"`, `"table":"twitter"`, `"password":"[redacted]"`, `"topic":"twitter"`} {
				if !strings.Contains(string(out), want) {
					t.Errorf("redacted config lacks %s: %s", want, out)
				}
			}
		})
	}
}
