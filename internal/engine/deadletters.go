package engine

import (
	"cmp"
	"slices"

	"github.com/kappa-stream/kappa/sdk"
)

// deadLetters makes the dead letters of a batch's rejected records, in
// partition and offset order, each value cut to maxBytes. records are the
// batch's records as the extractor numbered them, partitionOf their
// partitions; their memory is still the batch's, so the values are copied.
// Only rejected records are touched: a batch that rejects nothing costs a
// length check.
func deadLetters(rejected []sdk.Verdict, records []sdk.Record, partitionOf []int32, maxBytes int) []sdk.DeadLetter {
	if len(rejected) == 0 {
		return nil
	}
	out := make([]sdk.DeadLetter, len(rejected))
	for i, v := range rejected {
		r := records[v.Record]
		r.Partition = partitionOf[v.Record] // a source in this process may leave it unset
		out[i] = cutDeadLetter(r, v.Reason, maxBytes)
	}
	slices.SortFunc(out, func(a, b sdk.DeadLetter) int {
		return cmp.Or(cmp.Compare(a.Partition, b.Partition), cmp.Compare(a.Offset, b.Offset))
	})
	return out
}

// cutDeadLetter makes the dead letter of record r, rejected for reason,
// keeping at most maxBytes of its value (sdk.DefaultDeadLetterMaxBytes when
// maxBytes <= 0). The value is copied: r's memory may be reused.
func cutDeadLetter(r sdk.Record, reason string, maxBytes int) sdk.DeadLetter {
	if maxBytes <= 0 {
		maxBytes = sdk.DefaultDeadLetterMaxBytes
	}
	value := r.Value[:min(len(r.Value), maxBytes)]
	return sdk.DeadLetter{Partition: r.Partition, Offset: r.Offset, Time: r.Time, Reason: reason,
		Value: append([]byte(nil), value...), Length: int64(len(r.Value))}
}
