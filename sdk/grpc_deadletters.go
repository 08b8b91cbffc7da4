package sdk

import (
	"context"
	"time"

	"github.com/kappa-stream/kappa/internal/rpc"
	pb "github.com/kappa-stream/kappa/internal/rpc/kappapb"
)

// The dead-letter calls over gRPC: optional on the plugin's side, so the
// server half answers Unimplemented for a sink that is no DeadLetterStore.
// Dead letters themselves travel in CommitRequest (deadLettersToPB).

func (s *sinkServer) DeadLetterPolicy(ctx context.Context, _ *pb.Empty) (*pb.DeadLetterPolicyResponse, error) {
	d, err := optional[DeadLetterStore](s.impl, rpc.ErrDeadLettersUnsupported)
	if err != nil {
		return nil, err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	p, err := d.DeadLetterPolicy(ctx)
	if err != nil {
		return nil, toStatus(err)
	}
	return &pb.DeadLetterPolicyResponse{Enabled: p.Enabled, MaxBytes: int64(p.MaxBytes)}, nil
}

func (s *sinkServer) DeadLetters(ctx context.Context, req *pb.DeadLettersRequest) (*pb.DeadLettersResponse, error) {
	d, err := optional[DeadLetterStore](s.impl, rpc.ErrDeadLettersUnsupported)
	if err != nil {
		return nil, err
	}
	q := DeadLetterQuery{Stream: req.GetStream(), Reason: req.GetReason(), Limit: int(req.GetLimit())}
	if req.Partition != nil {
		p := req.GetPartition()
		q.Partition = &p
	}
	if req.GetHasAfter() {
		q.After = &DeadLetterPosition{Stream: req.GetAfterStream(), Partition: req.GetAfterPartition(), Offset: req.GetAfterOffset()}
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	found, err := d.DeadLetters(ctx, q)
	if err != nil {
		return nil, toStatus(err)
	}
	resp := &pb.DeadLettersResponse{DeadLetters: make([]*pb.StoredDeadLetter, len(found))}
	for i, f := range found {
		resp.DeadLetters[i] = &pb.StoredDeadLetter{DeadLetter: deadLetterToPB(f.DeadLetter), Stream: f.Stream, CommittedUnixNanos: unixNano(f.CommittedAt)}
	}
	return resp, nil
}

// DeadLetterPolicy asks the sink plugin what it keeps of rejected records;
// rpc.ErrDeadLettersUnsupported when its sink is no DeadLetterStore.
func (c *sinkClient) DeadLetterPolicy(ctx context.Context) (DeadLetterPolicy, error) {
	resp, err := c.rpc.DeadLetterPolicy(ctx, &pb.Empty{})
	if err != nil {
		return DeadLetterPolicy{}, fromOptional("sink dead-letter policy", err, rpc.ErrDeadLettersUnsupported)
	}
	return DeadLetterPolicy{Enabled: resp.GetEnabled(), MaxBytes: int(resp.GetMaxBytes())}, nil
}

// DeadLetters asks the sink plugin for stored dead letters;
// rpc.ErrDeadLettersUnsupported when its sink is no DeadLetterStore.
func (c *sinkClient) DeadLetters(ctx context.Context, q DeadLetterQuery) ([]StoredDeadLetter, error) {
	req := &pb.DeadLettersRequest{Stream: q.Stream, Reason: q.Reason, Partition: q.Partition, Limit: int64(q.Limit)}
	if q.After != nil {
		req.HasAfter, req.AfterStream, req.AfterPartition, req.AfterOffset = true, q.After.Stream, q.After.Partition, q.After.Offset
	}
	resp, err := c.rpc.DeadLetters(ctx, req)
	if err != nil {
		return nil, fromOptional("sink dead letters", err, rpc.ErrDeadLettersUnsupported)
	}
	out := make([]StoredDeadLetter, len(resp.GetDeadLetters()))
	for i, d := range resp.GetDeadLetters() {
		out[i] = StoredDeadLetter{DeadLetter: deadLetterFromPB(d.GetDeadLetter()), Stream: d.GetStream(), CommittedAt: fromUnixNano(d.GetCommittedUnixNanos())}
	}
	return out, nil
}

var _ DeadLetterStore = (*sinkClient)(nil)

func deadLetterToPB(d DeadLetter) *pb.DeadLetter {
	return &pb.DeadLetter{Partition: d.Partition, Offset: d.Offset, TimeUnixNanos: unixNano(d.Time), Reason: d.Reason, Value: d.Value, Length: d.Length}
}

func deadLetterFromPB(d *pb.DeadLetter) DeadLetter {
	out := DeadLetter{Partition: d.GetPartition(), Offset: d.GetOffset(), Reason: d.GetReason(), Value: d.GetValue(), Length: d.GetLength()}
	if n := d.GetTimeUnixNanos(); n != 0 {
		out.Time = time.Unix(0, n).UTC()
	}
	return out
}

func deadLettersToPB(ds []DeadLetter) []*pb.DeadLetter {
	if len(ds) == 0 {
		return nil
	}
	out := make([]*pb.DeadLetter, len(ds))
	for i, d := range ds {
		out[i] = deadLetterToPB(d)
	}
	return out
}

func deadLettersFromPB(ds []*pb.DeadLetter) []DeadLetter {
	if len(ds) == 0 {
		return nil
	}
	out := make([]DeadLetter, len(ds))
	for i, d := range ds {
		out[i] = deadLetterFromPB(d)
	}
	return out
}
