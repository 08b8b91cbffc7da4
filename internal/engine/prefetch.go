package engine

import (
	"context"

	"github.com/kappa-stream/kappa/sdk"
)

// Polling ahead: while batch N is extracted and committed, one goroutine
// already polls batch N+1, so the source's fetch and decode overlap with
// the extractor's and the sink's work. Exactly-once is unchanged, because
// only polling runs ahead:
//   - batches are handed over in poll order and extracted and committed one
//     at a time, in that order, by Run's goroutine;
//   - a polled batch is checked against the committed positions only when
//     its turn comes, after the batch before it committed;
//   - any failure stops the poller and drops every batch it polled before
//     resume re-reads the committed positions and seeks the source there
//     (Source calls stay sequential: the poller is stopped before Seek).
// Memory stays bounded: at most PollAhead batches wait besides the one
// being processed, and every batch is released (sdk.Batch.Release) once
// extracted or dropped, so its arena slot serves a later poll.

// polled is one Poll's outcome.
type polled struct {
	batch sdk.Batch
	err   error
}

// poller owns the goroutine that polls ahead.
type poller struct {
	batches chan polled
	cancel  context.CancelFunc
	done    chan struct{}
}

// pollOnce runs one Poll within its timeout.
func (e *Engine) pollOnce(ctx context.Context) (sdk.Batch, error) {
	pollCtx, cancel := context.WithTimeout(ctx, e.cfg.Limits.MaxWait+e.cfg.PollTimeout)
	defer cancel()
	return e.source.Poll(pollCtx, e.cfg.Limits)
}

// poll returns the next batch in order: polled ahead unless PollAhead is
// negative. After an error the poller is gone; the next call starts a new
// one from wherever resume has placed the source.
func (e *Engine) poll(ctx context.Context) (sdk.Batch, error) {
	if e.cfg.PollAhead < 0 {
		return e.pollOnce(ctx)
	}
	if e.poller == nil {
		e.startPoller(ctx)
	}
	select {
	case p := <-e.poller.batches:
		if p.err != nil {
			e.stopPoller()
		}
		return p.batch, p.err
	case <-ctx.Done():
		return sdk.Batch{}, ctx.Err()
	}
}

func (e *Engine) startPoller(ctx context.Context) {
	ctx, cancel := context.WithCancel(ctx)
	// The goroutine holds one polled batch while it waits to hand it over;
	// the channel buffers the rest.
	p := &poller{batches: make(chan polled, e.cfg.PollAhead-1), cancel: cancel, done: make(chan struct{})}
	e.poller = p
	go func() {
		defer close(p.done)
		for ctx.Err() == nil {
			e.tellCommitted(ctx) // between polls: Source calls never overlap
			b, err := e.pollOnce(ctx)
			select {
			case p.batches <- polled{b, err}:
			case <-ctx.Done():
				b.Release()
				return
			}
			if err != nil {
				return // the error ends this poller; resume starts afresh
			}
		}
	}()
}

// stopPoller stops the poller, waits until its Poll in flight returns, and
// drops whatever it had polled.
func (e *Engine) stopPoller() {
	if e.poller == nil {
		return
	}
	e.poller.cancel()
	<-e.poller.done
	for len(e.poller.batches) > 0 {
		(<-e.poller.batches).batch.Release()
	}
	e.poller = nil
}
