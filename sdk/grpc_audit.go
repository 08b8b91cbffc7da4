package sdk

import (
	"context"

	"github.com/kappa-stream/kappa/internal/rpc"
	pb "github.com/kappa-stream/kappa/internal/rpc/kappapb"
)

// The Audit call over gRPC: optional on the plugin's side, so the server
// half answers Unimplemented for a sink that is no Auditor.

func (s *sinkServer) Audit(ctx context.Context, _ *pb.Empty) (*pb.AuditResponse, error) {
	a, err := optional[Auditor](s.impl, rpc.ErrAuditUnsupported)
	if err != nil {
		return nil, err
	}
	streams, err := a.Audit(ctx)
	if err != nil {
		return nil, toStatus(err)
	}
	resp := &pb.AuditResponse{Streams: make([]*pb.StreamAudit, len(streams))}
	for i, st := range streams {
		out := &pb.StreamAudit{Stream: st.Stream, Positions: positionsToPB(st.Positions)}
		for _, b := range st.Batches {
			out.Batches = append(out.Batches, rangeStatsToPB(b))
		}
		for _, g := range st.Aggregates {
			out.Aggregates = append(out.Aggregates, &pb.AggregateRange{Range: rangeToPB(g.OffsetRange), Rows: g.Rows, Count: g.Count})
		}
		for _, r := range st.Adopted {
			out.Adopted = append(out.Adopted, rangeToPB(r))
		}
		resp.Streams[i] = out
	}
	return resp, nil
}

// Audit asks the sink plugin for its audit; rpc.ErrAuditUnsupported when the
// plugin's sink is no Auditor.
func (c *sinkClient) Audit(ctx context.Context) ([]StreamAudit, error) {
	resp, err := c.rpc.Audit(ctx, &pb.Empty{})
	if err != nil {
		return nil, fromOptional("sink audit", err, rpc.ErrAuditUnsupported)
	}
	streams := make([]StreamAudit, len(resp.GetStreams()))
	for i, st := range resp.GetStreams() {
		out := StreamAudit{Stream: st.GetStream(), Positions: positionsFromPB(st.GetPositions())}
		for _, b := range st.GetBatches() {
			out.Batches = append(out.Batches, rangeStatsFromPB(b))
		}
		for _, g := range st.GetAggregates() {
			out.Aggregates = append(out.Aggregates, AggregateRange{OffsetRange: rangeFromPB(g.GetRange()), Rows: g.GetRows(), Count: g.GetCount()})
		}
		for _, r := range st.GetAdopted() {
			out.Adopted = append(out.Adopted, rangeFromPB(r))
		}
		streams[i] = out
	}
	return streams, nil
}

func rangeStatsToPB(r RangeStats) *pb.RangeStats {
	return &pb.RangeStats{Range: rangeToPB(r.OffsetRange), Records: r.Records, Facts: r.Facts, Skipped: r.Skipped, Rejected: r.Rejected}
}

func rangeStatsFromPB(r *pb.RangeStats) RangeStats {
	return RangeStats{OffsetRange: rangeFromPB(r.GetRange()), Records: r.GetRecords(), Facts: r.GetFacts(), Skipped: r.GetSkipped(), Rejected: r.GetRejected()}
}

var _ Auditor = (*sinkClient)(nil)
