package sdk

import "context"

// BatchExtractor is an Extractor that also takes a whole batch. The
// runtime's client of an extractor plugin is one: it forwards a batch
// polled from a source plugin in the form the source sent it, without
// encoding the records again. Plugin authors implement Extractor only.
type BatchExtractor interface {
	Extractor
	// ExtractBatch is Extract of the records of b's partitions, in order.
	ExtractBatch(ctx context.Context, b Batch, out *Extraction) error
}

// ExtractBatch extracts the records of b's partitions, in order, with
// x.ExtractBatch when x is a BatchExtractor and x.Extract otherwise.
func ExtractBatch(ctx context.Context, x Extractor, b Batch, out *Extraction) error {
	if bx, ok := x.(BatchExtractor); ok {
		return bx.ExtractBatch(ctx, b, out)
	}
	return x.Extract(ctx, appendRecords(nil, b), out)
}

// appendRecords appends the records of b's partitions, in order, to dst.
func appendRecords(dst []Record, b Batch) []Record {
	for _, p := range b.Partitions {
		dst = append(dst, p.Records...)
	}
	return dst
}
