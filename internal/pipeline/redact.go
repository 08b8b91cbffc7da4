package pipeline

import (
	"fmt"

	"gopkg.in/yaml.v3"
)

// Redacted is the pipeline's plugins' config as plain values, for display
// (the runtime's /status): every value under a key that may hold a secret
// (the keys whose values errors never show) is "[redacted]". Every
// mapping comes out keyed by strings, so that it encodes as JSON.
func (p *Pipeline) Redacted() map[string]any {
	out := map[string]any{}
	for name, pl := range map[string]Plugin{"source": p.Source, "extractor": p.Extractor, "sink": p.Sink} {
		var config any
		if err := yaml.Unmarshal(pl.Config, &config); err != nil {
			config = "[unreadable]"
		}
		out[name] = map[string]any{"plugin": pl.Name, "config": redactValue("", config)}
	}
	return out
}

func redactValue(key string, v any) any {
	if key != "" && secretKey.MatchString(key) {
		return "[redacted]"
	}
	switch v := v.(type) {
	case map[string]any:
		m := make(map[string]any, len(v))
		for k, x := range v {
			m[k] = redactValue(k, x)
		}
		return m
	case map[any]any: // a mapping with a key that is no string, such as 1:
		m := make(map[string]any, len(v))
		for k, x := range v {
			m[fmt.Sprint(k)] = redactValue(fmt.Sprint(k), x)
		}
		return m
	case []any:
		s := make([]any, len(v))
		for i, x := range v {
			s[i] = redactValue(key, x)
		}
		return s
	}
	return v
}
