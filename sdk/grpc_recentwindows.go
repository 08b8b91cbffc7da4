package sdk

import (
	"context"
	"time"

	"github.com/kappa-stream/kappa/internal/rpc"
	pb "github.com/kappa-stream/kappa/internal/rpc/kappapb"
)

// The RecentWindows call over gRPC: optional on the plugin's side, so the
// server half answers Unimplemented for a sink that is no WindowReader. It
// runs while the pipeline commits, so it takes the server's lock like the
// engine's calls: never concurrently with a Commit.

func (s *sinkServer) RecentWindows(ctx context.Context, req *pb.RecentWindowsRequest) (*pb.RecentWindowsResponse, error) {
	r, err := optional[WindowReader](s.impl, rpc.ErrWindowsUnsupported)
	if err != nil {
		return nil, err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	windows, err := r.RecentWindows(ctx, int(req.GetN()))
	if err != nil {
		return nil, toStatus(err)
	}
	resp := &pb.RecentWindowsResponse{Windows: make([]*pb.WindowTotal, len(windows))}
	for i, w := range windows {
		resp.Windows[i] = &pb.WindowTotal{WindowUnixNanos: w.Window.UnixNano(), Count: w.Count}
	}
	return resp, nil
}

// RecentWindows asks the sink plugin for its last n windows' totals;
// rpc.ErrWindowsUnsupported when the plugin's sink is no WindowReader.
func (c *sinkClient) RecentWindows(ctx context.Context, n int) ([]WindowTotal, error) {
	resp, err := c.rpc.RecentWindows(ctx, &pb.RecentWindowsRequest{N: int32(n)})
	if err != nil {
		return nil, fromOptional("sink recent windows", err, rpc.ErrWindowsUnsupported)
	}
	windows := make([]WindowTotal, len(resp.GetWindows()))
	for i, w := range resp.GetWindows() {
		windows[i] = WindowTotal{Window: time.Unix(0, w.GetWindowUnixNanos()).UTC(), Count: w.GetCount()}
	}
	return windows, nil
}

var _ WindowReader = (*sinkClient)(nil)
