package gencatalog

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"github.com/kappa-stream/kappa/sdk"
)

// The decisions of a reprocess's steps (sdk.Generations), over the catalog
// rows a sink's transaction locked. Each returns the catalog changes the
// sink records in that transaction (Step) or a refusal for the operator;
// the sinks run the SQL of each step (tables, positions, renames).

const (
	// KeySuffix and TableSuffix name generation N's positions key
	// (`<pipeline>~gN`) and its table while not live (`<table>__gN`).
	KeySuffix   = "~g"
	TableSuffix = "__g"
)

// PhysicalName is the table of generation number of logical while it is
// not the live one.
func PhysicalName(logical string, number int64) string {
	return fmt.Sprintf("%s%s%d", logical, TableSuffix, number)
}

// Step sets generation Number's State and Step.
type Step struct {
	Number      int64
	State, Step string
}

// Begin decides what a reprocess's begin binds pipeline's file (of
// definition) to: the shadow generation an interrupted reprocess of it
// made, or the live one when this file's reprocess went live already
// (bound); otherwise next, the generation to make, which replaces the live
// one (Next.Previous). refusal says why neither; table and plugin name the
// table and the sink in it.
func Begin(gens []Generation, table, plugin, logical, pipeline, definition string) (bound, next *Generation, refusal string) {
	if len(gens) == 0 {
		return nil, nil, fmt.Sprintf("table %s has no generations yet: run the pipeline that writes it once with this version of %s, then reprocess", table, plugin)
	}
	for i := range gens {
		g := &gens[i]
		if g.State != sdk.GenerationShadow {
			continue
		}
		if g.Pipeline != pipeline {
			return nil, nil, fmt.Sprintf("generation %d of table %s, pipeline %q, is being reprocessed: let it finish (kappa-runtime reprocess on its file) first", g.Number, table, g.Pipeline)
		}
		return g, nil, ""
	}
	live := Live(gens)
	if live != nil && live.Number > 1 && live.Pipeline == pipeline && live.Definition == definition {
		// This file's reprocess went live already (a restart after the
		// cutover): it continues as the live generation.
		return live, nil, ""
	}
	if live == nil {
		return nil, nil, fmt.Sprintf("table %s has no live generation (a rollback or cutover is unfinished: run kappa-runtime rollback or reprocess again)", table)
	}
	n := gens[len(gens)-1].Number + 1
	return nil, &Generation{Number: n, Pipeline: pipeline, Definition: definition,
		Key: fmt.Sprintf("%s%s%d", pipeline, KeySuffix, n), Physical: PhysicalName(logical, n),
		State: sdk.GenerationShadow, Previous: live.Number}, ""
}

// Missed refuses a reprocess whose log no longer holds offsets the live
// generation (number live) read: firsts is where it started each
// partition, logStarts where the log of stream begins now. "" when the log
// holds them all.
func Missed(stream string, live int64, firsts []sdk.Position, logStarts []sdk.Watermark) string {
	starts := map[int32]int64{}
	for _, w := range logStarts {
		starts[w.Partition] = w.Start
	}
	var missed []string
	for _, f := range firsts {
		if st, ok := starts[f.Partition]; ok && st > f.NextOffset {
			missed = append(missed, fmt.Sprintf("partition %d: offsets %d to %d", f.Partition, f.NextOffset, st-1))
		}
	}
	if len(missed) == 0 {
		return ""
	}
	return fmt.Sprintf("the log of stream %s no longer holds offsets generation %d read (retention deleted them): %s; reprocessing would be silently partial; keep the topic's whole history (retention.ms=-1) to reprocess",
		stream, live, strings.Join(missed, "; "))
}

// Pair returns the generation numbered bound (the sink's) and the one it
// replaces.
func Pair(gens []Generation, bound int64) (cur, prev *Generation, err error) {
	cur = Find(gens, bound)
	if cur == nil {
		return nil, nil, sdk.Permanent(errors.New("the sink is bound to no generation (begin first)"))
	}
	prev = Find(gens, cur.Previous)
	if prev == nil {
		return nil, nil, sdk.Permanent(fmt.Errorf("generation %d replaces generation %d, which is not recorded", cur.Number, cur.Previous))
	}
	return cur, prev, nil
}

