package gencatalog

import (
	"context"
	"errors"
	"reflect"
	"strings"
	"testing"

	"github.com/kappa-stream/kappa/sdk"
)

func TestBeginBindsOrPlansTheNextGeneration(t *testing.T) {
	if _, _, refusal := Begin(nil, "agg.t", "x-sink", "t", "p", "d1"); !strings.Contains(refusal, "this version of x-sink") {
		t.Errorf("no generations: %q", refusal)
	}
	gens := []Generation{{Number: 1, Pipeline: "p", Definition: "d1", Key: "p", Physical: "t", State: sdk.GenerationLive}}
	bound, next, refusal := Begin(gens, "agg.t", "x-sink", "t", "p", "d2")
	want := &Generation{Number: 2, Pipeline: "p", Definition: "d2", Key: "p~g2", Physical: "t__g2", State: sdk.GenerationShadow, Previous: 1}
	if bound != nil || refusal != "" || !reflect.DeepEqual(next, want) {
		t.Errorf("a live generation 1: %+v, %+v, %q", bound, next, refusal)
	}
	gens = append(gens, *want)
	if bound, _, _ := Begin(gens, "agg.t", "x-sink", "t", "p", "d2"); bound == nil || bound.Number != 2 {
		t.Errorf("an interrupted reprocess: bound %+v, want generation 2", bound)
	}
	if _, _, refusal := Begin(gens, "agg.t", "x-sink", "t", "q", "d3"); !strings.Contains(refusal, `pipeline "p", is being reprocessed`) {
		t.Errorf("another pipeline's reprocess: %q", refusal)
	}
	if got := Missed("twitter", 1, []sdk.Position{{Partition: 0, NextOffset: 5}}, []sdk.Watermark{{Partition: 0, Start: 9}}); !strings.Contains(got, "partition 0: offsets 5 to 8") {
		t.Errorf("offsets retention deleted: %q", got)
	}
	if got := Missed("twitter", 1, []sdk.Position{{Partition: 0, NextOffset: 5}}, []sdk.Watermark{{Partition: 0, Start: 5}}); got != "" {
		t.Errorf("a whole log: %q", got)
	}
}

func TestStepsOfAReprocessAndARollback(t *testing.T) {
	gens := []Generation{
		{Number: 1, State: sdk.GenerationLive},
		{Number: 2, State: sdk.GenerationShadow, Previous: 1},
	}
	cur, prev, err := Pair(gens, 2)
	if err != nil || cur.Number != 2 || prev.Number != 1 {
		t.Fatalf("Pair: %v, %v, %v", cur, prev, err)
	}
	if _, _, err := Pair(gens, 3); !errors.Is(err, sdk.ErrPermanent) {
		t.Errorf("an unbound sink: %v", err)
	}
	var res sdk.GenerationsResult
	steps := Freeze(cur, prev, &res)
	if len(res.Refusals) != 0 || !reflect.DeepEqual(steps, []Step{{1, sdk.GenerationFrozen, ""}, {2, sdk.GenerationShadow, "frozen"}}) {
		t.Errorf("Freeze: %v, %q", steps, res.Refusals)
	}
	if compare := CatchUp(cur, &res); compare || len(res.Refusals) != 1 {
		t.Errorf("catching up before the freeze: %v, %q", compare, res.Refusals)
	}
	cur.Step = "frozen"
	if compare := CatchUp(cur, &res); !compare {
		t.Error("a frozen pair is not compared")
	}
	cur.Step = "caught_up"
	if compare := CatchUp(cur, &res); compare || !res.Done {
		t.Errorf("caught up before: compare %v, done %v", compare, res.Done)
	}
	res = sdk.GenerationsResult{}
	if steps := GoLive(cur, prev, &res); steps != nil || len(res.Refusals) != 1 {
		t.Errorf("going live before the swap: %v, %q", steps, res.Refusals)
	}
	cur.Step = "swapped"
	steps = GoLive(cur, prev, &res)
	if !reflect.DeepEqual(steps, []Step{{1, sdk.GenerationRetired, ""}, {2, sdk.GenerationLive, sdk.GenerationLive}}) {
		t.Errorf("GoLive: %v", steps)
	}

	after := []Generation{{Number: 1, State: sdk.GenerationRetired}, {Number: 2, State: sdk.GenerationLive, Step: sdk.GenerationLive, Previous: 1}}
	res = sdk.GenerationsResult{}
	in, out, steps, err := Rollback(after, &res)
	if err != nil || len(res.Refusals) != 0 || in.Number != 1 || out.Number != 2 ||
		!reflect.DeepEqual(steps, []Step{{2, sdk.GenerationFrozen, sdk.GenerationLive}, {1, sdk.GenerationRetired, "rollback"}}) {
		t.Errorf("Rollback: %v %v %v %q %v", in, out, steps, res.Refusals, err)
	}
	under := []Generation{{Number: 1, State: sdk.GenerationRetired, Step: "rollback"}, {Number: 2, State: sdk.GenerationFrozen, Previous: 1}}
	if in, out, steps, err := Rollback(under, &res); err != nil || in.Number != 1 || out.Number != 2 || steps != nil {
		t.Errorf("a rollback under way: %v %v %v %v", in, out, steps, err)
	}
	if _, _, _, _ = Rollback(gens, &res); len(res.Refusals) != 1 || !strings.Contains(res.Refusals[0], "whose table is kept") {
		t.Errorf("rolling back a generation that replaced none kept: %q", res.Refusals)
	}
}

