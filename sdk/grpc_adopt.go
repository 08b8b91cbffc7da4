package sdk

import (
	"context"
	"fmt"

	"github.com/kappa-stream/kappa/internal/rpc"
	pb "github.com/kappa-stream/kappa/internal/rpc/kappapb"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
)

// The Adopt call over gRPC: optional on the plugin's side, so the server
// half answers Unimplemented for a sink that is no Adopter.

func (s *sinkServer) Adopt(ctx context.Context, req *pb.AdoptRequest) (*pb.AdoptResponse, error) {
	a, ok := s.impl.(Adopter)
	if !ok {
		return nil, status.Error(codes.Unimplemented, rpc.ErrAdoptUnsupported.Error())
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
	if status.Code(err) == codes.Unimplemented {
		return Adoption{}, fmt.Errorf("sink adopt: %w", rpc.ErrAdoptUnsupported)
	}
	if err != nil {
		return Adoption{}, fromStatus("sink adopt", err)
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
