package sdk

import (
	"time"

	pb "github.com/kappa-stream/kappa/internal/rpc/kappapb"
)

// Conversions between the SDK's Go values and their protobuf form. Byte
// slices are shared, not copied. Batches of records have a form of their
// own: see batch_wire.go.

func unixNano(t time.Time) int64 {
	if t.IsZero() {
		return 0
	}
	return t.UnixNano()
}

func fromUnixNano(n int64) time.Time {
	if n == 0 {
		return time.Time{}
	}
	return time.Unix(0, n).UTC()
}

func setupToPB(s Setup) *pb.Setup {
	return &pb.Setup{Pipeline: s.Pipeline, Config: s.Config, WindowNanos: int64(s.Window), Dimensions: s.Dimensions, Aggregates: s.Aggregates, Adopting: s.Adopting,
		Definition: s.Definition, Reprocessing: s.Reprocessing}
}

func setupFromPB(s *pb.Setup) Setup {
	return Setup{Pipeline: s.GetPipeline(), Config: s.GetConfig(), Window: time.Duration(s.GetWindowNanos()), Dimensions: s.GetDimensions(), Aggregates: s.GetAggregates(), Adopting: s.GetAdopting(),
		Definition: s.GetDefinition(), Reprocessing: s.GetReprocessing()}
}

func rangeToPB(r OffsetRange) *pb.OffsetRange {
	return &pb.OffsetRange{Partition: r.Partition, Start: r.Start, End: r.End}
}

func rangeFromPB(r *pb.OffsetRange) OffsetRange {
	return OffsetRange{Partition: r.GetPartition(), Start: r.GetStart(), End: r.GetEnd()}
}

func positionsToPB(ps []Position) []*pb.Position {
	out := make([]*pb.Position, len(ps))
	for i, p := range ps {
		out[i] = &pb.Position{Partition: p.Partition, NextOffset: p.NextOffset, StreamId: p.StreamID}
		if !p.CommittedAt.IsZero() {
			out[i].CommittedUnixNanos = p.CommittedAt.UnixNano()
		}
	}
	return out
}

func positionsFromPB(ps []*pb.Position) []Position {
	out := make([]Position, len(ps))
	for i, p := range ps {
		out[i] = Position{Partition: p.GetPartition(), NextOffset: p.GetNextOffset(), StreamID: p.GetStreamId()}
		if n := p.GetCommittedUnixNanos(); n != 0 {
			out[i].CommittedAt = time.Unix(0, n).UTC()
		}
	}
	return out
}

func watermarksToPB(ws []Watermark) []*pb.Watermark {
	out := make([]*pb.Watermark, len(ws))
	for i, w := range ws {
		out[i] = &pb.Watermark{Partition: w.Partition, Start: w.Start, End: w.End, Owner: w.Owner}
	}
	return out
}

func watermarksFromPB(ws []*pb.Watermark) []Watermark {
	out := make([]Watermark, len(ws))
	for i, w := range ws {
		out[i] = Watermark{Partition: w.GetPartition(), Start: w.GetStart(), End: w.GetEnd(), Owner: w.GetOwner()}
	}
	return out
}

func verdictsToPB(vs []Verdict) []*pb.Verdict {
	out := make([]*pb.Verdict, len(vs))
	for i, v := range vs {
		out[i] = &pb.Verdict{Record: int32(v.Record), Reason: v.Reason}
	}
	return out
}

func verdictsFromPB(vs []*pb.Verdict, out []Verdict) []Verdict {
	for _, v := range vs {
		out = append(out, Verdict{Record: int(v.GetRecord()), Reason: v.GetReason()})
	}
	return out
}

func commitToPB(c Commit) *pb.CommitRequest {
	out := &pb.CommitRequest{Stream: c.Stream, StreamId: c.StreamID, Ranges: make([]*pb.RangeStats, len(c.Ranges)), Rows: make([]*pb.Row, len(c.Rows)),
		DeadLetters: deadLettersToPB(c.DeadLetters)}
	for i, r := range c.Ranges {
		out.Ranges[i] = &pb.RangeStats{Range: rangeToPB(r.OffsetRange), Records: r.Records, Facts: r.Facts, Skipped: r.Skipped, Rejected: r.Rejected, Lost: r.Lost}
	}
	for i, r := range c.Rows {
		out.Rows[i] = &pb.Row{Range: rangeToPB(r.OffsetRange), WindowUnixNano: r.Window.UnixNano(), Dims: r.Dims, Count: r.Count, Sum: r.Sum, FirstOffset: r.FirstOffset}
	}
	return out
}

func commitFromPB(req *pb.CommitRequest) Commit {
	c := Commit{Stream: req.GetStream(), StreamID: req.GetStreamId(), Ranges: make([]RangeStats, len(req.GetRanges())), Rows: make([]Row, len(req.GetRows())),
		DeadLetters: deadLettersFromPB(req.GetDeadLetters())}
	for i, r := range req.GetRanges() {
		c.Ranges[i] = RangeStats{OffsetRange: rangeFromPB(r.GetRange()), Records: r.GetRecords(), Facts: r.GetFacts(), Skipped: r.GetSkipped(), Rejected: r.GetRejected(), Lost: r.GetLost()}
	}
	for i, r := range req.GetRows() {
		c.Rows[i] = Row{OffsetRange: rangeFromPB(r.GetRange()), Window: time.Unix(0, r.GetWindowUnixNano()).UTC(), Dims: r.GetDims(), Count: r.GetCount(), Sum: r.GetSum(), FirstOffset: r.GetFirstOffset()}
	}
	return c
}
