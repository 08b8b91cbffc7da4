package sdk

import (
	"context"
	"sync"
)

// minShare is the fewest records a share of a split batch holds: below it,
// starting goroutines costs more than it saves.
const minShare = 256

// extractShares extracts records into out, in one call of the extractor or,
// when it was served with ConcurrentExtract and the batch is large enough,
// in one call per share of the batch at once. Each share's outcomes are
// numbered within the share; they are joined in record order, renumbered,
// so out is what one call would give.
func (s *extractorServer) extractShares(ctx context.Context, records []Record, out *Extraction) error {
	n := min(len(s.shares), len(records)/minShare)
	if n <= 1 {
		return s.impl.Extract(ctx, records, out)
	}
	size := (len(records) + n - 1) / n
	errs := make([]error, n)
	var wg sync.WaitGroup
	for i := range n {
		share := &s.shares[i]
		share.Reset()
		part := records[i*size : min((i+1)*size, len(records))]
		wg.Go(func() { errs[i] = s.impl.Extract(ctx, part, share) })
	}
	wg.Wait()
	for i := range n {
		if errs[i] != nil {
			return errs[i]
		}
		first, share := i*size, &s.shares[i]
		for _, f := range share.Facts {
			f.Record += first
			out.Facts = append(out.Facts, f)
		}
		for _, v := range share.Skipped {
			out.Skipped = append(out.Skipped, Verdict{Record: v.Record + first, Reason: v.Reason})
		}
		for _, v := range share.Rejected {
			out.Rejected = append(out.Rejected, Verdict{Record: v.Record + first, Reason: v.Reason})
		}
	}
	return nil
}
