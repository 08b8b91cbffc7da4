package sdk

import (
	"context"
	"fmt"
	"sync"
	"time"

	"github.com/kappa-stream/kappa/internal/arena"
	pb "github.com/kappa-stream/kappa/internal/rpc/kappapb"
	"google.golang.org/grpc"
	"google.golang.org/grpc/mem"
)

// Server halves: decode the request, call the plain Go implementation,
// encode the answer. Nothing else happens here. Batches are the exception
// to the generated code: Source.Poll and Extractor.Extract carry them in
// the wire form of batch_wire.go, through hand-made method handlers
// (sourceService, extractorService) and the codec of grpc_codec.go.

// Both servers take one call at a time (mu): the contracts promise a
// plugin calls that are never concurrent, and a call the runtime gave up
// on (a cancelled poll) may still be running when the next one arrives.
// So a source answering a call is no longer writing into the arena slot
// of a poll before it (sourceClient.Seek).

type sourceServer struct {
	pb.UnimplementedSourceServer
	mu   sync.Mutex
	impl Source
	// arena is this process's mapping of the runtime's arena, nil without.
	arena *arena.Arena
}

func (s *sourceServer) Open(ctx context.Context, req *pb.Setup) (*pb.OpenSourceResponse, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	info, err := s.impl.Open(ctx, setupFromPB(req))
	if err != nil {
		return nil, toStatus(err)
	}
	return &pb.OpenSourceResponse{Stream: info.Stream, StreamId: info.StreamID, Group: info.Group}, nil
}

func (s *sourceServer) Seek(ctx context.Context, req *pb.SeekRequest) (*pb.Empty, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return &pb.Empty{}, toStatus(s.impl.Seek(ctx, positionsFromPB(req.GetPositions())))
}

// poll serves Poll (see sourceService): it answers with the batch in its
// wire form, written straight from the records, with the values in the
// arena region the runtime lent when they fit there.
func (s *sourceServer) poll(ctx context.Context, req *pb.PollRequest) (any, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	// A poll the runtime gave up on writes nothing: its slot may be lent
	// again once a later call was answered, and this one may have waited
	// behind that call for the lock.
	if err := ctx.Err(); err != nil {
		return nil, toStatus(err)
	}
	b, err := s.impl.Poll(ctx, Limits{MaxRecords: int(req.GetMaxRecords()), MaxBytes: req.GetMaxBytes(), MaxWait: time.Duration(req.GetMaxWaitNanos())})
	if err == nil {
		err = ctx.Err()
	}
	if err != nil {
		return nil, toStatus(err)
	}
	return encodeBatch(b.Partitions, placeValues(s.arena.Bytes(), req.GetArena(), b.Partitions)), nil
}

func (s *sourceServer) Watermarks(ctx context.Context, _ *pb.Empty) (*pb.WatermarksResponse, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	ws, err := s.impl.Watermarks(ctx)
	if err != nil {
		return nil, toStatus(err)
	}
	return &pb.WatermarksResponse{Watermarks: watermarksToPB(ws)}, nil
}

func (s *sourceServer) Close(ctx context.Context, _ *pb.Empty) (*pb.Empty, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return &pb.Empty{}, toStatus(s.impl.Close(ctx))
}

type extractorServer struct {
	pb.UnimplementedExtractorServer
	mu   sync.Mutex
	impl Extractor
	// arena is this process's mapping of the runtime's arena, nil without.
	arena   *arena.Arena
	decoder batchDecoder
	out     Extraction
	facts   factEncoder
	// shares holds one Extraction for each call a batch may be split
	// into (extractShares); one when Extract may not run concurrently.
	shares []Extraction
}

func (s *extractorServer) Open(ctx context.Context, req *pb.Setup) (*pb.Empty, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return &pb.Empty{}, toStatus(s.impl.Open(ctx, setupFromPB(req)))
}

// extract serves Extract (see extractorService). The records' bytes are
// the request's, read in place and returned to the pool when the answer is
// made. It reuses its decoder and Extraction between calls; the runtime
// never calls Extract concurrently on one plugin.
func (s *extractorServer) extract(ctx context.Context, req *encoded) (any, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	defer req.free()
	// The decoder lays every partition's records out back to back: they
	// are the request's records, in order.
	s.decoder.arena, s.decoder.records = s.arena.Bytes(), s.decoder.records[:0]
	_, err := s.decoder.decode(req.bytes())
	records := s.decoder.records
	defer clear(records) // keep no reference to the request's bytes
	if err != nil {
		return nil, toStatus(Permanent(fmt.Errorf("extract request: %w", err)))
	}
	s.out.Reset()
	if err := s.extractShares(ctx, records, &s.out); err != nil {
		return nil, toStatus(err)
	}
	// Times outside int64 nanoseconds would wrap when encoded.
	s.out.RejectFacts(eventTimeReason)
	resp, err := s.facts.encode(&s.out)
	if err != nil {
		return nil, toStatus(err)
	}
	// Encoded here, while the call holds the server: the next call reuses
	// the response's memory.
	return encodeMessage(resp)
}

func (s *extractorServer) Close(ctx context.Context, _ *pb.Empty) (*pb.Empty, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return &pb.Empty{}, toStatus(s.impl.Close(ctx))
}

// The sink server takes one call at a time too (mu): besides the engine's
// calls, the runtime's status page asks for RecentWindows while the
// pipeline commits, and the sink must still see no concurrent calls.
type sinkServer struct {
	pb.UnimplementedSinkServer
	mu   sync.Mutex
	impl Sink
}

