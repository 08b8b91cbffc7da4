package engine

import (
	"context"
	"errors"
	"time"

	"github.com/kappa-stream/kappa/internal/pluginclient"
	"github.com/kappa-stream/kappa/sdk"
)

// Compaction is when Run asks the sink to roll settled history up, between
// commits, through sdk.Compactor. A sink without it is left alone, with one
// info line.
type Compaction struct {
	// Every is how often; 0 disables compaction.
	Every time.Duration
	// After is how long a committed range stays as committed before it may
	// be merged (0: at once).
	After time.Duration
	// Budget is how long one call may keep starting spans, so that the
	// batches behind it wait little (default DefaultCompactionBudget).
	Budget time.Duration
}

// DefaultCompactionBudget bounds one compaction call: a span of 256
// batches took up to 0.4 s on MariaDB here, so a call holds the pipeline
// for about a second at most.
const DefaultCompactionBudget = time.Second

// compactState is the engine's memory of compaction between steps.
type compactState struct {
	last time.Time
	off  bool // the sink does not compact
}

// maybeCompact runs one bounded compaction call when Every has passed
// since the last one (or since Run started). Failures are logged, never
// returned: the pipeline's commits do not depend on compaction.
func (e *Engine) maybeCompact(ctx context.Context) {
	c := e.cfg.Compaction
	if c.Every <= 0 || e.compaction.off {
		return
	}
	now := time.Now()
	if e.compaction.last.IsZero() {
		e.compaction.last = now
		return
	}
	if now.Sub(e.compaction.last) < c.Every {
		return
	}
	e.compaction.last = now
	log := e.cfg.Logger
	compactor, ok := e.sink.(sdk.Compactor)
	if !ok {
		e.compaction.off = true
		log.Info("the sink does not compact; compaction is off")
		return
	}
	budget := c.Budget
	if budget <= 0 {
		budget = DefaultCompactionBudget
	}
	// The budget bounds the spans started; the timeout, one span more.
	callCtx, cancel := context.WithTimeout(ctx, budget+e.cfg.CommitTimeout)
	defer cancel()
	res, err := compactor.Compact(callCtx, sdk.CompactRequest{OlderThan: c.After, Budget: budget})
	if errors.Is(err, pluginclient.ErrCompactUnsupported) {
		e.compaction.off = true
		log.Info("the sink does not compact; compaction is off")
		return
	}
	attrs := []any{"spans", res.Spans, "batches", res.Batches, "rows_before", res.RowsBefore, "rows_after", res.RowsAfter,
		"raced", res.Raced, "done", res.Done, "took", time.Since(now).Round(time.Millisecond)}
	switch {
	case err != nil && ctx.Err() == nil:
		log.Warn("compaction failed; commits go on", append(attrs, "err", err)...)
	case res.Spans > 0 || res.Raced > 0:
		log.Info("compacted", attrs...)
	default:
		log.Debug("compacted", attrs...)
	}
	e.compaction.last = time.Now()
}
