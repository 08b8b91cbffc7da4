package command

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"time"

	"github.com/kappa-stream/kappa/internal/launch"
	"github.com/kappa-stream/kappa/internal/pipeline"
	"github.com/kappa-stream/kappa/internal/pluginclient"
	"github.com/kappa-stream/kappa/sdk"
)

// definition fingerprints what shapes p's output, for a sink that keeps
// generations (sdk.Setup.Definition): the extractor and its config, the
// window, dimensions and aggregates. Batch sizes, timeouts and addresses
// do not change what is counted and are left out.
func definition(p *pipeline.Pipeline) string {
	h := sha256.New()
	fmt.Fprintf(h, "extractor %q\n%s\nwindow %s\ndimensions %q\naggregates %q\n",
		p.Extractor.Name, p.Extractor.Config, p.Window, p.Dimensions, p.Aggregates)
	return hex.EncodeToString(h.Sum(nil))[:32]
}

// ErrGenerationEnded is what a run returns when its generation was frozen
// or retired: another generation replaces it (sdk.ErrGenerationEnded).
var ErrGenerationEnded = sdk.ErrGenerationEnded

// cutoverPoll is how often the cutover looks at positions and log ends.
const cutoverPoll = 200 * time.Millisecond

// cutover is the reprocess's side of the Kappa recipe, run beside the
// engine that commits the new generation: it waits until every partition
// is within catchUp of its log end, freezes the live generation, waits
// until the new one has passed the frozen positions, swaps the tables and
// marks the new generation live. Each step is recorded by the sink; a
// restart resumes at the first not recorded. With drain it returns
// errDrained once the new generation has reached the log ends it saw after
// the swap.
type cutover struct {
	gens    sdk.Generations
	marks   func(context.Context) ([]sdk.Watermark, error)
	stream  string
	catchUp time.Duration
	drain   bool
	logger  *slog.Logger
}

var errDrained = errors.New("drained after the cutover")

func (c *cutover) run(ctx context.Context) error {
	res, err := c.step(ctx, sdk.GenerationList)
	if err != nil {
		return err
	}
	cur := bound(res)
	if cur == nil {
		return fmt.Errorf("the sink is bound to no generation")
	}
	started := time.Now()
	if cur.Step == "" {
		if err := c.waitCaughtUp(ctx); err != nil {
			return err
		}
		started = time.Now()
		c.logger.Info("generation caught up with the log; freezing the live one", "generation", cur.Number, "within", c.catchUp)
		if _, err := c.must(ctx, sdk.GenerationFreeze); err != nil {
			return err
		}
		cutoverFault("freeze")
		cur.Step = "frozen"
	}
	if cur.Step == "frozen" {
		for {
			res, err := c.must(ctx, sdk.GenerationCatchUp)
			if err != nil {
				return err
			}
			if res.Done {
				break
			}
			if !sleepCtx(ctx, cutoverPoll) {
				return ctx.Err()
			}
		}
		cutoverFault("catch_up")
		cur.Step = "caught_up"
	}
	if cur.Step == "caught_up" || cur.Step == "swapping" {
		swapStart := time.Now()
		if _, err := c.must(ctx, sdk.GenerationSwap); err != nil {
			return err
		}
		c.logger.Info("tables swapped", "generation", cur.Number, "rename_took", time.Since(swapStart))
		cutoverFault("swap")
		cur.Step = "swapped"
	}
	if cur.Step == "swapped" {
		res, err := c.must(ctx, sdk.GenerationGoLive)
		if err != nil {
			return err
		}
		cutoverFault("live")
		c.logger.Info("generation is live", "generation", cur.Number, "table", res.Table, "cutover_took", time.Since(started))
	}
	if !c.drain {
		return nil
	}
	marks, err := c.marks(ctx)
	if err != nil {
		return fmt.Errorf("read log ends: %w", err)
	}
	for {
		ok, err := c.reached(ctx, marks)
		if err != nil {
			return err
		}
		if ok {
			return errDrained
		}
		if !sleepCtx(ctx, cutoverPoll) {
			return ctx.Err()
		}
	}
}