// refuse adds a refusal for the operator to res.
func refuse(res *sdk.GenerationsResult, format string, args ...any) {
	res.Refusals = append(res.Refusals, fmt.Sprintf(format, args...))
}

// Freeze makes the replaced generation prev frozen and records it on cur;
// nothing when it is frozen already, or refused in res.
func Freeze(cur, prev *Generation, res *sdk.GenerationsResult) []Step {
	if cur.State != sdk.GenerationShadow || cur.Step != "" {
		return nil // frozen already
	}
	if prev.State != sdk.GenerationLive {
		refuse(res, "generation %d, which generation %d replaces, is %s, not live", prev.Number, cur.Number, prev.State)
		return nil
	}
	return []Step{{prev.Number, sdk.GenerationFrozen, prev.Step}, {cur.Number, cur.State, "frozen"}}
}

// CatchUp says whether cur's positions are to be compared with the frozen
// generation's now; if not, cur caught up before (res.Done) or res says
// why not. Once they are passed, CaughtUp is the step to record.
func CatchUp(cur *Generation, res *sdk.GenerationsResult) (compare bool) {
	switch cur.Step {
	case "":
		refuse(res, "the replaced generation is not frozen yet")
		return false
	case "frozen":
		return true
	}
	res.Done = true
	return false
}

// CaughtUp records that cur's positions passed the frozen generation's.
func CaughtUp(cur *Generation) Step { return Step{cur.Number, cur.State, "caught_up"} }

// NotCaughtUp refuses a swap of cur before it caught up.
func NotCaughtUp(cur *Generation) string {
	return fmt.Sprintf("generation %d has not caught up with the frozen generation yet (step %q)", cur.Number, cur.Step)
}

// GoLive marks cur live and the generation prev it replaces retired, once
// cur's table is swapped in; the tables' owners are then to be recorded
// with them. Nothing when cur is live already, or refused in res.
func GoLive(cur, prev *Generation, res *sdk.GenerationsResult) []Step {
	switch cur.Step {
	case sdk.GenerationLive:
		return nil
	case "swapped":
		return []Step{{prev.Number, sdk.GenerationRetired, prev.Step}, {cur.Number, sdk.GenerationLive, sdk.GenerationLive}}
	}
	refuse(res, "generation %d's table is not swapped in yet (step %q)", cur.Number, cur.Step)
	return nil
}

// Rollback decides a rollback's first transaction: in is the previous
// generation to swap back in, out the live one it replaces. A rollback
// under way (in's step "rollback") finds out frozen and records nothing
// more; a new one freezes out and marks in (steps). A refusal is added to
// res (in and out nil).
func Rollback(gens []Generation, res *sdk.GenerationsResult) (in, out *Generation, steps []Step, err error) {
	in, out, steps, refusal, err := rollback(gens)
	if refusal != "" {
		res.Refusals = append(res.Refusals, refusal)
	}
	return in, out, steps, err
}

func rollback(gens []Generation) (in, out *Generation, steps []Step, refusal string, err error) {
	for i := range gens {
		if gens[i].Step == "rollback" {
			in = &gens[i]
		}
	}
	if in != nil {
		for i := range gens {
			if gens[i].State == sdk.GenerationFrozen {
				out = &gens[i]
			}
		}
		if out == nil {
			return nil, nil, nil, "", sdk.Permanent(fmt.Errorf("generation %d is being rolled back to, but no generation is frozen", in.Number))
		}
		return in, out, nil, "", nil
	}
	out = Live(gens)
	if out == nil {
		return nil, nil, nil, "no generation is live", nil
	}
	if in = Find(gens, out.Previous); in == nil || in.State != sdk.GenerationRetired {
		return nil, nil, nil, fmt.Sprintf("generation %d replaced no generation whose table is kept (retired)", out.Number), nil
	}
	for _, g := range gens {
		if g.State == sdk.GenerationShadow {
			return nil, nil, nil, fmt.Sprintf("generation %d is being reprocessed: let it finish first", g.Number), nil
		}
	}
	return in, out, []Step{{out.Number, sdk.GenerationFrozen, out.Step}, {in.Number, in.State, "rollback"}}, "", nil
}

