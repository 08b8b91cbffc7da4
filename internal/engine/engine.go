// Package engine drives micro-batches from a source through an extractor
// into a sink, keeping the exactly-once contract (README.md, "How the
// commit works" and "Failure handling"; docs/ARCHITECTURE.md): every batch
// starts at the committed positions, and after any failure the engine
// forgets what it read, re-reads the committed positions and seeks there.
package engine

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"math"
	"slices"
	"time"

	"github.com/kappa-stream/kappa/internal/pluginclient"
	"github.com/kappa-stream/kappa/sdk"
)

// DrainInterval caps the batch interval of a drain (Config.Drain); it is
// the wait the source's backlog fill used before batches had a cadence.
const DrainInterval = 50 * time.Millisecond

// DefaultPollAhead is Config.PollAhead's default: two batches polled ahead
// ride out a slow fetch without the extractor waiting (make bench: ~10%
// more than one).
const DefaultPollAhead = 2

// Config tunes an Engine. Zero values are replaced by the defaults named
// on each field.
type Config struct {
	// Window is the tumbling event-time window (default 1m).
	Window time.Duration
	// Dimensions are the dimension names every fact carries.
	Dimensions []string
	// FactLimits is what the sink can store of a fact (its Info); records
	// with a fact outside them are rejected before aggregation (screen.go).
	FactLimits sdk.FactLimits
	// Limits bound each poll (defaults: 50,000 records, 8 MiB, 1s wait).
	Limits sdk.Limits
	// PollTimeout, ExtractTimeout and CommitTimeout bound each call to a
	// plugin (defaults 30s, 30s, 60s). PollTimeout is added to Limits.MaxWait,
	// and bounds Seek and Watermarks too; CommitTimeout bounds Positions.
	PollTimeout, ExtractTimeout, CommitTimeout time.Duration
	// Drain makes Run return once every partition has reached the end its
	// log had when Run started. A drain cuts a batch when it is full or
	// DrainInterval after the last one, whichever Limits.MaxWait is
	// shorter: a backlog fills its batches long before either, and the
	// batch that reaches the end need not wait out a whole interval.
	Drain bool
	// PollAhead is how many batches are polled while the one before them
	// is extracted and committed (default DefaultPollAhead); negative
	// polls only when the previous batch is committed. See prefetch.go.
	PollAhead int
	// SyncCommit makes each batch wait for its commit before the next one
	// is extracted; by default the next one is extracted and aggregated
	// while the sink commits (commit.go).
	SyncCommit bool
	// RetryFor is how long the engine keeps recovering from consecutive
	// failures (batches that do not commit, positions that cannot be read)
	// before Run gives up with ErrGaveUp (default 2m; the pipeline's
	// give_up_after). Fenced batches do not count: see OnFenced.
	RetryFor time.Duration
	// OnFenced is what Run does when another writer committed its
	// partitions first (default FencedRetry).
	OnFenced FencedPolicy
	// Logger receives one line per batch and every recovery (default: slog.Default()).
	Logger *slog.Logger
	// Compaction is when the sink rolls settled history up (compact.go).
	Compaction Compaction
	// StreamID is the identity of the stream instance the source reported
	// from Open (sdk.SourceInfo.StreamID), committed with the positions;
	// positions committed under another are refused (identity.go).
	StreamID string
	// Observer learns the engine's state, batches and failures (observe.go);
	// default none.
	Observer Observer
	// DeadLetters is what the sink keeps of rejected records (its
	// sdk.DeadLetterStore policy): when enabled, each commit carries the
	// batch's rejected records, cut to MaxBytes (deadletters.go). Off by
	// default, and then nothing of a rejected record is kept.
	DeadLetters sdk.DeadLetterPolicy
	// WatermarkRefresh is how often the source's log ends are read for the
	// Observer while no batch is polled (default DefaultWatermarkRefresh).
	WatermarkRefresh time.Duration
	// Group is set when the source is a consumer-group member
	// (sdk.SourceInfo.Group): other runtimes share the stream's
	// partitions. A rebalance the source reports re-reads positions
	// (group.go); a fenced batch re-reads them too instead of standing
	// by, and a drain ends when every partition's committed position
	// reached its target, whoever committed it.
	Group bool
}

