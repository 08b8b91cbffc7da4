package pipeline

import (
	"strings"
	"testing"
)

const fencedBase = `version: 1
name: p
source: {plugin: s}
extractor: {plugin: e}
sink: {plugin: k}
`

func TestOnFenced(t *testing.T) {
	for _, c := range []struct {
		line, want, err string
	}{
		{"", OnFencedRetry, ""},
		{"on_fenced:\n", OnFencedRetry, ""},
		{"on_fenced: retry\n", OnFencedRetry, ""},
		{"on_fenced: exit\n", OnFencedExit, ""},
		{"on_fenced: quit\n", "", `p.yaml:6:12: on_fenced: must be one of retry, exit, not "quit"`},
		{"on_fenced: [exit]\n", "", "p.yaml:6:1: on_fenced: must be a string, not a list"},
	} {
		p, err := Parse("p.yaml", []byte(fencedBase+c.line), nil)
		if c.err != "" {
			if err == nil || !strings.Contains(err.Error(), c.err) {
				t.Errorf("%q: error %v, want %q", c.line, err, c.err)
			}
			continue
		}
		if err != nil || p.OnFenced != c.want {
			t.Errorf("%q: on_fenced %q (%v), want %q", c.line, p.OnFenced, err, c.want)
		}
	}
}
