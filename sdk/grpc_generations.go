package sdk

import (
	"context"
	"fmt"

	"github.com/kappa-stream/kappa/internal/rpc"
	pb "github.com/kappa-stream/kappa/internal/rpc/kappapb"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
)

// The Generations call over gRPC: optional on the plugin's side, so the
// server half answers Unimplemented for a sink that is no Generations.

func (s *sinkServer) Generations(ctx context.Context, req *pb.GenerationsRequest) (*pb.GenerationsResponse, error) {
	g, err := optional[Generations](s.impl, rpc.ErrGenerationsUnsupported)
	if err != nil {
		return nil, err
	}
	res, err := g.Generations(ctx, GenerationsRequest{
		Op:        GenerationOp(req.GetOp()),
		Stream:    req.GetStream(),
		StreamID:  req.GetStreamId(),
		LogStarts: watermarksFromPB(req.GetLogStarts()),
	})
	if err != nil {
		return nil, toStatus(err)
	}
	resp := &pb.GenerationsResponse{Table: res.Table, Bound: res.Bound, Refusals: res.Refusals, Done: res.Done}
	for _, g := range res.Generations {
		pg := &pb.Generation{Number: g.Number, Pipeline: g.Pipeline, PhysicalTable: g.PhysicalTable, State: g.State,
			Step: g.Step, Previous: g.Previous, UpdatedAtUnixNanos: unixNano(g.UpdatedAt)}
		for _, p := range g.Positions {
			pg.Positions = append(pg.Positions, &pb.GenerationPosition{Partition: p.Partition, NextOffset: p.NextOffset})
		}
		resp.Generations = append(resp.Generations, pg)
	}
	return resp, nil
}

// Generations asks the sink plugin to perform a step on its generations;
// rpc.ErrGenerationsUnsupported when the plugin's sink keeps none.
func (c *sinkClient) Generations(ctx context.Context, req GenerationsRequest) (GenerationsResult, error) {
	resp, err := c.rpc.Generations(ctx, &pb.GenerationsRequest{
		Op:        string(req.Op),
		Stream:    req.Stream,
		StreamId:  req.StreamID,
		LogStarts: watermarksToPB(req.LogStarts),
	})
	if status.Code(err) == codes.Unimplemented {
		return GenerationsResult{}, fmt.Errorf("sink generations: %w", rpc.ErrGenerationsUnsupported)
	}
	if err != nil {
		return GenerationsResult{}, fromStatus("sink generations "+string(req.Op), err)
	}
	res := GenerationsResult{Table: resp.GetTable(), Bound: resp.GetBound(), Refusals: resp.GetRefusals(), Done: resp.GetDone()}
	for _, g := range resp.GetGenerations() {
		gen := Generation{Number: g.GetNumber(), Pipeline: g.GetPipeline(), PhysicalTable: g.GetPhysicalTable(), State: g.GetState(),
			Step: g.GetStep(), Previous: g.GetPrevious(), UpdatedAt: fromUnixNano(g.GetUpdatedAtUnixNanos())}
		for _, p := range g.GetPositions() {
			gen.Positions = append(gen.Positions, Position{Partition: p.GetPartition(), NextOffset: p.GetNextOffset()})
		}
		res.Generations = append(res.Generations, gen)
	}
	return res, nil
}

var _ Generations = (*sinkClient)(nil)
