package sdk

import (
	"context"
	"errors"

	"github.com/kappa-stream/kappa/internal/rpc"
	pb "github.com/kappa-stream/kappa/internal/rpc/kappapb"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
)

// CommitObserver is implemented by a source that wants to learn what the
// runtime committed, for instance to mirror the positions where other
// tools look for them (kafka-source's monitor_group). It is optional.
//
// The runtime calls Committed after commits succeeded, with the positions
// they reached (only the partitions they advanced; a call may cover
// several commits), never concurrently with the source's other calls, and
// possibly late or not at all (a runtime that dies right after a commit):
// the sink's positions stay the truth, and a source must never read what
// it was told back as a position. An error is logged and otherwise
// ignored: it never fails a batch. A source that turns out to have no use
// for the calls (kafka-source without monitor_group) returns
// ErrNotObserving, and the runtime stops making them.
type CommitObserver interface {
	Committed(ctx context.Context, positions []Position) error
}

// ErrNotObserving is what a CommitObserver returns from Committed when it
// does not want the calls: the runtime makes no more.
var ErrNotObserving = rpc.ErrCommittedUnsupported

// The Committed call over gRPC: the server half answers Unimplemented for
// a source that is no CommitObserver.

func (s *sourceServer) Committed(ctx context.Context, req *pb.SeekRequest) (*pb.Empty, error) {
	o, err := optional[CommitObserver](s.impl, rpc.ErrCommittedUnsupported)
	if err != nil {
		return nil, err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	err = o.Committed(ctx, positionsFromPB(req.GetPositions()))
	if errors.Is(err, ErrNotObserving) {
		return nil, status.Error(codes.Unimplemented, err.Error())
	}
	return &pb.Empty{}, toStatus(err)
}

// Committed tells the source plugin what was committed;
// rpc.ErrCommittedUnsupported when its source is no CommitObserver.
func (c *sourceClient) Committed(ctx context.Context, positions []Position) error {
	_, err := c.rpc.Committed(ctx, &pb.SeekRequest{Positions: positionsToPB(positions)})
	return fromOptional("source committed", err, rpc.ErrCommittedUnsupported)
}

var _ CommitObserver = (*sourceClient)(nil)
