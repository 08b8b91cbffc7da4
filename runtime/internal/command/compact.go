package command

import (
	"context"
	"fmt"
	"time"

	"github.com/kappa-stream/kappa/internal/engine"
	"github.com/kappa-stream/kappa/internal/pipeline"
	"github.com/kappa-stream/kappa/internal/pluginclient"
	"github.com/kappa-stream/kappa/sdk"
)

// CompactReport is what one full compaction pass did.
type CompactReport struct {
	Pipeline  string
	OlderThan time.Duration // the age the pass merged ranges beyond
	Took      time.Duration
	Result    sdk.CompactResult // as the sink counted it
	// Aggregate rows and batch records before and after, from the
	// sink's audit; -1 when the sink has no audit.
	RowsBefore, RowsAfter       int64
	BatchesBefore, BatchesAfter int64
}

// Compact starts and opens only the pipeline's sink, as ReadAudit does, and
// runs one full pass, counting rows before and after from the audit. A
// negative olderThan stands for the pipeline's compaction.after.
func Compact(ctx context.Context, file string, olderThan time.Duration) (CompactReport, error) {
	p, err := pipeline.Load(file)
	if err != nil {
		return CompactReport{}, err
	}
	if olderThan < 0 {
		olderThan = p.Compaction.After
	}
	sink, closeSink, err := openSinkOnly(ctx, p)
	if err != nil {
		return CompactReport{}, err
	}
	defer closeSink()
	compactor, ok := sink.(sdk.Compactor)
	if !ok {
		return CompactReport{}, fmt.Errorf("%s: sink: %w", p.File, pluginclient.ErrCompactUnsupported)
	}
	auditor, _ := sink.(sdk.Auditor)
	count := func() (rows, batches int64, err error) {
		if auditor == nil {
			return -1, -1, nil
		}
		streams, err := auditor.Audit(ctx)
		if err != nil {
			return 0, 0, fmt.Errorf("%s: sink: count rows: %w", p.File, err)
		}
		for _, st := range streams {
			batches += int64(len(st.Batches))
			for _, g := range st.Aggregates {
				rows += g.Rows
			}
		}
		return rows, batches, nil
	}
	rowsBefore, batchesBefore, err := count()
	if err != nil {
		return CompactReport{}, err
	}
	began := time.Now()
	res, err := compactor.Compact(ctx, sdk.CompactRequest{OlderThan: olderThan, Full: true})
	took := time.Since(began)
	if err != nil {
		return CompactReport{}, fmt.Errorf("%s: sink: %w (merged %d spans before it)", p.File, err, res.Spans)
	}
	rowsAfter, batchesAfter, err := count()
	if err != nil {
		return CompactReport{}, err
	}
	return CompactReport{Pipeline: p.Name, OlderThan: olderThan, Took: took, Result: res,
		RowsBefore: rowsBefore, RowsAfter: rowsAfter, BatchesBefore: batchesBefore, BatchesAfter: batchesAfter}, nil
}

// compaction maps the pipeline's compaction keys to the engine's.
func compaction(c pipeline.Compaction) engine.Compaction {
	if !c.Enabled {
		return engine.Compaction{}
	}
	return engine.Compaction{Every: c.Every, After: c.After}
}
