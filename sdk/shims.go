package sdk

import (
	"context"
	"time"

	pb "github.com/kappa-stream/kappa/internal/rpc/kappapb"
)

// Server halves: decode the request, call the plain Go implementation,
// encode the answer. Nothing else happens here.

type sourceServer struct {
	pb.UnimplementedSourceServer
	impl Source
}

func (s *sourceServer) Open(ctx context.Context, req *pb.Setup) (*pb.OpenSourceResponse, error) {
	info, err := s.impl.Open(ctx, setupFromPB(req))
	if err != nil {
		return nil, toStatus(err)
	}
	return &pb.OpenSourceResponse{Stream: info.Stream}, nil
}

func (s *sourceServer) Seek(ctx context.Context, req *pb.SeekRequest) (*pb.Empty, error) {
	return &pb.Empty{}, toStatus(s.impl.Seek(ctx, positionsFromPB(req.GetPositions())))
}

func (s *sourceServer) Poll(ctx context.Context, req *pb.PollRequest) (*pb.PollResponse, error) {
	b, err := s.impl.Poll(ctx, Limits{MaxRecords: int(req.GetMaxRecords()), MaxBytes: req.GetMaxBytes(), MaxWait: time.Duration(req.GetMaxWaitNanos())})
	if err != nil {
		return nil, toStatus(err)
	}
	return batchToPB(b), nil
}

func (s *sourceServer) Watermarks(ctx context.Context, _ *pb.Empty) (*pb.WatermarksResponse, error) {
	ws, err := s.impl.Watermarks(ctx)
	if err != nil {
		return nil, toStatus(err)
	}
	return &pb.WatermarksResponse{Watermarks: watermarksToPB(ws)}, nil
}

func (s *sourceServer) Close(ctx context.Context, _ *pb.Empty) (*pb.Empty, error) {
	return &pb.Empty{}, toStatus(s.impl.Close(ctx))
}

type extractorServer struct {
	pb.UnimplementedExtractorServer
	impl Extractor
	out  Extraction
}

func (s *extractorServer) Open(ctx context.Context, req *pb.Setup) (*pb.Empty, error) {
	return &pb.Empty{}, toStatus(s.impl.Open(ctx, setupFromPB(req)))
}

// Extract reuses one Extraction between calls; the runtime never calls
// Extract concurrently on one plugin.
func (s *extractorServer) Extract(ctx context.Context, req *pb.ExtractRequest) (*pb.ExtractResponse, error) {
	s.out.Reset()
	if err := s.impl.Extract(ctx, recordsFromPB(req.GetRecords(), 0, true), &s.out); err != nil {
		return nil, toStatus(err)
	}
	return extractionToPB(&s.out), nil
}

func (s *extractorServer) Close(ctx context.Context, _ *pb.Empty) (*pb.Empty, error) {
	return &pb.Empty{}, toStatus(s.impl.Close(ctx))
}

type sinkServer struct {
	pb.UnimplementedSinkServer
	impl Sink
}

func (s *sinkServer) Open(ctx context.Context, req *pb.Setup) (*pb.Empty, error) {
	return &pb.Empty{}, toStatus(s.impl.Open(ctx, setupFromPB(req)))
}

func (s *sinkServer) Positions(ctx context.Context, req *pb.PositionsRequest) (*pb.PositionsResponse, error) {
	ps, err := s.impl.Positions(ctx, req.GetStream())
	if err != nil {
		return nil, toStatus(err)
	}
	return &pb.PositionsResponse{Positions: positionsToPB(ps)}, nil
}

func (s *sinkServer) Commit(ctx context.Context, req *pb.CommitRequest) (*pb.Empty, error) {
	return &pb.Empty{}, toStatus(s.impl.Commit(ctx, commitFromPB(req)))
}

func (s *sinkServer) Close(ctx context.Context, _ *pb.Empty) (*pb.Empty, error) {
	return &pb.Empty{}, toStatus(s.impl.Close(ctx))
}

// Client halves: the same interfaces, implemented over gRPC for the runtime.

type sourceClient struct{ rpc pb.SourceClient }

func (c *sourceClient) Open(ctx context.Context, setup Setup) (SourceInfo, error) {
	resp, err := c.rpc.Open(ctx, setupToPB(setup))
	if err != nil {
		return SourceInfo{}, fromStatus("source open", err)
	}
	return SourceInfo{Stream: resp.GetStream()}, nil
}

func (c *sourceClient) Seek(ctx context.Context, positions []Position) error {
	_, err := c.rpc.Seek(ctx, &pb.SeekRequest{Positions: positionsToPB(positions)})
	return fromStatus("source seek", err)
}

func (c *sourceClient) Poll(ctx context.Context, l Limits) (Batch, error) {
	resp, err := c.rpc.Poll(ctx, &pb.PollRequest{MaxRecords: int64(l.MaxRecords), MaxBytes: l.MaxBytes, MaxWaitNanos: int64(l.MaxWait)})
	if err != nil {
		return Batch{}, fromStatus("source poll", err)
	}
	return batchFromPB(resp), nil
}

func (c *sourceClient) Watermarks(ctx context.Context) ([]Watermark, error) {
	resp, err := c.rpc.Watermarks(ctx, &pb.Empty{})
	if err != nil {
		return nil, fromStatus("source watermarks", err)
	}
	return watermarksFromPB(resp.GetWatermarks()), nil
}

func (c *sourceClient) Close(ctx context.Context) error {
	_, err := c.rpc.Close(ctx, &pb.Empty{})
	return fromStatus("source close", err)
}

type extractorClient struct{ rpc pb.ExtractorClient }

func (c *extractorClient) Open(ctx context.Context, setup Setup) error {
	_, err := c.rpc.Open(ctx, setupToPB(setup))
	return fromStatus("extractor open", err)
}

func (c *extractorClient) Extract(ctx context.Context, records []Record, out *Extraction) error {
	resp, err := c.rpc.Extract(ctx, &pb.ExtractRequest{Records: recordsToPB(records, true)})
	if err != nil {
		return fromStatus("extract", err)
	}
	extractionFromPB(resp, out)
	return nil
}

func (c *extractorClient) Close(ctx context.Context) error {
	_, err := c.rpc.Close(ctx, &pb.Empty{})
	return fromStatus("extractor close", err)
}

type sinkClient struct{ rpc pb.SinkClient }

func (c *sinkClient) Open(ctx context.Context, setup Setup) error {
	_, err := c.rpc.Open(ctx, setupToPB(setup))
	return fromStatus("sink open", err)
}

func (c *sinkClient) Positions(ctx context.Context, stream string) ([]Position, error) {
	resp, err := c.rpc.Positions(ctx, &pb.PositionsRequest{Stream: stream})
	if err != nil {
		return nil, fromStatus("sink positions", err)
	}
	return positionsFromPB(resp.GetPositions()), nil
}

func (c *sinkClient) Commit(ctx context.Context, commit Commit) error {
	_, err := c.rpc.Commit(ctx, commitToPB(commit))
	return fromStatus("sink commit", err)
}

func (c *sinkClient) Close(ctx context.Context) error {
	_, err := c.rpc.Close(ctx, &pb.Empty{})
	return fromStatus("sink close", err)
}

var (
	_ Source    = (*sourceClient)(nil)
	_ Extractor = (*extractorClient)(nil)
	_ Sink      = (*sinkClient)(nil)
)
