package pipeline

import (
	"strings"
	"testing"
	"time"

	"github.com/kappa-stream/kappa/internal/engine"
)

const fencedBase = `version: 1
name: p
source: {plugin: s}
extractor: {plugin: e}
sink: {plugin: k}
`

func TestOnFenced(t *testing.T) {
	for _, c := range []struct {
		line string
		want engine.FencedPolicy
		err  string
	}{
		{"", engine.FencedRetry, ""},
		{"on_fenced:\n", engine.FencedRetry, ""},
		{"on_fenced: retry\n", engine.FencedRetry, ""},
		{"on_fenced: exit\n", engine.FencedExit, ""},
		{"on_fenced: quit\n", 0, `p.yaml:6:12: on_fenced: must be one of retry, exit, not "quit"`},
		{"on_fenced: [exit]\n", 0, "p.yaml:6:1: on_fenced: must be a string, not a list"},
	} {
		p, err := Parse("p.yaml", []byte(fencedBase+c.line), nil)
		if c.err != "" {
			if err == nil || !strings.Contains(err.Error(), c.err) {
				t.Errorf("%q: error %v, want %q", c.line, err, c.err)
			}
			continue
		}
		if err != nil || p.OnFenced != c.want {
			t.Errorf("%q: on_fenced %v (%v), want %v", c.line, p.OnFenced, err, c.want)
		}
	}
}

func TestOnGenerationEnded(t *testing.T) {
	for _, c := range []struct {
		line string
		want GenerationEndedPolicy
		err  string
	}{
		{"", GenerationEndedExit, ""},
		{"on_generation_ended:\n", GenerationEndedExit, ""},
		{"on_generation_ended: exit\n", GenerationEndedExit, ""},
		{"on_generation_ended: standby\n", GenerationEndedStandby, ""},
		{"on_generation_ended: wait\n", 0, `p.yaml:6:22: on_generation_ended: must be one of exit, standby, not "wait"`},
		{"on_generation_ended: {a: b}\n", 0, "p.yaml:6:1: on_generation_ended: must be a string, not a mapping"},
	} {
		p, err := Parse("p.yaml", []byte(fencedBase+c.line), nil)
		if c.err != "" {
			if err == nil || !strings.Contains(err.Error(), c.err) {
				t.Errorf("%q: error %v, want %q", c.line, err, c.err)
			}
			continue
		}
		if err != nil || p.OnGenerationEnded != c.want {
			t.Errorf("%q: on_generation_ended %v (%v), want %v", c.line, p.OnGenerationEnded, err, c.want)
		}
	}
}

func TestGiveUpAfter(t *testing.T) {
	for _, c := range []struct {
		line string
		want time.Duration
		err  string
	}{
		{"", engine.DefaultRetryFor, ""},
		{"give_up_after: 5s\n", 5 * time.Second, ""},
		{"give_up_after: 1h30m\n", 90 * time.Minute, ""},
		{"give_up_after: 0s\n", 0, "p.yaml:6:1: give_up_after: must be positive"},
		{"give_up_after: 30\n", 0, "p.yaml:6:1: give_up_after: must be a duration such as 30s, 1m or 1h30m, not an integer"},
		{"give_up_after: soon\n", 0, "p.yaml:6:1: give_up_after: must be a duration such as 30s, 1m or 1h30m"},
	} {
		p, err := Parse("p.yaml", []byte(fencedBase+c.line), nil)
		if c.err != "" {
			if err == nil || !strings.Contains(err.Error(), c.err) {
				t.Errorf("%q: error %v, want %q", c.line, err, c.err)
			}
			continue
		}
		if err != nil || p.GiveUpAfter != c.want {
			t.Errorf("%q: give_up_after %v (%v), want %v", c.line, p.GiveUpAfter, err, c.want)
		}
	}
}
