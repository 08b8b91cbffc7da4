package sdk

import (
	"context"
	"time"
)

// Adopter is implemented by a sink that can take over a table another
// program wrote, such as the 2016 Spark job's, together with that
// program's progress, so that a pipeline continues where it stopped
// instead of counting everything again. `kappa-runtime adopt` opens the
// sink with Setup.Adopting set (a sink must then not refuse the table for
// holding rows it did not commit), calls Adopt, and closes it. It is
// optional: the runtime tells a sink without it apart.
type Adopter interface {
	// Adopt reads what the table holds per partition and checks that it
	// can be one program's output read from the stream as it is now: no
	// two ranges of a partition overlap, no range ends past the
	// partition's log end (req.LogEnds), and the pipeline has no positions
	// or committed ranges yet. What is wrong goes to Adoption.Refusals, not
	// to the error, which is kept for failures (an unreachable server).
	// With req.Record and no refusal it records, in one transaction, each
	// partition's position at the end of its last range, with
	// req.StreamID, and one range per partition marking the adopted span,
	// whose counters are unknown (StreamAudit.Adopted); partitions without
	// rows get nothing and start at the pipeline's start. Without
	// req.Record it only reads.
	Adopt(ctx context.Context, req AdoptRequest) (Adoption, error)
}

// AdoptRequest is what the runtime knows of the stream when it adopts.
type AdoptRequest struct {
	// Stream and StreamID are the source's SourceInfo.
	Stream   string
	StreamID string
	// LogEnds is every partition's log as the source reports it now; a
	// partition the table has rows of must be among them.
	LogEnds []Watermark
	// Record makes Adopt store what it found; without it Adopt only reads.
	Record bool
}

// Adoption is what a sink found in the table it was asked to adopt.
type Adoption struct {
	// Table names the adopted table, for messages.
	Table string
	// Partitions holds one entry per partition the table has rows of.
	Partitions []AdoptedRange
	// Refusals says why the table cannot be adopted; empty when it can.
	Refusals []string
	// Recorded is true when the positions and ranges were stored.
	Recorded bool
}

// AdoptedRange is one partition of an adopted table: its rows carry
// ranges from Start (the lowest start) to End (the highest end), which
// becomes the partition's position.
type AdoptedRange struct {
	OffsetRange
	// Ranges is how many distinct ranges the rows carry (one per batch of
	// the program that wrote them), Rows how many rows, Count their sum.
	Ranges, Rows, Count int64
	// FirstWindow and LastWindow are the earliest and latest window, as
	// stored.
	FirstWindow, LastWindow time.Time
}