func (s *sinkServer) Open(ctx context.Context, req *pb.Setup) (*pb.Empty, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return &pb.Empty{}, toStatus(s.impl.Open(ctx, setupFromPB(req)))
}

func (s *sinkServer) Positions(ctx context.Context, req *pb.PositionsRequest) (*pb.PositionsResponse, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	ps, err := s.impl.Positions(ctx, req.GetStream())
	if err != nil {
		return nil, toStatus(err)
	}
	return &pb.PositionsResponse{Positions: positionsToPB(ps)}, nil
}

func (s *sinkServer) Commit(ctx context.Context, req *pb.CommitRequest) (*pb.Empty, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return &pb.Empty{}, toStatus(s.impl.Commit(ctx, commitFromPB(req)))
}

func (s *sinkServer) Close(ctx context.Context, _ *pb.Empty) (*pb.Empty, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return &pb.Empty{}, toStatus(s.impl.Close(ctx))
}

// Client halves: the same interfaces, implemented over gRPC for the runtime.

type sourceClient struct {
	rpc  pb.SourceClient
	conn grpc.ClientConnInterface
	// arena is the memory the runtime shares with its source and
	// extractor processes; each Poll borrows a slot of it. Nil without.
	arena *arena.Arena
}

func (c *sourceClient) Open(ctx context.Context, setup Setup) (SourceInfo, error) {
	resp, err := c.rpc.Open(ctx, setupToPB(setup))
	if err != nil {
		return SourceInfo{}, fromStatus("source open", err)
	}
	return SourceInfo{Stream: resp.GetStream(), StreamID: resp.GetStreamId(), Group: resp.GetGroup()}, nil
}

func (c *sourceClient) Seek(ctx context.Context, positions []Position) error {
	_, err := c.rpc.Seek(ctx, &pb.SeekRequest{Positions: positionsToPB(positions)})
	if err == nil && c.arena != nil {
		// A failed poll's slot can be lent again: this process answered a
		// later call, and it takes one at a time; a process that did not
		// answer was killed before this one started.
		c.arena.ReleaseHeld()
	}
	return fromStatus("source seek", err)
}

// Poll lends the source a free slot of the arena, if there is one, and
// receives the batch in its wire form, which it reads in place: the
// records' keys and values are slices of the received bytes or of the
// slot. The batch keeps both, to forward them to the extractor as they are
// (ExtractBatch) until Release.
func (c *sourceClient) Poll(ctx context.Context, l Limits) (Batch, error) {
	req := &pb.PollRequest{MaxRecords: int64(l.MaxRecords), MaxBytes: l.MaxBytes, MaxWaitNanos: int64(l.MaxWait)}
	var lent *lease
	if c.arena != nil {
		if slot, ok := c.arena.Acquire(); ok {
			req.Arena = &pb.ArenaSpan{Offset: slot.Offset, Length: slot.Length}
			lent = &lease{arena: c.arena, slot: slot}
		}
	}
	var resp encoded
	if err := c.conn.Invoke(ctx, pb.Source_Poll_FullMethodName, req, &resp); err != nil {
		if lent != nil {
			// The source may still be writing there: a call the runtime
			// gave up on runs on in the plugin.
			c.arena.Hold(lent.slot)
		}
		return Batch{}, fromStatus("source poll", err)
	}
	wire := resp.bytes()
	var slot arena.Span // none lent: no value may lie in the arena
	if lent != nil {
		slot = lent.slot
	}
	b, err := decodePolled(wire, c.arena.Bytes(), slot)
	if err != nil {
		lent.release()
		return Batch{}, Permanent(fmt.Errorf("source poll: source broke its contract: it sent a %w", err))
	}
	b.wire, b.lease = wire, lent
	return b, nil
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

type extractorClient struct {
	rpc  pb.ExtractorClient
	conn grpc.ClientConnInterface
}

func (c *extractorClient) Open(ctx context.Context, setup Setup) error {
	_, err := c.rpc.Open(ctx, setupToPB(setup))
	return fromStatus("extractor open", err)
}

func (c *extractorClient) Extract(ctx context.Context, records []Record, out *Extraction) error {
	return c.extract(ctx, encodeBatch(groupByPartition(records), nil), out)
}

// ExtractBatch extracts every record of b, numbered in the order of its
// partitions. A batch that came from a source over gRPC is forwarded in
// the wire form it arrived in, without encoding it again.
func (c *extractorClient) ExtractBatch(ctx context.Context, b Batch, out *Extraction) error {
	if b.wire != nil {
		return c.extract(ctx, &encoded{buf: mem.SliceBuffer(b.wire)}, out)
	}
	return c.extract(ctx, encodeBatch(b.Partitions, nil), out)
}

func (c *extractorClient) extract(ctx context.Context, req *encoded, out *Extraction) error {
	var resp pb.ExtractResponse
	if err := c.conn.Invoke(ctx, pb.Extractor_Extract_FullMethodName, req, &resp); err != nil {
		return fromStatus("extract", err)
	}
	if err := extractionFromPB(&resp, out); err != nil {
		return fmt.Errorf("extract: %w", err)
	}
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
	_ Extractor = (*extractorClient)(nil) // and pluginclient.BatchExtractor
	_ Sink      = (*sinkClient)(nil)
)