// RolledBack marks out retired and in live once in's table is swapped back.
func RolledBack(in, out *Generation) []Step {
	return []Step{{out.Number, sdk.GenerationRetired, out.Step}, {in.Number, sdk.GenerationLive, sdk.GenerationLive}}
}

// Steps is a sink's implementation of each step of sdk.Generations.
type Steps struct {
	Begin                                           func(ctx context.Context, req sdk.GenerationsRequest, res *sdk.GenerationsResult) error
	Freeze, CatchUp, Swap, GoLive, Rollback, Retire func(ctx context.Context, res *sdk.GenerationsResult) error
}

// Run performs the step req.Op asks for (nothing for a list) and names
// plugin in its error, marked retryable when retryable says so; an unknown
// step is refused.
func (st Steps) Run(ctx context.Context, req sdk.GenerationsRequest, res *sdk.GenerationsResult, plugin string, retryable func(error) bool) error {
	var err error
	switch req.Op {
	case sdk.GenerationList:
	case sdk.GenerationBegin:
		err = st.Begin(ctx, req, res)
	case sdk.GenerationFreeze:
		err = st.Freeze(ctx, res)
	case sdk.GenerationCatchUp:
		err = st.CatchUp(ctx, res)
	case sdk.GenerationSwap:
		err = st.Swap(ctx, res)
	case sdk.GenerationGoLive:
		err = st.GoLive(ctx, res)
	case sdk.GenerationRollback:
		err = st.Rollback(ctx, res)
	case sdk.GenerationRetire:
		err = st.Retire(ctx, res)
	default:
		return sdk.Permanent(fmt.Errorf("%s: generations: unknown step %q", plugin, req.Op))
	}
	if err != nil {
		err = fmt.Errorf("%s: generations %s: %w", plugin, req.Op, err)
		if retryable(err) {
			return sdk.Retryable(err)
		}
	}
	return err
}

// Resume is the generation a sink opened to reprocess binds after a
// restart of the plugin during a reprocess: the pipeline's shadow
// generation, or its live one once this file's reprocess went live; nil
// when there is none yet (begin makes it).
func Resume(gens []Generation, pipeline, definition string) *Generation {
	g := Choose(gens, pipeline, definition)
	if g != nil && (g.State == sdk.GenerationShadow || g.State == sdk.GenerationLive && g.Definition == definition && g.Number > 1) {
		return g
	}
	return nil
}

// Open decides which generation an opening sink binds for pipeline's file
// of definition: the live generation it stands for (redefine when the
// file was edited since: the generation continues, known by its new
// definition from now on), nil when the pipeline has none (another
// pipeline's table: the ownership claim says whose), or a permanent
// *EndedError naming Namespace.table.
func Open(gens []Generation, namespace, table, pipeline, definition string) (g *Generation, redefine bool, err error) {
	g = Choose(gens, pipeline, definition)
	if g == nil {
		return nil, false, nil
	}
	switch g.State {
	case sdk.GenerationLive:
		return g, g.Definition != definition && definition != "", nil
	case sdk.GenerationShadow:
		return nil, false, sdk.Permanent(&EndedError{Namespace: namespace, Table: table, Pipeline: pipeline, Generation: g.Number, State: g.State, Shadow: true})
	}
	e := &EndedError{Namespace: namespace, Table: table, Pipeline: pipeline, Generation: g.Number, State: g.State}
	e.Describe(gens)
	return nil, false, sdk.Permanent(e)
}
