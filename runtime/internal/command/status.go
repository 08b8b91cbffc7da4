package command

import (
	"context"
	"fmt"
	"io"
	"slices"
	"text/tabwriter"
	"time"

	"github.com/kappa-stream/kappa/internal/launch"
	"github.com/kappa-stream/kappa/internal/pipeline"
	"github.com/kappa-stream/kappa/sdk"
)

// PartitionStatus is one partition as `kappa-runtime status` shows it.
type PartitionStatus struct {
	Partition int32
	// Committed is the committed position (the next offset to read); -1
	// when the sink holds none for the partition.
	Committed int64
	// Start and End are the source's log: first offset kept, log end.
	Start, End int64
	// Lag is End minus the committed position (minus Start when none).
	Lag int64
	// CommittedAt is when the position was committed, when the sink says.
	CommittedAt time.Time
	// Owner is the member of the consumer group that reads the partition,
	// as the source says (empty outside a group, or when no member does).
	Owner string
}

// PipelineStatus is what `kappa-runtime status` prints.
type PipelineStatus struct {
	Pipeline, Stream string
	// Group is the source's consumer group; "" when it reads every
	// partition itself.
	Group      string
	Partitions []PartitionStatus
}

// ReadStatus opens the pipeline's source and sink (no runtime needs to
// run, nor the extractor) and reads the committed positions and the log
// ends.
func ReadStatus(ctx context.Context, file string) (PipelineStatus, error) {
	p, err := pipeline.Load(file)
	if err != nil {
		return PipelineStatus{}, err
	}
	bs := blocks(p)
	source, closeSource, info, err := openSource(ctx, p, bs[0])
	if err != nil {
		return PipelineStatus{}, err
	}
	defer closeSource()
	sink, closeSink, err := openSinkOnly(ctx, p)
	if err != nil {
		return PipelineStatus{}, err
	}
	defer closeSink()
	readCtx, cancel := context.WithTimeout(ctx, p.Timeouts.Commit)
	defer cancel()
	positions, err := sink.Positions(readCtx, info.Stream)
	if err != nil {
		return PipelineStatus{}, fmt.Errorf("%s: sink: read committed positions of stream %s: %w", p.File, info.Stream, err)
	}
	marks, err := source.Watermarks(readCtx)
	if err != nil {
		return PipelineStatus{}, fmt.Errorf("%s: source: read the log ends: %w", p.File, err)
	}
	s := pipelineStatus(p.Name, info.Stream, positions, marks)
	s.Group = info.Group
	return s, nil
}

// pipelineStatus joins the sink's positions and the source's log ends.
func pipelineStatus(name, stream string, positions []sdk.Position, marks []sdk.Watermark) PipelineStatus {
	s := PipelineStatus{Pipeline: name, Stream: stream}
	committed := map[int32]sdk.Position{}
	for _, pos := range positions {
		committed[pos.Partition] = pos
	}
	for _, w := range marks {
		ps := PartitionStatus{Partition: w.Partition, Committed: -1, Start: w.Start, End: w.End, Lag: w.End - w.Start, Owner: w.Owner}
		if pos, ok := committed[w.Partition]; ok {
			ps.Committed, ps.Lag = pos.NextOffset, max(0, w.End-pos.NextOffset)
			ps.CommittedAt = pos.CommittedAt
		}
		s.Partitions = append(s.Partitions, ps)
	}
	slices.SortFunc(s.Partitions, func(a, b PartitionStatus) int { return int(a.Partition - b.Partition) })
	return s
}

// Print writes the status as a table, and the total lag. In a consumer
// group the table ends with each partition's owner ("none" while no
// member owns it).
func (s PipelineStatus) Print(w io.Writer) {
	fmt.Fprintf(w, "pipeline %s, stream %s", s.Pipeline, s.Stream)
	if s.Group != "" {
		fmt.Fprintf(w, ", consumer group %s", s.Group)
	}
	fmt.Fprintln(w)
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprint(tw, "partition\tcommitted\thigh watermark\tlag\tlast commit\t")
	if s.Group != "" {
		fmt.Fprint(tw, "owner\t")
	}
	fmt.Fprintln(tw)
	var total int64
	for _, p := range s.Partitions {
		committed, at := "none", "-"
		if p.Committed >= 0 {
			committed = fmt.Sprint(p.Committed)
		}
		if !p.CommittedAt.IsZero() {
			at = p.CommittedAt.UTC().Format(time.RFC3339)
		}
		fmt.Fprintf(tw, "%d\t%s\t%d\t%d\t%s\t", p.Partition, committed, p.End, p.Lag, at)
		if s.Group != "" {
			owner := p.Owner
			if owner == "" {
				owner = "none"
			}
			fmt.Fprintf(tw, "%s\t", owner)
		}
		fmt.Fprintln(tw)
		total += p.Lag
	}
	tw.Flush()
	fmt.Fprintf(w, "total lag %d records over %d partitions\n", total, len(s.Partitions))
}

// openSource starts and opens only the pipeline's source.
func openSource(ctx context.Context, p *pipeline.Pipeline, b block) (sdk.Source, func(), sdk.SourceInfo, error) {
	paths, err := findPlugins(p, []block{b})
	if err != nil {
		return nil, nil, sdk.SourceInfo{}, err
	}
	proc, err := launch.Start(b.kind, paths[0], commandPluginLogger(p), p.Timeouts.Open, nil, b.plugin.Env)
	if err != nil {
		return nil, nil, sdk.SourceInfo{}, err
	}
	source := proc.Source()
	openCtx, cancel := context.WithTimeout(ctx, p.Timeouts.Open)
	defer cancel()
	info, err := source.Open(openCtx, setup(p, p.Source))
	if err != nil {
		proc.Stop()
		return nil, nil, sdk.SourceInfo{}, pluginError(p, b, err)
	}
	return source, func() { closeQuietly(source); proc.Stop() }, info, nil
}
