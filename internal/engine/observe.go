package engine

import (
	"context"
	"errors"
	"time"

	"github.com/kappa-stream/kappa/internal/pluginclient"
	"github.com/kappa-stream/kappa/sdk"
)

// Observing: an Observer (Config.Observer) learns what the engine does —
// its state, each committed batch, each failure and the log ends the source
// reports — so that the runtime can serve metrics and health. Every call
// comes from Run's goroutine, at most once per batch, never per record:
// the observer must be quick and must not call the plugins.

// State is what the engine is doing, as an Observer sees it.
type State string

const (
	StateStarting State = "starting" // reading positions, seeking (resume)
	StateRunning  State = "running"  // batches commit
	StateStandby  State = "standby"  // fenced: another runtime commits
	StateBackoff  State = "backoff"  // waiting after a failure
	StateDraining State = "draining" // running with Config.Drain
)

// States lists every State, for gauges that show one of them.
var States = []State{StateStarting, StateRunning, StateStandby, StateBackoff, StateDraining}

// Cause names what failed a batch or a resume, from a fixed set.
type Cause string

const (
	CauseFenced  Cause = "fenced"  // another writer committed first
	CauseSource  Cause = "source"  // Poll, Seek, Watermarks or a source contract
	CauseExtract Cause = "extract" // Extract or an extractor contract
	CauseSink    Cause = "sink"    // Commit or Positions
	CauseTimeout Cause = "timeout" // a plugin call ran out of time
	CausePlugin  Cause = "plugin"  // a plugin process died or was unreachable
)

// Causes lists every Cause.
var Causes = []Cause{CauseFenced, CauseSource, CauseExtract, CauseSink, CauseTimeout, CausePlugin}

// Observer receives what Run does; see the comment above.
type Observer interface {
	// StateChanged reports the engine's new state.
	StateChanged(State)
	// Positions reports the committed positions (after resume, and after
	// each commit: only the partitions it advanced).
	Positions(committed map[int32]int64)
	// HighWatermarks reports log ends the source saw: those of each
	// polled batch, and those Watermarks returned (resume, and every
	// Config.WatermarkRefresh while no batch is polled).
	HighWatermarks(ends map[int32]int64)
	// Committed reports a committed batch.
	Committed(BatchReport)
	// Failed reports a batch or resume that failed, and why.
	Failed(Cause, error)
	// Idle reports a step that had nothing to commit and no commit in
	// flight: the engine is turning, and nothing failed.
	Idle()
}

// BatchReport is one committed batch.
type BatchReport struct {
	Records, Facts, Skipped, Rejected int64
	// Reasons counts the rejects by their reason (nil when none).
	Reasons map[string]int
	Rows    int
	// Ranges are the partitions the batch advanced.
	Ranges []sdk.RangeStats
	// Oldest is the batch's oldest record time; zero when unknown.
	Oldest time.Time
	// Started is when the batch's step began; Ended when its commit
	// returned (its rows became visible); Commit how long the commit took.
	Started, Ended time.Time
	Commit         time.Duration
}

// PendingObserver is an Observer that also learns, for each polled batch,
// the first record of each partition it holds. Once everything before it
// has committed, that record is the partition's oldest uncommitted one, so
// its time tells lag in seconds (kappa_partition_lag_seconds).
type PendingObserver interface {
	Polled(first map[int32]RecordAt)
}

// RecordAt is a record's offset and the time its producer or broker gave it.
type RecordAt struct {
	Offset int64
	Time   time.Time
}

// CommitTimesObserver is an Observer that also learns, when the engine reads
// the committed positions, when the sink committed each of them (partitions
// whose sink does not say are left out): the last commit of a runtime that
// has not committed yet.
type CommitTimesObserver interface {
	CommittedAt(times map[int32]time.Time)
}

// DefaultWatermarkRefresh is Config.WatermarkRefresh's default: how often,
// while no batch is polled (backoff, standby), the engine asks the source
// for its log ends, so that a stuck pipeline shows growing lag rather than
// a frozen gauge.
const DefaultWatermarkRefresh = 3 * time.Second

// stageError names the stage an error came from, for Cause.
type stageError struct {
	cause Cause
	err   error
}

func (s stageError) Error() string { return s.err.Error() }
func (s stageError) Unwrap() error { return s.err }

// at marks err as coming from the given stage; nil stays nil.
func at(c Cause, err error) error {
	if err == nil {
		return nil
	}
	return stageError{c, err}
}