// step performs one step and returns what the sink reports.
func (c *cutover) step(ctx context.Context, op sdk.GenerationOp) (sdk.GenerationsResult, error) {
	for {
		res, err := c.gens.Generations(ctx, sdk.GenerationsRequest{Op: op, Stream: c.stream})
		if err == nil || errors.Is(err, sdk.ErrPermanent) || errors.Is(err, pluginclient.ErrGenerationsUnsupported) || ctx.Err() != nil {
			return res, err
		}
		// Recorded steps are repeated safely: try again.
		c.logger.Warn("cutover step failed; trying again", "step", op, "err", err)
		if !sleepCtx(ctx, time.Second) {
			return res, ctx.Err()
		}
	}
}

// must is step with refusals turned into an error.
func (c *cutover) must(ctx context.Context, op sdk.GenerationOp) (sdk.GenerationsResult, error) {
	res, err := c.step(ctx, op)
	if err != nil {
		return res, err
	}
	if len(res.Refusals) > 0 {
		return res, sdk.Permanent(fmt.Errorf("cutover step %s refused: %s", op, strings.Join(res.Refusals, "; ")))
	}
	return res, nil
}

// waitCaughtUp waits until every partition's position is at or past the
// log end seen catchUp ago (or now, before catchUp has passed): the new
// generation lags the log by less than catchUp.
func (c *cutover) waitCaughtUp(ctx context.Context) error {
	type sample struct {
		at    time.Time
		marks []sdk.Watermark
	}
	var samples []sample
	for {
		marks, err := c.marks(ctx)
		if err != nil {
			c.logger.Warn("read log ends", "err", err)
		} else {
			now := time.Now()
			samples = append(samples, sample{now, marks})
			target := marks
			for len(samples) > 1 && now.Sub(samples[1].at) >= c.catchUp {
				samples = samples[1:]
			}
			if now.Sub(samples[0].at) >= c.catchUp {
				target = samples[0].marks
			}
			ok, err := c.reached(ctx, target)
			if err != nil {
				return err
			}
			if ok {
				return nil
			}
		}
		if !sleepCtx(ctx, cutoverPoll) {
			return ctx.Err()
		}
	}
}

// reached reports whether the bound generation's positions are at or past
// marks' ends.
func (c *cutover) reached(ctx context.Context, marks []sdk.Watermark) (bool, error) {
	res, err := c.step(ctx, sdk.GenerationList)
	if err != nil {
		return false, err
	}
	cur := bound(res)
	if cur == nil {
		return false, fmt.Errorf("the sink is bound to no generation")
	}
	at := map[int32]int64{}
	for _, p := range cur.Positions {
		at[p.Partition] = p.NextOffset
	}
	for _, m := range marks {
		if m.End > m.Start && at[m.Partition] < m.End {
			return false, nil
		}
	}
	return true, nil
}

func bound(res sdk.GenerationsResult) *sdk.Generation {
	for i := range res.Generations {
		if res.Generations[i].Number == res.Bound {
			return &res.Generations[i]
		}
	}
	return nil
}

func sleepCtx(ctx context.Context, d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return false
	case <-t.C:
		return true
	}
}

// beginReprocess asks the sink for the next generation (or the one an
// interrupted reprocess made), after checking that the log still holds
// what the live generation read.
func beginReprocess(ctx context.Context, p *pipeline.Pipeline, sink sdk.Sink, info sdk.SourceInfo, marks []sdk.Watermark) (sdk.GenerationsResult, error) {
	gens, ok := sink.(sdk.Generations)
	if !ok {
		return sdk.GenerationsResult{}, fmt.Errorf("%s: sink: %w", p.File, pluginclient.ErrGenerationsUnsupported)
	}
	res, err := gens.Generations(ctx, sdk.GenerationsRequest{Op: sdk.GenerationBegin, Stream: info.Stream, StreamID: info.StreamID, LogStarts: marks})
	if err != nil {
		return res, fmt.Errorf("%s: sink: %w", p.File, err)
	}
	if len(res.Refusals) > 0 {
		return res, fmt.Errorf("%s: reprocess refused: %s", p.File, strings.Join(res.Refusals, "; "))
	}
	return res, nil
}

