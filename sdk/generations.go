package sdk

import (
	"context"
	"errors"
	"time"
)

// Generations is implemented by a sink that keeps generations of a
// pipeline's output, the Kappa recipe: a new generation reprocesses the
// retained log into its own table with its own positions while the live
// one keeps running, and replaces it, atomically for readers, once it has
// caught up. It is optional: the runtime tells a sink without it apart.
//
// A sink that implements it keys every commit by the generation it is
// bound to and checks, inside the commit's transaction and under a lock
// the freeze step must wait for, that the generation is neither frozen nor
// retired; a commit of such a generation fails with an error matching
// ErrGenerationEnded, so that none lands after a freeze. A sink opened
// normally binds, in Open, to the generation its Setup names (the live
// one, for a pipeline that never reprocessed); one opened with
// Setup.Reprocessing binds only in GenerationBegin.
//
// Every step is idempotent and recorded in the sink's database: a runtime
// killed at any instant calls the steps again from the first and each
// finds what was done.
type Generations interface {
	// Generations performs req.Op and reports the generations of the
	// sink's table as they are after it. What prevents a step goes to
	// GenerationsResult.Refusals, not to the error, which is kept for
	// failures (an unreachable server).
	Generations(ctx context.Context, req GenerationsRequest) (GenerationsResult, error)
}

// GenerationOp names one step on a table's generations.
type GenerationOp string

const (
	// GenerationList only reads.
	GenerationList GenerationOp = "list"
	// GenerationBegin creates the next generation (or finds the one an
	// interrupted reprocess made) with its own table and positions at the
	// live generation's first offsets, and binds the sink to it. It is
	// refused when req.LogStarts shows offsets the live generation read
	// that the log no longer holds.
	GenerationBegin GenerationOp = "begin"
	// GenerationFreeze freezes the live generation the bound one replaces:
	// no commit of it lands afterwards.
	GenerationFreeze GenerationOp = "freeze"
	// GenerationCatchUp records that the bound generation's positions are
	// at or past the frozen one's; Done says whether they are.
	GenerationCatchUp GenerationOp = "catch_up"
	// GenerationSwap renames the tables so that readers see the bound
	// generation's under the pipeline's table name.
	GenerationSwap GenerationOp = "swap"
	// GenerationGoLive marks the bound generation live and the one it
	// replaced retired.
	GenerationGoLive GenerationOp = "go_live"
	// GenerationRollback swaps the previous generation back in while its
	// table is kept.
	GenerationRollback GenerationOp = "rollback"
	// GenerationRetire drops the tables of retired generations.
	GenerationRetire GenerationOp = "retire"
)

// Generation states.
const (
	GenerationShadow  = "shadow"  // reprocessing, not seen by readers
	GenerationLive    = "live"    // seen by readers under the table's name
	GenerationFrozen  = "frozen"  // being replaced: commits refused
	GenerationRetired = "retired" // replaced; its table kept for rollback
	GenerationDropped = "dropped" // replaced; its table dropped
)

// GenerationsRequest is one step.
type GenerationsRequest struct {
	Op GenerationOp
	// Stream and StreamID are the source's SourceInfo (GenerationBegin).
	Stream   string
	StreamID string
	// LogStarts is every partition's log as the source reports it now
	// (GenerationBegin).
	LogStarts []Watermark
}

// GenerationsResult is what a step found and did.
type GenerationsResult struct {
	// Table is the table readers query, for messages.
	Table string
	// Bound is the generation the sink is bound to; 0 when none.
	Bound int64
	// Generations lists every generation, oldest first.
	Generations []Generation
	// Refusals says why the step cannot be done; empty when it was.
	Refusals []string
	// Done says, for GenerationCatchUp, whether the bound generation has
	// reached the frozen one's positions; for GenerationRetire and
	// GenerationRollback, whether anything was done.
	Done bool
}

// Generation is one generation of a table.
type Generation struct {
	Number        int64
	Pipeline      string
	PhysicalTable string
	State         string
	// Step is the last cutover step recorded for a generation replacing
	// another: "", "frozen", "caught_up", "swapping", "swapped", "live".
	Step string
	// Previous is the generation it replaces or replaced; 0 for the first.
	Previous  int64
	Positions []Position
	UpdatedAt time.Time
}

// ErrGenerationEnded is matched (errors.Is) by a commit's error when the
// generation it was for has been frozen or retired: another generation
// replaces it. It is permanent; the runtime stops and exits 0, naming the
// live generation (the message says which). Mark an error with
// GenerationEnded.
var ErrGenerationEnded = errors.New("generation ended")

// GenerationEnded marks err as ErrGenerationEnded; it is permanent too.
func GenerationEnded(err error) error {
	if err == nil {
		return nil
	}
	return generationEndedError{err}
}

type generationEndedError struct{ error }

func (e generationEndedError) Unwrap() error { return e.error }
func (e generationEndedError) Is(target error) bool {
	return target == ErrGenerationEnded || target == ErrPermanent
}