func (c *Config) setDefaults() {
	if c.Window <= 0 {
		c.Window = DefaultWindow
	}
	if c.Limits.MaxRecords <= 0 {
		c.Limits.MaxRecords = DefaultMaxRecords
	}
	if c.Limits.MaxBytes <= 0 {
		c.Limits.MaxBytes = DefaultMaxBytes
	}
	if c.Limits.MaxWait <= 0 {
		c.Limits.MaxWait = DefaultMaxWait
	}
	if c.PollTimeout <= 0 {
		c.PollTimeout = DefaultPollTimeout
	}
	if c.ExtractTimeout <= 0 {
		c.ExtractTimeout = DefaultExtractTimeout
	}
	if c.CommitTimeout <= 0 {
		c.CommitTimeout = DefaultCommitTimeout
	}
	if c.RetryFor <= 0 {
		c.RetryFor = DefaultRetryFor
	}
	if c.PollAhead == 0 {
		c.PollAhead = DefaultPollAhead
	}
	if c.Logger == nil {
		c.Logger = slog.Default()
	}
	if c.Observer == nil {
		c.Observer = nopObserver{}
	}
	if c.WatermarkRefresh <= 0 {
		c.WatermarkRefresh = DefaultWatermarkRefresh
	}
}

// Engine runs one pipeline. Its plugins must already be open.
type Engine struct {
	cfg       Config
	stream    string
	source    sdk.Source
	extractor sdk.Extractor
	sink      sdk.Sink

	// committed is the next offset of every partition as the sink last
	// confirmed it (or as a successful commit advanced it).
	committed map[int32]int64
	// next is where each partition's next range must start: committed,
	// advanced by the commit in flight.
	next map[int32]int64
	// read is how far each partition has been polled since the last
	// resume: committed, advanced by every batch a step took (giveup.go).
	read map[int32]int64
	// inflight is the commit the sink is making; nil when none.
	inflight *inflight
	totals   Totals
	out      sdk.Extraction
	// poller polls ahead of the batch in process; nil when stopped.
	poller *poller
	// fencing tracks a run of fenced batches (fencing.go).
	fencing fencing
	// compaction tracks compaction between steps (compact.go).
	compaction compactState
	// state is what the Observer was last told; lastMarks when the
	// source's log ends were last read (observe.go).
	state     State
	lastMarks time.Time
	// tell holds the positions to tell the source (committed.go).
	tell tellSource
	// lastDrainCheck is when a group member's drain last read every
	// member's positions (group.go).
	lastDrainCheck time.Time
}

// Totals counts what an engine has committed since it started.
type Totals struct {
	Batches, Records, Facts, Skipped, Rejected, Rows int64
}

// New returns an engine over opened plugins; stream is what the source
// reported from Open.
func New(cfg Config, stream string, source sdk.Source, extractor sdk.Extractor, sink sdk.Sink) *Engine {
	cfg.setDefaults()
	if cfg.Drain {
		cfg.Limits.MaxWait = min(cfg.Limits.MaxWait, DrainInterval)
	}
	return &Engine{cfg: cfg, stream: stream, source: source, extractor: extractor, sink: sink}
}

// Totals reports what has been committed so far.
func (e *Engine) Totals() Totals { return e.totals }

