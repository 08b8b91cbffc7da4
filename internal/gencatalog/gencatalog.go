// Package gencatalog is the database-free half of a sink's generations
// catalog (sdk.Generations): a catalog row, which generation a pipeline
// file stands for, the decisions of each step of a reprocess (steps.go)
// and the error that says a generation is no longer live. mysql-sink and
// postgres-sink keep the rows in their own SQL and share this logic, so
// that both choose and explain alike.
//
// Generations (the Kappa recipe): the catalog (kappa_generations) lists,
// per table readers query (the configured `table`, the logical table),
// every generation: the pipeline that writes it, the physical table it
// writes, the key its positions and batch records are stored under (the
// `pipeline` column of the offsets and batches tables) and its state.
// Generation 1 is what existed before: the configured table, positions and
// batch records keyed by the pipeline's name; its row is made at the first
// Open, so an existing database upgrades in place. Generation N > 1 writes
// `<table>__gN` under the key `<pipeline>~gN` until its cutover renames
// its table to `<table>` and the replaced one's to `<table>__g<M>`.
package gencatalog

import (
	"fmt"
	"time"

	"github.com/kappa-stream/kappa/sdk"
)

// Generation is one row of the catalog: generation Number of a logical
// table, written by Pipeline (whose definition fingerprint is Definition)
// into Physical, with its positions and batch records under Key.
type Generation struct {
	Number      int64
	Pipeline    string
	Definition  string
	Key         string
	Physical    string
	State, Step string
	// Previous is the generation this one replaces (0 for generation 1).
	Previous  int64
	UpdatedAt time.Time
}

// Find returns the generation numbered number, or nil.
func Find(gens []Generation, number int64) *Generation {
	for i := range gens {
		if gens[i].Number == number {
			return &gens[i]
		}
	}
	return nil
}

// Live returns the live generation, or nil.
func Live(gens []Generation) *Generation {
	for i := range gens {
		if gens[i].State == sdk.GenerationLive {
			return &gens[i]
		}
	}
	return nil
}

// Choose picks the generation a pipeline file stands for: one of the
// pipeline's name, preferring the same definition, then a live or shadow
// one, then the newest. nil when the name has none.
func Choose(gens []Generation, pipeline, definition string) *Generation {
	var best *Generation
	score := func(g *Generation) int {
		s := 0
		if definition != "" && g.Definition == definition {
			s += 4
		}
		if g.State == sdk.GenerationLive || g.State == sdk.GenerationShadow {
			s += 2
		}
		return s
	}
	for i := range gens {
		g := &gens[i]
		if g.Pipeline != pipeline {
			continue
		}
		if best == nil || score(g) > score(best) || (score(g) == score(best) && g.Number > best.Number) {
			best = g
		}
	}
	return best
}

// EndedError says that the generation a pipeline file stands for is no
// longer live.
type EndedError struct {
	// Namespace is the database (MySQL) or schema (PostgreSQL) of Table.
	Namespace, Table string
	// Generation is the pipeline's, State what it is now; Live the live
	// generation and its pipeline (0 when none is).
	Pipeline     string
	Generation   int64
	State        string
	Live         int64
	LivePipeline string
	// Shadow is a generation still reprocessing under this pipeline's name.
	Shadow bool
	// Next and NextPipeline are the generation replacing this one while
	// no generation is live (during a cutover).
	Next         int64
	NextPipeline string
}

func (e *EndedError) Error() string {
	if e.Shadow {
		return fmt.Sprintf("pipeline %q is generation %d of table %s.%s, which is still being reprocessed: resume it with `kappa-runtime reprocess PIPELINE.yaml`, which swaps it in once it has caught up",
			e.Pipeline, e.Generation, e.Namespace, e.Table)
	}
	live := "no generation is live"
	if e.Next != 0 {
		live = fmt.Sprintf("generation %d (pipeline %q) replaces it and goes live once the cutover ends: run its pipeline file", e.Next, e.NextPipeline)
	}
	if e.Live != 0 {
		live = fmt.Sprintf("generation %d (pipeline %q) is live: run its pipeline file", e.Live, e.LivePipeline)
	}
	back := ""
	if e.State == sdk.GenerationRetired {
		back = fmt.Sprintf("; to go back to generation %d, run `kappa-runtime rollback PIPELINE.yaml`, which swaps its kept table back in", e.Generation)
	}
	return fmt.Sprintf("pipeline %q is generation %d of table %s.%s, which is %s: %s%s",
		e.Pipeline, e.Generation, e.Namespace, e.Table, e.State, live, back)
}

// Describe names in e the live generation of gens, or the one replacing
// e's.
func (e *EndedError) Describe(gens []Generation) {
	if l := Live(gens); l != nil {
		e.Live, e.LivePipeline = l.Number, l.Pipeline
	}
	for _, g := range gens {
		if g.Previous == e.Generation && g.Number > e.Generation {
			e.Next, e.NextPipeline = g.Number, g.Pipeline
		}
	}
}
