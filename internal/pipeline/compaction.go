package pipeline

import (
	"time"

	"gopkg.in/yaml.v3"
)

// Compaction is when the runtime asks the sink to roll settled history up
// (sdk.Compactor): every Every, the ranges committed more than After ago.
type Compaction struct {
	// Enabled is false after `compaction: off`, which leaves After and
	// Every at their defaults.
	Enabled bool
	// After is how long a committed range stays as it was committed
	// before compaction may merge it; default 10m, 0s allowed.
	After time.Duration
	// Every is how often the runtime compacts, between commits; default 1m.
	Every time.Duration
}

// Defaults of the compaction keys.
const (
	DefaultCompactionAfter = 10 * time.Minute
	DefaultCompactionEvery = time.Minute
)

// compaction reads `compaction: off` or a mapping of after and every.
func (l *loader) compaction(e entry) Compaction {
	c := Compaction{Enabled: true, After: DefaultCompactionAfter, Every: DefaultCompactionEvery}
	if !l.usable(e) {
		return c
	}
	if e.val.Kind == yaml.ScalarNode {
		// `off` is a string to yaml.v3 (YAML 1.2); `false` is a boolean.
		if (e.val.ShortTag() == "!!str" && e.val.Value == "off") || (e.val.ShortTag() == "!!bool" && e.val.Value == "false") {
			// After keeps its default: kappa-runtime compact's --older-than.
			c.Enabled = false
			return c
		}
		l.errorf(e.key, e.path, "must be off or a mapping with after: and every:, not %s", kindOf(e.val))
		return c
	}
	m := l.mapping(e, "after", "every")
	if m == nil {
		return c
	}
	if after := m["after"]; l.usable(after) {
		c.After = l.nonNegativeDuration(after)
	}
	c.Every = l.duration(m["every"], DefaultCompactionEvery)
	return c
}

// nonNegativeDuration is a duration where 0s means "at once".
func (l *loader) nonNegativeDuration(e entry) time.Duration {
	const want = "a duration such as 0s, 30s, 10m or 1h"
	if !l.scalar(e, want, "!!str", "!!int") {
		return 0
	}
	if e.val.ShortTag() == "!!int" && e.val.Value == "0" {
		return 0
	}
	d, err := time.ParseDuration(e.val.Value)
	switch {
	case err != nil || e.val.ShortTag() != "!!str":
		l.errorf(e.key, e.path, "must be %s", want)
	case d < 0:
		l.errorf(e.key, e.path, "must not be negative")
	}
	return d
}