// Run processes batches until ctx is cancelled (then it finishes or drops
// the batch in flight and returns nil, or an error wrapping
// ErrDrainInterrupted when Config.Drain is set and the drain had not
// reached its end), until the backlog is drained when Config.Drain is set,
// until a fatal error, or until failures persist for Config.RetryFor (an
// error wrapping ErrGaveUp).
//
// After any failure Run polls nothing until it has read the committed
// positions again and sought the source there (resume): a batch read from
// wherever the source happened to be could skip records.
func (e *Engine) Run(ctx context.Context) error {
	log := e.cfg.Logger
	var targets []sdk.Watermark
	if e.cfg.Drain {
		var err error
		if targets, err = e.source.Watermarks(ctx); err != nil {
			if ctx.Err() != nil {
				return fmt.Errorf("%w: stopped while reading the ends to drain to", ErrDrainInterrupted)
			}
			return fmt.Errorf("read watermarks to drain to: %w", err)
		}
	}
	// Deferred calls run last first: the last commit ends, the poller
	// stops, and then the source learns what was committed.
	defer e.tellCommitted(context.WithoutCancel(ctx))
	defer e.stopPoller()
	defer e.settleCommit()

	var failures failing
	backoff := newBackoff(100*time.Millisecond, 5*time.Second)
	needResume := true
	e.setState(StateStarting)
	for ctx.Err() == nil {
		if needResume {
			err := e.resume(ctx)
			if err == nil {
				needResume = false
				if e.fencing.batches == 0 {
					e.setState(e.activeState())
				}
				continue
			}
			if ctx.Err() != nil {
				break
			}
			e.cfg.Observer.Failed(CauseOf(err), err)
			if errors.Is(err, sdk.ErrPermanent) {
				return err
			}
			if err := failures.add(err, e.cfg.RetryFor, e.read); err != nil {
				return err
			}
			log.Error("resume failed", "err", err, "failures", failures.count)
			e.setState(StateBackoff)
			e.refreshMarks(ctx)
			if !sleep(ctx, backoff.next()) {
				break
			}
			continue
		}
		// A step only hands its batch's commit to the sink; whether the
		// batch failed is known when the commit ends, in a later step.
		committed := e.totals.Batches
		var err error
		if e.cfg.Drain && (e.caughtUp(targets, e.next) || e.cfg.Group && e.groupCaughtUp(ctx, targets)) {
			// The last batch may still be committing.
			if err = e.finishCommit(); err == nil {
				log.Info("drained", "partitions", len(targets), "batches", e.totals.Batches, "records", e.totals.Records)
				return nil
			}
		} else {
			err = e.step(ctx)
		}
		if err == nil {
			// Only a commit, or a step that left nothing to commit once
			// the source was read again past the failure, ends a run of
			// failures; a standby (fenced) engine needs a commit.
			if e.totals.Batches > committed || (e.inflight == nil && e.fencing.batches == 0 && failures.readAgain(e.read)) {
				failures = failing{}
				backoff.reset()
				e.unfenced()
				if e.fencing.batches == 0 {
					e.setState(e.activeState())
				}
			}
			if e.inflight == nil && e.totals.Batches == committed && e.fencing.batches == 0 {
				e.cfg.Observer.Idle()
			}
			e.maybeCompact(ctx)
			e.refreshMarks(ctx)
			continue
		}
		if ctx.Err() != nil {
			break
		}
		if e.rebalanced(err) {
			// No failure: resume settles the commit in flight, drops
			// what was polled, re-reads positions and seeks. Partitions
			// that left are read no further here: a run of failures is
			// judged on what is read from now on.
			failures.at = nil
			needResume = true
			continue
		}
		e.cfg.Observer.Failed(CauseOf(err), err)
		if errors.Is(err, sdk.ErrPermanent) {
			return err
		}
		// Nothing is polled again before resume has sought the source.
		needResume = true
		e.stopPoller()
		if e.cfg.Group && errors.Is(err, sdk.ErrFenced) {
			// Another member committed a partition this batch held: the
			// group moved it. Re-read the positions of what this runtime
			// owns and go on; standing by would idle a member.
			log.Info("fenced in a consumer group: a partition moved; re-reading committed positions", "err", err)
			failures = failing{}
			backoff.reset()
		} else if errors.Is(err, sdk.ErrFenced) {
			// Being fenced is no failure to give up on: another runtime
			// works, and this one stands by (fencing.go), backing off.
			if err := e.fenced(err); err != nil {
				return err
			}
			failures = failing{}
			e.setState(StateStandby)
		} else {
			if err := failures.add(err, e.cfg.RetryFor, e.read); err != nil {
				return err
			}
			retryable := errors.Is(err, sdk.ErrRetryable)
			if retryable {
				// The plugin says the same commit may succeed at once (a
				// deadlock, a lost connection): retry after the shortest
				// wait, not a backoff grown by earlier failures.
				backoff.reset()
			}
			log.Error("batch failed; re-reading committed positions", "err", err, "retryable", retryable)
			e.setState(StateBackoff)
		}
		e.refreshMarks(ctx)
		if !sleep(ctx, backoff.next()) {
			break
		}
	}
	e.settleCommit()
	if e.cfg.Drain {
		return e.drainInterrupted(targets)
	}
	log.Info("stopped", "batches", e.totals.Batches, "records", e.totals.Records)
	return nil
}

