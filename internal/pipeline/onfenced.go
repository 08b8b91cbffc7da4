package pipeline

import (
	"slices"
	"strings"
)

// What a runtime does when its commit is fenced, because another runtime
// committed the same partitions first (`on_fenced:`).
const (
	// OnFencedRetry keeps re-reading positions and trying again, so that
	// the runtime takes over when the other one stops. The default.
	OnFencedRetry = "retry"
	// OnFencedExit stops the runtime with an error, leaving the pipeline
	// to the runtime that fenced it.
	OnFencedExit = "exit"
)

var onFencedPolicies = []string{OnFencedRetry, OnFencedExit}

// onFenced decodes `on_fenced:`.
func (l *loader) onFenced(e entry) string {
	if !e.set() {
		return OnFencedRetry
	}
	if !l.usable(e) || !l.scalar(e, "a string", "!!str") {
		return OnFencedRetry
	}
	if !slices.Contains(onFencedPolicies, e.val.Value) {
		l.errorf(e.val, e.path, "must be one of %s, not %q", strings.Join(onFencedPolicies, ", "), e.val.Value)
	}
	return e.val.Value
}
