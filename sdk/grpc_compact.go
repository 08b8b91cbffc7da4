package sdk

import (
	"context"
	"fmt"
	"time"

	"github.com/kappa-stream/kappa/internal/rpc"
	pb "github.com/kappa-stream/kappa/internal/rpc/kappapb"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
)

// The Compact call over gRPC: optional on the plugin's side, so the server
// half answers Unimplemented for a sink that is no Compactor.

func (s *sinkServer) Compact(ctx context.Context, req *pb.CompactRequest) (*pb.CompactResponse, error) {
	c, ok := s.impl.(Compactor)
	if !ok {
		return nil, status.Error(codes.Unimplemented, rpc.ErrCompactUnsupported.Error())
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
	if status.Code(err) == codes.Unimplemented {
		return CompactResult{}, fmt.Errorf("sink compact: %w", rpc.ErrCompactUnsupported)
	}
	if err != nil {
		return CompactResult{}, fromStatus("sink compact", err)
	}
	return CompactResult{Spans: resp.GetSpans(), Batches: resp.GetBatches(), RowsBefore: resp.GetRowsBefore(),
		RowsAfter: resp.GetRowsAfter(), Raced: resp.GetRaced(), Done: resp.GetDone()}, nil
}

var _ Compactor = (*sinkClient)(nil)