// resume reads the committed positions and seeks the source there. It is
// how the engine starts and how it recovers from any failure, including a
// commit whose outcome it never learnt.
func (e *Engine) resume(ctx context.Context) error {
	e.stopPoller() // batches polled ahead start where the failed one did
	e.settleCommit()
	readCtx, cancel := context.WithTimeout(ctx, e.cfg.CommitTimeout)
	positions, err := e.sink.Positions(readCtx, e.stream)
	cancel()
	if err != nil {
		return at(CauseSink, fmt.Errorf("read committed positions: %w", err))
	}
	if err := checkPositions(e.stream, positions); err != nil {
		return err
	}
	if err := e.checkIdentity(positions); err != nil {
		return err
	}
	sourceCtx, cancel := context.WithTimeout(ctx, e.cfg.PollTimeout)
	defer cancel()
	marks, err := e.source.Watermarks(sourceCtx)
	if err != nil {
		return at(CauseSource, fmt.Errorf("read the source's partitions: %w", err))
	}
	e.marksSeen(marks)
	if err := checkKnownPartitions(e.stream, positions, marks); err != nil {
		return err
	}
	if err := e.checkWithinLog(positions, marks); err != nil {
		return err
	}
	e.committed = make(map[int32]int64, len(positions))
	for _, p := range positions {
		e.committed[p.Partition] = p.NextOffset
	}
	e.resetNext()
	e.read = maps.Clone(e.committed)
	if err := e.source.Seek(sourceCtx, positions); err != nil {
		return at(CauseSource, fmt.Errorf("seek source to committed positions: %w", err))
	}
	e.cfg.Observer.Positions(maps.Clone(e.committed))
	e.commitTimesRead(positions)
	e.cfg.Logger.Info("resumed at committed positions", "stream", e.stream, "partitions", len(positions))
	return nil
}

// caughtUp reports whether every partition has reached its drain target
// at the given positions.
func (e *Engine) caughtUp(targets []sdk.Watermark, positions map[int32]int64) bool {
	for _, w := range targets {
		if w.End <= w.Start {
			continue // nothing to read
		}
		next, ok := positions[w.Partition]
		if !ok || next < w.End {
			return false
		}
	}
	return true
}

// step polls one batch, extracts and aggregates it, and hands its commit
// to the sink once the batch before it has committed.
func (e *Engine) step(ctx context.Context) error {
	started := time.Now()
	batch, err := e.poll(ctx)
	if err != nil {
		return at(CauseSource, fmt.Errorf("poll: %w", err))
	}
	pollWait := time.Since(started)
	defer batch.Release() // process releases it sooner, once extracted
	if err := e.checkBatch(batch); err != nil {
		return at(CauseSource, err)
	}
	for _, p := range batch.Partitions {
		e.read[p.Partition] = max(e.read[p.Partition], p.End)
	}
	e.batchPolled(batch)
	commit, stats, err := e.process(ctx, batch)
	if err != nil {
		return at(CauseExtract, err)
	}
	stats.pollWait = pollWait
	// The batch before this one may still be committing (commit.go).
	if err := e.finishCommit(); err != nil {
		return err
	}
	if len(commit.Ranges) == 0 {
		return nil
	}
	e.startCommit(ctx, commit, stats, batch, started)
	if e.cfg.SyncCommit {
		return e.finishCommit()
	}
	return nil
}

type batchStats struct {
	Records, Facts, Skipped, Rejected int64
	reasons                           map[string]int
	// pollWait is how long the batch was waited for (0 when it had been
	// polled ahead), extract how long the extractor took.
	pollWait, extract time.Duration
}

