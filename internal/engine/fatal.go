package engine

import (
	"errors"

	"github.com/kappa-stream/kappa/sdk"
)

// ErrFatal marks an error that no retry can cure: a plugin that cannot be
// started again, or a pipeline whose policy is to stop when fenced. Run
// returns such an error at once instead of recovering from it, and so it
// does with errors a plugin marked sdk.ErrPermanent.
var ErrFatal = errors.New("fatal")

// isFatal reports whether Run must stop on err rather than recover.
func isFatal(err error) bool {
	return errors.Is(err, ErrFatal) || errors.Is(err, sdk.ErrPermanent)
}