// startMarksSource starts a second source process for the cutover's look
// at the log ends: a source's calls are never concurrent, and the engine
// polls the first one.
func startMarksSource(ctx context.Context, p *pipeline.Pipeline, path string) (func(context.Context) ([]sdk.Watermark, error), func(), error) {
	src := blocks(p)[0]
	proc, err := launch.Start(src.kind, path, commandPluginLogger(p), p.Timeouts.Open, nil, src.plugin.Env)
	if err != nil {
		return nil, nil, err
	}
	source := proc.Source()
	openCtx, cancel := context.WithTimeout(ctx, p.Timeouts.Open)
	defer cancel()
	if _, err := source.Open(openCtx, setup(p, p.Source)); err != nil {
		proc.Stop()
		return nil, nil, pluginError(p, src, err)
	}
	marks := func(ctx context.Context) ([]sdk.Watermark, error) {
		ctx, cancel := context.WithTimeout(ctx, p.Timeouts.Poll)
		defer cancel()
		return source.Watermarks(ctx)
	}
	return marks, func() { closeQuietly(source); proc.Stop() }, nil
}

// Generations opens the pipeline's sink to reprocess (bound to no
// generation unless this file's is being reprocessed) and performs op on
// the table's generations (kappa-runtime generations, rollback, retire);
// with marks it also reads the source's log ends, for lag.
func Generations(ctx context.Context, file string, op sdk.GenerationOp, withMarks bool) (sdk.GenerationsResult, []sdk.Watermark, error) {
	p, err := pipeline.Load(file)
	if err != nil {
		return sdk.GenerationsResult{}, nil, err
	}
	bs := blocks(p)
	paths, err := findPlugins(p, []block{bs[0], bs[2]})
	if err != nil {
		return sdk.GenerationsResult{}, nil, err
	}
	var marks []sdk.Watermark
	if withMarks {
		read, stop, err := startMarksSource(ctx, p, paths[0])
		if err != nil {
			return sdk.GenerationsResult{}, nil, err
		}
		marks, err = read(ctx)
		stop()
		if err != nil {
			return sdk.GenerationsResult{}, nil, pluginError(p, bs[0], fmt.Errorf("read log ends: %w", err))
		}
	}
	snk := bs[2]
	proc, err := launch.Start(snk.kind, paths[1], commandPluginLogger(p), p.Timeouts.Open, nil, snk.plugin.Env)
	if err != nil {
		return sdk.GenerationsResult{}, nil, err
	}
	defer proc.Stop()
	sink := proc.Sink()
	s := setup(p, p.Sink)
	s.Reprocessing = true
	openCtx, cancel := context.WithTimeout(ctx, p.Timeouts.Open)
	defer cancel()
	if err := sink.Open(openCtx, s); err != nil {
		return sdk.GenerationsResult{}, nil, pluginError(p, snk, err)
	}
	defer closeQuietly(sink)
	gens, ok := sink.(sdk.Generations)
	if !ok {
		return sdk.GenerationsResult{}, nil, fmt.Errorf("%s: sink: %w", p.File, pluginclient.ErrGenerationsUnsupported)
	}
	res, err := gens.Generations(ctx, sdk.GenerationsRequest{Op: op})
	if err != nil {
		return res, marks, pluginError(p, snk, err)
	}
	return res, marks, nil
}

// generationWatch is how often a run looks whether its generation was
// replaced.
const generationWatch = 2 * time.Second

// watchGeneration returns an error matching sdk.ErrGenerationEnded once
// the generation the sink is bound to is frozen or retired, nil when ctx
// ends or the sink keeps no generations.
func watchGeneration(ctx context.Context, sink sdk.Sink, every time.Duration) error {
	gens, ok := sink.(sdk.Generations)
	if !ok {
		return nil
	}
	for sleepCtx(ctx, every) {
		res, err := gens.Generations(ctx, sdk.GenerationsRequest{Op: sdk.GenerationList})
		if errors.Is(err, pluginclient.ErrGenerationsUnsupported) {
			return nil
		}
		cur := bound(res)
		if err != nil || cur == nil || cur.State == sdk.GenerationLive || cur.State == sdk.GenerationShadow {
			continue // a failure here is the engine's to see
		}
		return sdk.GenerationEnded(errors.New(endedMessage(res, cur)))
	}
	return nil
}