// CauseOf classifies err: fenced, a dead plugin and a timeout first,
// whatever the stage; then the stage that returned it (default sink).
func CauseOf(err error) Cause {
	var s stageError
	switch {
	case errors.Is(err, sdk.ErrFenced):
		return CauseFenced
	case errors.Is(err, pluginclient.ErrPluginUnavailable):
		return CausePlugin
	case errors.Is(err, context.DeadlineExceeded):
		return CauseTimeout
	case errors.As(err, &s):
		return s.cause
	}
	return CauseSink
}

// nopObserver is the Observer of an engine without one.
type nopObserver struct{}

func (nopObserver) StateChanged(State)             {}
func (nopObserver) Positions(map[int32]int64)      {}
func (nopObserver) HighWatermarks(map[int32]int64) {}
func (nopObserver) Committed(BatchReport)          {}
func (nopObserver) Failed(Cause, error)            {}
func (nopObserver) Idle()                          {}

// setState reports a state change once.
func (e *Engine) setState(s State) {
	if e.state == s {
		return
	}
	e.state = s
	e.cfg.Observer.StateChanged(s)
}

// batchPolled reports the log ends a polled batch carries and, to a
// PendingObserver, each partition's first record.
func (e *Engine) batchPolled(b sdk.Batch) {
	if _, ok := e.cfg.Observer.(nopObserver); ok {
		return
	}
	ends := make(map[int32]int64, len(b.Partitions))
	for _, p := range b.Partitions {
		if p.HighWatermark > 0 {
			ends[p.Partition] = p.HighWatermark
		}
	}
	if len(ends) > 0 {
		e.cfg.Observer.HighWatermarks(ends)
	}
	o, ok := e.cfg.Observer.(PendingObserver)
	if !ok {
		return
	}
	first := make(map[int32]RecordAt, len(b.Partitions))
	for _, p := range b.Partitions {
		if len(p.Records) > 0 && !p.Records[0].Time.IsZero() {
			first[p.Partition] = RecordAt{Offset: p.Records[0].Offset, Time: p.Records[0].Time}
		}
	}
	if len(first) > 0 {
		o.Polled(first)
	}
}

// commitTimesRead tells a CommitTimesObserver when the sink committed the
// positions just read.
func (e *Engine) commitTimesRead(positions []sdk.Position) {
	o, ok := e.cfg.Observer.(CommitTimesObserver)
	if !ok {
		return
	}
	times := make(map[int32]time.Time, len(positions))
	for _, p := range positions {
		if !p.CommittedAt.IsZero() {
			times[p.Partition] = p.CommittedAt
		}
	}
	if len(times) > 0 {
		o.CommittedAt(times)
	}
}

// marksSeen reports log ends Watermarks returned.
func (e *Engine) marksSeen(marks []sdk.Watermark) {
	ends := make(map[int32]int64, len(marks))
	for _, w := range marks {
		ends[w.Partition] = w.End
	}
	e.lastMarks = time.Now()
	e.cfg.Observer.HighWatermarks(ends)
}

// refreshMarks asks the source for its log ends when Config.WatermarkRefresh has
// passed since it last did. Only while no poller runs: Source calls must
// never overlap (sdk.Source). A failure is only logged: the next batch or
// resume reports it.
func (e *Engine) refreshMarks(ctx context.Context) {
	if e.poller != nil || time.Since(e.lastMarks) < e.cfg.WatermarkRefresh {
		return
	}
	if _, ok := e.cfg.Observer.(nopObserver); ok {
		return
	}
	readCtx, cancel := context.WithTimeout(ctx, e.cfg.PollTimeout)
	marks, err := e.source.Watermarks(readCtx)
	cancel()
	if err != nil {
		e.cfg.Logger.Debug("refresh log ends for metrics", "err", err)
		return
	}
	e.marksSeen(marks)
}

// report builds the BatchReport of a committed batch.
func report(f *inflight) BatchReport {
	s := f.stats
	return BatchReport{
		Records: s.Records, Facts: s.Facts, Skipped: s.Skipped, Rejected: s.Rejected, Reasons: s.reasons,
		Rows: len(f.commit.Rows), Ranges: f.commit.Ranges, Oldest: f.first,
		Started: f.started, Ended: f.ended, Commit: f.took,
	}
}

// activeState is the state of an engine whose batches commit.
func (e *Engine) activeState() State {
	if e.cfg.Drain {
		return StateDraining
	}
	return StateRunning
}
