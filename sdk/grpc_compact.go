package sdk

import (
	"context"
	"time"

	"github.com/kappa-stream/kappa/internal/rpc"
	pb "github.com/kappa-stream/kappa/internal/rpc/kappapb"
)

// The Compact call over gRPC: optional on the plugin's side, so the server
// half answers Unimplemented for a sink that is no Compactor.

func (s *sinkServer) Compact(ctx context.Context, req *pb.CompactRequest) (*pb.CompactResponse, error) {
	c, err := optional[Compactor](s.impl, rpc.ErrCompactUnsupported)
	if err != nil {
		return nil, err
	}
	res, err := c.Compact(ctx, CompactRequest{
		OlderThan: time.Duration(req.GetOlderThanNanos()),
		Budget:    time.Duration(req.GetBudgetNanos()),
		Full:      req.GetFull(),
	})
	if err != nil {
		return nil, toStatus(err)
	}
	return &pb.CompactResponse{Spans: res.Spans, Batches: res.Batches, RowsBefore: res.RowsBefore,
		RowsAfter: res.RowsAfter, Raced: res.Raced, Done: res.Done}, nil
}

// Compact asks the sink plugin to compact; rpc.ErrCompactUnsupported when the
// plugin's sink is no Compactor.
func (c *sinkClient) Compact(ctx context.Context, req CompactRequest) (CompactResult, error) {
	resp, err := c.rpc.Compact(ctx, &pb.CompactRequest{
		OlderThanNanos: int64(req.OlderThan),
		BudgetNanos:    int64(req.Budget),
		Full:           req.Full,
	})
	if err != nil {
		return CompactResult{}, fromOptional("sink compact", err, rpc.ErrCompactUnsupported)
	}
	return CompactResult{Spans: resp.GetSpans(), Batches: resp.GetBatches(), RowsBefore: resp.GetRowsBefore(),
		RowsAfter: resp.GetRowsAfter(), Raced: resp.GetRaced(), Done: resp.GetDone()}, nil
}

var _ Compactor = (*sinkClient)(nil)