// process extracts and aggregates a batch into the commit that records it.
// Partitions whose range is empty are left out: there is nothing to advance,
// unless the range is an anchor (identity.go).
func (e *Engine) process(ctx context.Context, b sdk.Batch) (sdk.Commit, batchStats, error) {
	var stats batchStats
	var records []sdk.Record
	partitionOf := make([]int32, 0)
	ranges := make(map[int32]sdk.OffsetRange, len(b.Partitions))
	rangeStats := make(map[int32]*sdk.RangeStats, len(b.Partitions))
	for _, p := range b.Partitions {
		if p.End == p.Start && !e.isAnchor(p) {
			continue
		}
		ranges[p.Partition] = p.OffsetRange
		rangeStats[p.Partition] = &sdk.RangeStats{OffsetRange: p.OffsetRange, Records: int64(len(p.Records)), Lost: p.Lost}
		if p.Lost > 0 {
			e.cfg.Logger.Warn("offsets lost: deleted before they were read, skipped as configured; recorded with the range",
				"partition", p.Partition, "from", p.Start, "to", p.Start+p.Lost, "lost", p.Lost)
		}
		records = append(records, p.Records...)
		for range p.Records {
			partitionOf = append(partitionOf, p.Partition)
		}
	}
	if len(ranges) == 0 {
		return sdk.Commit{}, stats, nil
	}
	stats.Records = int64(len(records))

	agg := newAggregator(e.cfg.Window, len(e.cfg.Dimensions))
	var dead []sdk.DeadLetter
	if len(records) > 0 {
		e.out.Reset()
		extractCtx, cancel := context.WithTimeout(ctx, e.cfg.ExtractTimeout)
		extractStarted := time.Now()
		// The whole batch, so that an extractor plugin's client forwards it
		// as the source sent it: its records are records, in order, since
		// checkBatch made sure the empty ranges left out hold none.
		err := pluginclient.ExtractBatch(extractCtx, e.extractor, b, &e.out)
		stats.extract = time.Since(extractStarted)
		cancel()
		if !e.cfg.DeadLetters.Enabled {
			// The facts are made: the records' memory may serve the next
			// poll. Dead letters still need the rejected records' bytes.
			b.Release()
		}
		if err != nil {
			return sdk.Commit{}, stats, fmt.Errorf("extract %d records: %w", len(records), err)
		}
		if err := checkOutcomes(&e.out, len(records)); err != nil {
			return sdk.Commit{}, stats, err
		}
		e.screen()
		if e.cfg.DeadLetters.Enabled {
			dead = deadLetters(e.out.Rejected, records, partitionOf, e.cfg.DeadLetters.MaxBytes)
			b.Release()
		}
		for _, f := range e.out.Facts {
			p := partitionOf[f.Record]
			sum, err := agg.add(p, records[f.Record].Offset, f)
			if err != nil {
				return sdk.Commit{}, stats, extractorBroke("%v", err)
			}
			if e.cfg.FactLimits.FiniteValues && math.IsInf(sum, 0) {
				// Each value is finite (screened); their sum is not. Which
				// record is to blame is a matter of order, so none is
				// rejected: the run stops, naming the record that tipped it.
				return sdk.Commit{}, stats, fmt.Errorf("%w: partition %d, offset %d: the sum of window %s overflows a float64 (%g) and the sink stores finite sums only",
					sdk.ErrPermanent, p, records[f.Record].Offset, windowStart(f.Time, e.cfg.Window).Format(time.DateTime), sum)
			}
			rangeStats[p].Facts++
		}
		for _, v := range e.out.Skipped {
			rangeStats[partitionOf[v.Record]].Skipped++
		}
		for _, v := range e.out.Rejected {
			rangeStats[partitionOf[v.Record]].Rejected++
			if stats.reasons == nil {
				stats.reasons = make(map[string]int)
			}
			stats.reasons[v.Reason]++
		}
		stats.Facts = int64(len(e.out.Facts))
		stats.Skipped = int64(len(e.out.Skipped))
		stats.Rejected = int64(len(e.out.Rejected))
	}

	commit := sdk.Commit{Stream: e.stream, StreamID: e.cfg.StreamID, Rows: agg.result(ranges), DeadLetters: dead}
	for _, p := range slices.Sorted(maps.Keys(rangeStats)) {
		commit.Ranges = append(commit.Ranges, *rangeStats[p])
	}
	return commit, stats, nil
}

// lag sums, over the batch's partitions, how far the committed position
// is behind the log end the source last saw.
func lag(b sdk.Batch, committed map[int32]int64) int64 {
	var total int64
	for _, p := range b.Partitions {
		if p.HighWatermark > 0 {
			total += max(0, p.HighWatermark-committed[p.Partition])
		}
	}
	return total
}
