package engine

import (
	"context"
	"fmt"
	"maps"
	"time"

	"github.com/kappa-stream/kappa/sdk"
)

// Committing behind: while the sink commits batch N, Run's goroutine
// already extracts and aggregates batch N+1, so the extractor does not
// wait for the database. Exactly-once is unchanged:
//   - the sink gets one commit at a time, in batch order: N+1's commit
//     starts only after N's succeeded;
//   - N+1 is checked against the positions N's commit leads to (next), so
//     its ranges continue N's, and the sink fences any range that does not
//     continue what is committed;
//   - when N's commit fails, N+1 is dropped with it, and resume re-reads
//     the committed positions only after the commit in flight has ended,
//     whatever its outcome.
// Config.SyncCommit turns this off: each batch then waits for its commit.

// inflight is a commit the sink is making.
type inflight struct {
	done    chan error // the sink's answer
	commit  sdk.Commit
	stats   batchStats
	started time.Time // when the batch's step began
	// took is how long the sink's Commit took, and ended when it
	// returned: when the batch's rows became visible.
	took  time.Duration
	ended time.Time
	// first and last are the batch's oldest and newest record times.
	first, last time.Time
	lag         int64
}

// startCommit hands c to the sink in the background; finishCommit learns
// the outcome. b is the batch c records, for the log line.
func (e *Engine) startCommit(ctx context.Context, c sdk.Commit, stats batchStats, b sdk.Batch, started time.Time) {
	for _, r := range c.Ranges {
		e.next[r.Partition] = r.End
	}
	f := &inflight{done: make(chan error, 1), commit: c, stats: stats, started: started, lag: lag(b, e.next)}
	f.first, f.last = recordTimes(b)
	e.inflight = f
	go func() {
		// A commit is not cut short by SIGINT: it either lands whole or
		// not at all, and letting it finish saves re-reading the batch.
		commitCtx, cancel := context.WithTimeout(context.WithoutCancel(ctx), e.cfg.CommitTimeout)
		defer cancel()
		began := time.Now()
		err := e.sink.Commit(commitCtx, c)
		f.ended = time.Now()
		f.took = f.ended.Sub(began)
		f.done <- err
	}()
}

// finishCommit waits for the commit in flight, if any, and accounts for
// it: the committed positions, the totals and the batch's log line.
func (e *Engine) finishCommit() error {
	f := e.inflight
	if f == nil {
		return nil
	}
	e.inflight = nil
	if err := <-f.done; err != nil {
		return at(CauseSink, fmt.Errorf("commit batch of %d records: %w", f.stats.Records, err))
	}
	advanced := make(map[int32]int64, len(f.commit.Ranges))
	for _, r := range f.commit.Ranges {
		e.committed[r.Partition] = r.End
		advanced[r.Partition] = r.End
	}
	e.cfg.Observer.Positions(advanced)
	e.committedPositions(f.commit.Ranges)
	if e.poller == nil {
		e.tellCommitted(context.Background())
	}
	e.cfg.Observer.Committed(report(f))
	stats := f.stats
	e.totals.Batches++
	e.totals.Records += stats.Records
	e.totals.Facts += stats.Facts
	e.totals.Skipped += stats.Skipped
	e.totals.Rejected += stats.Rejected
	e.totals.Rows += int64(len(f.commit.Rows))

	attrs := []any{
		"records", stats.Records, "facts", stats.Facts, "skipped", stats.Skipped, "rejected", stats.Rejected,
		"partitions", len(f.commit.Ranges), "rows", len(f.commit.Rows),
		"poll_wait_ms", millis(stats.pollWait), "extract_ms", millis(stats.extract),
		"commit_ms", millis(f.took), "batch_ms", millis(f.ended.Sub(f.started)),
		"lag", f.lag,
	}
	if !f.first.IsZero() {
		attrs = append(attrs, "oldest_record_ms", millis(f.ended.Sub(f.first)), "newest_record_ms", millis(f.ended.Sub(f.last)))
	}
	if len(stats.reasons) > 0 {
		attrs = append(attrs, "reasons", stats.reasons)
	}
	e.cfg.Logger.Info("batch committed", attrs...)
	return nil
}

// settleCommit ends the commit in flight, if any, when nothing waits for
// its outcome any more: Run is returning, or recovering from a later
// batch's failure. A failed commit is logged; the positions that resume
// reads from the sink say what landed.
func (e *Engine) settleCommit() {
	if err := e.finishCommit(); err != nil {
		e.cfg.Logger.Error("batch failed; re-reading committed positions", "err", err)
	}
}

// resetNext makes the positions batches are checked against the committed
// ones, as when nothing is in flight.
func (e *Engine) resetNext() { e.next = maps.Clone(e.committed) }
