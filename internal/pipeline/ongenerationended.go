package pipeline

import "strings"

// GenerationEndedPolicy is what a runtime does when its generation of the
// pipeline's output was frozen or retired by another generation's cutover
// (kappa-runtime reprocess) or a rollback (`on_generation_ended:`).
type GenerationEndedPolicy int

const (
	// GenerationEndedExit stops the runtime with exit status 0, saying
	// which generation is live. The default.
	GenerationEndedExit GenerationEndedPolicy = iota
	// GenerationEndedStandby keeps the runtime up, committing and polling
	// nothing, until a rollback makes its generation live again; it then
	// resumes from its generation's positions, as a restart would.
	GenerationEndedStandby
)

// onGenerationEndedPolicies names each policy by its word in the file.
var onGenerationEndedPolicies = map[string]GenerationEndedPolicy{
	"exit":    GenerationEndedExit,
	"standby": GenerationEndedStandby,
}

// onGenerationEndedWords are onGenerationEndedPolicies' keys, the default
// first.
var onGenerationEndedWords = []string{"exit", "standby"}

// onGenerationEnded decodes `on_generation_ended:`.
func (l *loader) onGenerationEnded(e entry) GenerationEndedPolicy {
	if !e.set() {
		return GenerationEndedExit
	}
	if !l.usable(e) || !l.scalar(e, "a string", "!!str") {
		return GenerationEndedExit
	}
	policy, ok := onGenerationEndedPolicies[e.val.Value]
	if !ok {
		l.errorf(e.val, e.path, "must be one of %s, not %q", strings.Join(onGenerationEndedWords, ", "), e.val.Value)
	}
	return policy
}
