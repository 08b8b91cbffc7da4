package engine

import "errors"

// ErrFatal marks an error that no retry can cure: a plugin that cannot be
// started again, or a pipeline whose policy is to stop when fenced. Run
// returns such an error at once instead of recovering from it.
var ErrFatal = errors.New("fatal")
