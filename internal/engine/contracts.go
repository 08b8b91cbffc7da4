package engine

import (
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"

	"github.com/kappa-stream/kappa/sdk"
)

// ErrContract is matched (errors.Is) by the error of a plugin that broke
// its contract: a source whose ranges or records do not fit together, a
// sink whose positions make no sense. Such an error is permanent too (it
// matches sdk.ErrPermanent): the same plugin would break it again, so no
// retry can make the counts right, and going on could lose or double count
// records.
var ErrContract = errors.New("plugin broke its contract")

// contractError says which plugin broke its contract, and how.
type contractError struct {
	plugin string // "source", "sink"
	msg    string
}

func (e *contractError) Error() string { return e.plugin + " broke its contract: " + e.msg }

func (e *contractError) Is(target error) bool {
	return target == ErrContract || target == sdk.ErrPermanent
}

// ContractBreaker returns which plugin ("source", "extractor", "sink")
// broke its contract, when err says one did.
func ContractBreaker(err error) (kind string, ok bool) {
	var c *contractError
	if errors.As(err, &c) {
		return c.plugin, true
	}
	return "", false
}

func sourceBroke(format string, args ...any) error {
	return &contractError{plugin: "source", msg: fmt.Sprintf(format, args...)}
}

func extractorBroke(format string, args ...any) error {
	return &contractError{plugin: "extractor", msg: fmt.Sprintf(format, args...)}
}

func sinkBroke(format string, args ...any) error {
	return &contractError{plugin: "sink", msg: fmt.Sprintf(format, args...)}
}

// checkBatch enforces the source contract on a polled batch: at most one
// range per partition; a range starts where the partition's previous
// range ended (committed or committing); its records lie inside it, past
// the offsets it reports lost, in strictly increasing offset order. A
// record outside its range would be counted in a range that does not hold
// it, and counted again with the range that does; one out of order means
// the source skipped or repeated something.
func (e *Engine) checkBatch(b sdk.Batch) error {
	seen := make(map[int32]bool, len(b.Partitions))
	for _, p := range b.Partitions {
		if seen[p.Partition] {
			return sourceBroke("partition %d appears twice in one batch", p.Partition)
		}
		seen[p.Partition] = true
		if p.End < p.Start {
			return sourceBroke("partition %d range [%d, %d) ends before it starts", p.Partition, p.Start, p.End)
		}
		if p.End == p.Start && len(p.Records) > 0 {
			return sourceBroke("partition %d range [%d, %d) is empty but holds %d records", p.Partition, p.Start, p.End, len(p.Records))
		}
		if next, ok := e.next[p.Partition]; ok && p.Start != next && p.End > p.Start {
			return sourceBroke("partition %d range starts at %d, where the batch before left it is %d", p.Partition, p.Start, next)
		}
		if p.Lost < 0 || p.Lost > p.End-p.Start {
			return sourceBroke("partition %d range [%d, %d) reports %d offsets lost", p.Partition, p.Start, p.End, p.Lost)
		}
		if err := checkRecords(p); err != nil {
			return err
		}
	}
	return nil
}

// checkRecords checks that p's records belong to p's range, after its lost
// offsets, in strictly increasing offset order.
func checkRecords(p sdk.PartitionBatch) error {
	first := p.Start + p.Lost // the first offset a record may have
	for i := range p.Records {
		r := &p.Records[i]
		switch {
		case r.Partition != p.Partition:
			return sourceBroke("partition %d range [%d, %d) holds a record of partition %d (offset %d)",
				p.Partition, p.Start, p.End, r.Partition, r.Offset)
		case r.Offset < first || r.Offset >= p.End:
			lost := ""
			if p.Lost > 0 {
				lost = fmt.Sprintf(" whose first %d offsets are lost", p.Lost)
			}
			return sourceBroke("partition %d: record at offset %d lies outside its range [%d, %d)%s",
				p.Partition, r.Offset, p.Start, p.End, lost)
		case i > 0 && r.Offset <= p.Records[i-1].Offset:
			return sourceBroke("partition %d: record at offset %d follows the record at offset %d; offsets must increase",
				p.Partition, r.Offset, p.Records[i-1].Offset)
		}
	}
	return nil
}

// checkOutcomes enforces the extractor contract: one outcome per record
// (one or more facts, or one skip, or one reject). A record without an
// outcome would silently vanish from the counts. Extraction is
// deterministic, so a broken answer would come again: it is fatal.
func checkOutcomes(x *sdk.Extraction, n int) error {
	const (
		none = iota
		fact
		verdict
	)
	seen := make([]uint8, n)
	for _, f := range x.Facts {
		if f.Record < 0 || f.Record >= n || seen[f.Record] == verdict {
			return extractorBroke("fact for record %d of %d", f.Record, n)
		}
		seen[f.Record] = fact
	}
	for _, vs := range [][]sdk.Verdict{x.Skipped, x.Rejected} {
		for _, v := range vs {
			if v.Record < 0 || v.Record >= n || seen[v.Record] != none {
				return extractorBroke("second outcome for record %d of %d", v.Record, n)
			}
			seen[v.Record] = verdict
		}
	}
	for i, s := range seen {
		if s == none {
			return extractorBroke("no outcome for record %d of %d", i, n)
		}
	}
	return nil
}

// checkPositions enforces the sink contract on what Positions returned:
// one position per partition, none negative. Seeking to a position the
// sink made up would lose or double count records without a trace.
func checkPositions(stream string, positions []sdk.Position) error {
	seen := make(map[int32]int64, len(positions))
	for _, p := range positions {
		if prev, ok := seen[p.Partition]; ok {
			return sinkBroke("positions of stream %s hold partition %d twice (at %d and at %d)", stream, p.Partition, prev, p.NextOffset)
		}
		seen[p.Partition] = p.NextOffset
		if p.NextOffset < 0 {
			return sinkBroke("position of stream %s partition %d is negative: %d", stream, p.Partition, p.NextOffset)
		}
	}
	return nil
}

// checkKnownPartitions refuses committed positions of partitions that the
// source does not have: the positions then belong to another stream, or
// the stream lost partitions (it was deleted and created again with
// fewer), and nothing read from it can continue them.
func checkKnownPartitions(stream string, positions []sdk.Position, marks []sdk.Watermark) error {
	known := make(map[int32]bool, len(marks))
	for _, w := range marks {
		known[w.Partition] = true
	}
	var unknown []int32
	for _, p := range positions {
		if !known[p.Partition] {
			unknown = append(unknown, p.Partition)
		}
	}
	if len(unknown) == 0 {
		return nil
	}
	slices.Sort(unknown)
	have := make([]int32, 0, len(known))
	for _, w := range marks {
		have = append(have, w.Partition)
	}
	slices.Sort(have)
	return sdk.Permanent(fmt.Errorf("the sink holds committed positions of stream %s for partitions %s, which the source does not have "+
		"(it reads partitions %s): the positions belong to another stream, or the stream was recreated with fewer partitions; "+
		"restore the stream or point the pipeline at a fresh table",
		stream, partitionList(unknown), partitionList(have)))
}

// partitionList formats partition numbers for a message: "0, 1, 2" or
// "none".
func partitionList(ps []int32) string {
	if len(ps) == 0 {
		return "none"
	}
	const most = 20
	s := make([]string, 0, min(len(ps), most))
	for _, p := range ps[:min(len(ps), most)] {
		s = append(s, strconv.Itoa(int(p)))
	}
	if len(ps) > most {
		s = append(s, fmt.Sprintf("… (%d in all)", len(ps)))
	}
	return strings.Join(s, ", ")
}
