package command

import (
	"cmp"
	"context"
	"fmt"
	"io"
	"slices"
	"text/tabwriter"

	"github.com/kappa-stream/kappa/internal/launch"
	"github.com/kappa-stream/kappa/internal/pipeline"
	"github.com/kappa-stream/kappa/internal/pluginclient"
	"github.com/kappa-stream/kappa/sdk"
)

// openSinkOnly starts and opens only the pipeline's sink, as audit and
// compact need it (no broker, no other plugin). close stops it again.
func openSinkOnly(ctx context.Context, p *pipeline.Pipeline) (sink sdk.Sink, close func(), err error) {
	b := blocks(p)[2]
	paths, err := findPlugins(p, []block{b})
	if err != nil {
		return nil, nil, err
	}
	proc, err := launch.Start(b.kind, paths[0], commandPluginLogger(p), p.Timeouts.Open, nil, b.plugin.Env)
	if err != nil {
		return nil, nil, err
	}
	sink = proc.Sink()
	openCtx, cancel := context.WithTimeout(ctx, p.Timeouts.Open)
	defer cancel()
	if err := sink.Open(openCtx, setup(p, p.Sink)); err != nil {
		proc.Stop()
		return nil, nil, pluginError(p, b, err)
	}
	return sink, func() { closeQuietly(sink); proc.Stop() }, nil
}

// ReadAudit starts and opens the pipeline's sink and asks it for its audit.
func ReadAudit(ctx context.Context, file string) ([]sdk.StreamAudit, error) {
	p, err := pipeline.Load(file)
	if err != nil {
		return nil, err
	}
	sink, closeSink, err := openSinkOnly(ctx, p)
	if err != nil {
		return nil, err
	}
	defer closeSink()
	auditor, ok := sink.(sdk.Auditor)
	if !ok {
		return nil, fmt.Errorf("%s: sink: %w", p.File, pluginclient.ErrAuditUnsupported)
	}
	streams, err := auditor.Audit(ctx)
	if err != nil {
		return nil, fmt.Errorf("%s: sink: %w", p.File, err)
	}
	if len(streams) == 0 {
		return nil, fmt.Errorf("%s: pipeline %s has committed nothing yet", p.File, p.Name)
	}
	return streams, nil
}

// partitionAudit sums one partition's committed ranges.
type partitionAudit struct {
	partition                         int32
	first, next                       int64 // first committed offset, committed position
	batches                           int
	records, facts, skipped, rejected int64
	lost                              int64 // offsets deleted before they were read (on_out_of_range: skip)
	rows, counted                     int64 // aggregate rows and the sum of their counts
	problems                          int
	hasPosition, hasBatches           bool
}

// AuditReport is the outcome of checking one stream.
type AuditReport struct {
	stream     string
	partitions []*partitionAudit
	problems   []string
	// notes name the adopted ranges, which are not problems.
	notes []string
}

