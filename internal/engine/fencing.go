package engine

import (
	"fmt"
	"time"
)

// FencedPolicy is what Run does when a commit is fenced: another writer,
// usually a second runtime on the same pipeline, committed the batch's
// partitions first. The sink's fence guarantees that nothing is counted
// twice either way; the policy only decides who stays.
type FencedPolicy int

const (
	// FencedRetry keeps re-reading positions and retrying with backoff,
	// standing by to take over when the other writer stops.
	FencedRetry FencedPolicy = iota
	// FencedExit makes Run return an error wrapping sdk.ErrFenced.
	FencedExit
)

// fencing is a run of consecutive fenced batches; zero when not fenced.
type fencing struct {
	since   time.Time
	batches int
	// committed is Totals.Batches when the run began: a later count means
	// this engine committed again.
	committed int64
}

// fenced handles a fenced batch: the first of a run is logged, the rest
// are only counted, so that a standby runtime does not flood its log.
func (e *Engine) fenced(err error) error {
	if e.cfg.OnFenced == FencedExit {
		return fmt.Errorf("fenced: another runtime is committing this pipeline's partitions, and on_fenced is exit: %w", err)
	}
	if e.fencing.batches == 0 {
		e.fencing = fencing{since: time.Now(), committed: e.totals.Batches}
		e.cfg.Logger.Warn("fenced: another runtime is committing this pipeline's partitions; standing by and retrying (said once until this runtime commits again)",
			"err", err)
	}
	e.fencing.batches++
	return nil
}

// unfenced ends a run of fenced batches once this engine commits again.
func (e *Engine) unfenced() {
	if e.fencing.batches == 0 || e.totals.Batches == e.fencing.committed {
		return
	}
	e.cfg.Logger.Info("no longer fenced: committing again", "fenced_batches", e.fencing.batches,
		"fenced_for", time.Since(e.fencing.since).Round(time.Millisecond))
	e.fencing = fencing{}
}
