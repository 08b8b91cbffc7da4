package pipeline

import (
	"strings"

	"github.com/kappa-stream/kappa/internal/engine"
)

// What a runtime does when its commit is fenced, because another runtime
// committed the same partitions first (`on_fenced:`): the words of the
// file and the engine's policy each names, in one place.
var onFencedPolicies = map[string]engine.FencedPolicy{
	// Keep re-reading positions and trying again, so that the runtime
	// takes over when the other one stops. The default.
	"retry": engine.FencedRetry,
	// Stop the runtime with an error, leaving the pipeline to the runtime
	// that fenced it.
	"exit": engine.FencedExit,
}

// onFencedWords are onFencedPolicies' keys, the default first.
var onFencedWords = []string{"retry", "exit"}

// onFenced decodes `on_fenced:`.
func (l *loader) onFenced(e entry) engine.FencedPolicy {
	if !e.set() {
		return engine.FencedRetry
	}
	if !l.usable(e) || !l.scalar(e, "a string", "!!str") {
		return engine.FencedRetry
	}
	policy, ok := onFencedPolicies[e.val.Value]
	if !ok {
		l.errorf(e.val, e.path, "must be one of %s, not %q", strings.Join(onFencedWords, ", "), e.val.Value)
	}
	return policy
}