// CheckAudit checks one stream's audit: per partition, the committed
// ranges are contiguous and non-overlapping from the first committed offset
// up to the committed position (a position without ranges is where a
// partition starts, nothing read yet), every aggregate row belongs to a
// committed range, and each range's counters add up (facts = the sum of
// its rows' counts; skipped + rejected <= records <= end - start).
func CheckAudit(st sdk.StreamAudit) AuditReport {
	r := AuditReport{stream: st.Stream}
	byPartition := map[int32]*partitionAudit{}
	get := func(p int32) *partitionAudit {
		if a, ok := byPartition[p]; ok {
			return a
		}
		a := &partitionAudit{partition: p}
		byPartition[p] = a
		return a
	}
	problem := func(a *partitionAudit, format string, args ...any) {
		a.problems++
		r.problems = append(r.problems, fmt.Sprintf("partition %d: ", a.partition)+fmt.Sprintf(format, args...))
	}
	for _, p := range st.Positions {
		a := get(p.Partition)
		a.next, a.hasPosition = p.NextOffset, true
	}

	type rangeKey = sdk.OffsetRange
	aggregates := map[rangeKey]sdk.AggregateRange{}
	for _, g := range st.Aggregates {
		aggregates[g.OffsetRange] = g
	}
	// Adopted ranges (kappa-runtime adopt) join the committed ones in the
	// contiguity check; their counters are unknown, and the aggregate rows
	// inside them carry the old program's own ranges.
	adopted := map[rangeKey]bool{}
	batches := slices.Clone(st.Batches)
	for _, r := range st.Adopted {
		adopted[r] = true
		batches = append(batches, sdk.RangeStats{OffsetRange: r})
	}
	slices.SortFunc(batches, func(x, y sdk.RangeStats) int {
		return cmp.Or(cmp.Compare(x.Partition, y.Partition), cmp.Compare(x.Start, y.Start), cmp.Compare(x.End, y.End))
	})
	var prev *sdk.RangeStats
	for i := range batches {
		b := &batches[i]
		a := get(b.Partition)
		if prev == nil || prev.Partition != b.Partition {
			a.first, a.hasBatches = b.Start, true
		} else if b.Start > prev.End {
			problem(a, "gap: offsets [%d, %d) lie between committed ranges [%d, %d) and [%d, %d)", prev.End, b.Start, prev.Start, prev.End, b.Start, b.End)
		} else if b.Start < prev.End {
			problem(a, "overlap: committed ranges [%d, %d) and [%d, %d) share offsets", prev.Start, prev.End, b.Start, b.End)
		}
		prev = b
		if adopted[b.OffsetRange] {
			r.adopt(a, b.OffsetRange, aggregates)
			continue
		}
		a.batches++
		a.records += b.Records
		a.facts += b.Facts
		a.skipped += b.Skipped
		a.rejected += b.Rejected
		a.lost += b.Lost

		g := aggregates[b.OffsetRange]
		delete(aggregates, b.OffsetRange)
		a.rows += g.Rows
		a.counted += g.Count
		switch {
		case b.End <= b.Start:
			problem(a, "range [%d, %d) is empty or reversed", b.Start, b.End)
		case b.Records+b.Lost > b.End-b.Start || b.Lost < 0:
			problem(a, "range [%d, %d): %d records read and %d offsets lost of %d offsets", b.Start, b.End, b.Records, b.Lost, b.End-b.Start)
		case b.Skipped+b.Rejected > b.Records:
			problem(a, "range [%d, %d): %d skipped and %d rejected of %d records", b.Start, b.End, b.Skipped, b.Rejected, b.Records)
		case b.Facts < b.Records-b.Skipped-b.Rejected:
			problem(a, "range [%d, %d): %d facts for %d records neither skipped nor rejected", b.Start, b.End, b.Facts, b.Records-b.Skipped-b.Rejected)
		}
		if g.Count != b.Facts {
			problem(a, "range [%d, %d): %d facts committed but its aggregate rows count %d", b.Start, b.End, b.Facts, g.Count)
		}
	}
	for _, a := range byPartition {
		switch {
		case !a.hasBatches && a.hasPosition:
			// An anchor: where the partition starts, nothing read yet.
			a.first = a.next
		case a.hasBatches && !a.hasPosition:
			problem(a, "committed ranges but no committed position")
		}
	}
	// The last range of each partition must end at its position.
	for i, b := range batches {
		if i+1 < len(batches) && batches[i+1].Partition == b.Partition {
			continue
		}
		a := get(b.Partition)
		switch {
		case !a.hasPosition:
		case b.End < a.next:
			problem(a, "gap: committed position %d is past the last committed range [%d, %d)", a.next, b.Start, b.End)
		case b.End > a.next:
			problem(a, "overlap: committed range [%d, %d) ends past the committed position %d", b.Start, b.End, a.next)
		}
	}
	for _, g := range slices.SortedFunc(func(yield func(sdk.AggregateRange) bool) {
		for _, g := range aggregates {
			if !yield(g) {
				return
			}
		}
	}, func(x, y sdk.AggregateRange) int {
		return cmp.Or(cmp.Compare(x.Partition, y.Partition), cmp.Compare(x.Start, y.Start))
	}) {
		a := get(g.Partition)
		a.rows += g.Rows
		a.counted += g.Count
		problem(a, "%d aggregate rows counting %d carry range [%d, %d), which no commit recorded", g.Rows, g.Count, g.Start, g.End)
	}
	for _, a := range byPartition {
		r.partitions = append(r.partitions, a)
	}
	slices.SortFunc(r.partitions, func(x, y *partitionAudit) int { return cmp.Compare(x.partition, y.partition) })
	return r
}

// adopt accounts an adopted range to a: the aggregate ranges inside it
// are its rows, and nothing of it is checked but its place.
func (r *AuditReport) adopt(a *partitionAudit, x sdk.OffsetRange, aggregates map[sdk.OffsetRange]sdk.AggregateRange) {
	var rows, counted int64
	for k, g := range aggregates {
		if k.Partition == x.Partition && k.Start >= x.Start && k.End <= x.End {
			delete(aggregates, k)
			rows += g.Rows
			counted += g.Count
		}
	}
	a.rows += rows
	a.counted += counted
	r.notes = append(r.notes, fmt.Sprintf("partition %d: offsets [%d, %d) adopted from before Kappa (kappa-runtime adopt), counters unknown: its %d aggregate rows counting %d are not checked",
		x.Partition, x.Start, x.End, rows, counted))
}

// Clean reports whether the stream passed every check.
func (r AuditReport) Clean() bool { return len(r.problems) == 0 }

// Print writes the summary table and every problem.
func (r AuditReport) Print(w io.Writer) {
	fmt.Fprintf(w, "stream %s\n", r.stream)
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, "partition\tfirst\tnext_offset\tbatches\trecords\tfacts\tskipped\trejected\tlost\trows\tcounted\tproblems\t")
	var total partitionAudit
	for _, a := range r.partitions {
		fmt.Fprintf(tw, "%d\t%d\t%d\t%d\t%d\t%d\t%d\t%d\t%d\t%d\t%d\t%d\t\n", a.partition, a.first, a.next, a.batches,
			a.records, a.facts, a.skipped, a.rejected, a.lost, a.rows, a.counted, a.problems)
		total.batches += a.batches
		total.records += a.records
		total.facts += a.facts
		total.skipped += a.skipped
		total.rejected += a.rejected
		total.lost += a.lost
		total.rows += a.rows
		total.counted += a.counted
		total.problems += a.problems
	}
	fmt.Fprintf(tw, "all\t\t\t%d\t%d\t%d\t%d\t%d\t%d\t%d\t%d\t%d\t\n", total.batches, total.records, total.facts,
		total.skipped, total.rejected, total.lost, total.rows, total.counted, total.problems)
	tw.Flush()
	for _, n := range r.notes {
		fmt.Fprintln(w, "ADOPTED:", n)
	}
	if len(r.problems) == 0 {
		fmt.Fprintln(w, "audit clean: ranges contiguous, counters add up")
		return
	}
	for _, p := range r.problems {
		fmt.Fprintln(w, "PROBLEM:", p)
	}
}
