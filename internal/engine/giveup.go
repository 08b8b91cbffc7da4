package engine

import (
	"errors"
	"fmt"
	"time"

	"github.com/kappa-stream/kappa/sdk"
)

// ErrGaveUp is wrapped by Run's error when batches kept failing, without
// one commit, for longer than Config.RetryFor (the pipeline's
// give_up_after).
var ErrGaveUp = errors.New("gave up")

// ErrDrainInterrupted is wrapped by Run's error in drain mode when ctx was
// cancelled before every partition reached its drain target. What was
// committed stays committed; a later drain continues from there.
var ErrDrainInterrupted = errors.New("drain interrupted before the end")

// failing is a run of consecutive failures: batches that did not commit
// and resumes that could not read the positions or seek the source. Only a
// commit, or a step that had nothing to commit once the source was read
// again as far as before the failure (readAgain), ends it. Handing a
// commit to the sink ends nothing: it commits in the background, and a
// sink that fails every commit would otherwise look healthy between two
// failures. Nor does an empty poll before the failed batch was read
// again: a source whose fetch has not returned by the batch's max_wait
// after a seek answers with an empty batch, and the failed batch is still
// ahead.
type failing struct {
	since time.Time
	count int
	// at is how far each partition had been read (Engine.read) when the
	// run last grew.
	at map[int32]int64
}

// add counts a failure, with read, how far each partition had been read
// then, and returns an error wrapping ErrGaveUp once the run has lasted
// longer than limit.
func (f *failing) add(err error, limit time.Duration, read map[int32]int64) error {
	now := time.Now()
	if f.count == 0 {
		f.since = now
	}
	f.count++
	for p, o := range read {
		if o > f.at[p] {
			if f.at == nil {
				f.at = make(map[int32]int64, len(read))
			}
			f.at[p] = o
		}
	}
	if lasted := now.Sub(f.since); lasted > limit {
		return fmt.Errorf("%w after batches kept failing for %s without a commit (give_up_after is %s; %d failures in a row); the last one: %w",
			ErrGaveUp, lasted.Round(100*time.Millisecond), limit, f.count, err)
	}
	return nil
}

// readAgain reports whether read has reached, in every partition, where
// reading had got to when the run of failures last grew.
func (f *failing) readAgain(read map[int32]int64) bool {
	for p, o := range f.at {
		if read[p] < o {
			return false
		}
	}
	return true
}

// drainInterrupted is what Run returns in drain mode when it stops before
// the drain ended: nil when the committed positions have reached every
// target after all, else an error wrapping ErrDrainInterrupted.
func (e *Engine) drainInterrupted(targets []sdk.Watermark) error {
	short := 0
	for _, w := range targets {
		if w.End > w.Start && e.committed[w.Partition] < w.End {
			short++
		}
	}
	if short == 0 {
		e.cfg.Logger.Info("drained", "partitions", len(targets), "batches", e.totals.Batches, "records", e.totals.Records)
		return nil
	}
	e.cfg.Logger.Warn("drain interrupted before the end", "partitions_short", short, "partitions", len(targets),
		"batches", e.totals.Batches, "records", e.totals.Records)
	return fmt.Errorf("%w: %d of %d partitions had not reached the end their log had at start; what was committed stays committed",
		ErrDrainInterrupted, short, len(targets))
}