func TestStepsRunNamesThePluginAndMarksRetryable(t *testing.T) {
	transient := errors.New("deadlock")
	st := Steps{Freeze: func(context.Context, *sdk.GenerationsResult) error { return transient }}
	var res sdk.GenerationsResult
	err := st.Run(context.Background(), sdk.GenerationsRequest{Op: sdk.GenerationFreeze}, &res, "x-sink", func(err error) bool { return errors.Is(err, transient) })
	if !errors.Is(err, transient) || !errors.Is(err, sdk.ErrRetryable) || !strings.HasPrefix(err.Error(), "x-sink: generations freeze: ") {
		t.Errorf("a transient freeze: %v", err)
	}
	if err := st.Run(context.Background(), sdk.GenerationsRequest{Op: "sideways"}, &res, "x-sink", nil); !errors.Is(err, sdk.ErrPermanent) {
		t.Errorf("an unknown step: %v", err)
	}
	if err := st.Run(context.Background(), sdk.GenerationsRequest{Op: sdk.GenerationList}, &res, "x-sink", nil); err != nil {
		t.Errorf("a list: %v", err)
	}
}

func TestOpenAndResume(t *testing.T) {
	gens := []Generation{
		{Number: 1, Pipeline: "p", Definition: "d1", State: sdk.GenerationRetired},
		{Number: 2, Pipeline: "p", Definition: "d2", State: sdk.GenerationLive, Previous: 1},
	}
	if g, redefine, err := Open(gens, "agg", "t", "p", "d3"); err != nil || g.Number != 2 || !redefine {
		t.Errorf("an edited live file: %v, %v, %v", g, redefine, err)
	}
	if g, redefine, err := Open(gens, "agg", "t", "p", "d2"); err != nil || g.Number != 2 || redefine {
		t.Errorf("the live file: %v, %v, %v", g, redefine, err)
	}
	if g, _, err := Open(gens, "agg", "t", "q", ""); g != nil || err != nil {
		t.Errorf("another pipeline's table: %v, %v", g, err)
	}
	gens[1].State = sdk.GenerationFrozen
	var ended *EndedError
	if _, _, err := Open(gens, "agg", "t", "p", "d2"); !errors.As(err, &ended) || ended.Generation != 2 || ended.Namespace != "agg" {
		t.Errorf("a frozen generation: %v", err)
	}
	gens[1].State = sdk.GenerationShadow
	if g := Resume(gens, "p", "d2"); g == nil || g.Number != 2 {
		t.Errorf("resuming a reprocess: %v", g)
	}
	if _, _, err := Open(gens, "agg", "t", "p", "d2"); !errors.As(err, &ended) || !ended.Shadow {
		t.Errorf("opening a shadow generation to run: %v", err)
	}
	if g := Resume(gens[:1], "p", "d1"); g != nil {
		t.Errorf("nothing to resume: %v", g)
	}
}
