package sdk

import (
	"context"

	"github.com/kappa-stream/kappa/internal/rpc"
	pb "github.com/kappa-stream/kappa/internal/rpc/kappapb"
)

// The Adopt call over gRPC: optional on the plugin's side, so the server
// half answers Unimplemented for a sink that is no Adopter.

func (s *sinkServer) Adopt(ctx context.Context, req *pb.AdoptRequest) (*pb.AdoptResponse, error) {
	a, err := optional[Adopter](s.impl, rpc.ErrAdoptUnsupported)
	if err != nil {
		return nil, err
	}
	res, err := a.Adopt(ctx, AdoptRequest{
		Stream:   req.GetStream(),
		StreamID: req.GetStreamId(),
		LogEnds:  watermarksFromPB(req.GetLogEnds()),
		Record:   req.GetRecord(),
	})
	if err != nil {
		return nil, toStatus(err)
	}
	resp := &pb.AdoptResponse{Table: res.Table, Refusals: res.Refusals, Recorded: res.Recorded}
	for _, p := range res.Partitions {
		resp.Partitions = append(resp.Partitions, &pb.AdoptedRange{
			Range: rangeToPB(p.OffsetRange), Ranges: p.Ranges, Rows: p.Rows, Count: p.Count,
			FirstWindowUnixNano: unixNano(p.FirstWindow), LastWindowUnixNano: unixNano(p.LastWindow),
		})
	}
	return resp, nil
}

// Adopt asks the sink plugin to adopt its table; rpc.ErrAdoptUnsupported when
// the plugin's sink is no Adopter.
func (c *sinkClient) Adopt(ctx context.Context, req AdoptRequest) (Adoption, error) {
	resp, err := c.rpc.Adopt(ctx, &pb.AdoptRequest{
		Stream:   req.Stream,
		StreamId: req.StreamID,
		LogEnds:  watermarksToPB(req.LogEnds),
		Record:   req.Record,
	})
	if err != nil {
		return Adoption{}, fromOptional("sink adopt", err, rpc.ErrAdoptUnsupported)
	}
	res := Adoption{Table: resp.GetTable(), Refusals: resp.GetRefusals(), Recorded: resp.GetRecorded()}
	for _, p := range resp.GetPartitions() {
		res.Partitions = append(res.Partitions, AdoptedRange{
			OffsetRange: rangeFromPB(p.GetRange()), Ranges: p.GetRanges(), Rows: p.GetRows(), Count: p.GetCount(),
			FirstWindow: fromUnixNano(p.GetFirstWindowUnixNano()), LastWindow: fromUnixNano(p.GetLastWindowUnixNano()),
		})
	}
	return res, nil
}

var _ Adopter = (*sinkClient)(nil)
