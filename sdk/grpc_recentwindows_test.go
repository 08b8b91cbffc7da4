package sdk

import (
	"context"
	"testing"
	"time"

	pb "github.com/kappa-stream/kappa/internal/rpc/kappapb"
)

// blockingSink holds Commit until release is closed, and records whether
// RecentWindows ran while a Commit was inside.
type blockingSink struct {
	inCommit chan struct{}
	release  chan struct{}
	overlap  chan bool
}

func (s *blockingSink) Open(context.Context, Setup) error                     { return nil }
func (s *blockingSink) Positions(context.Context, string) ([]Position, error) { return nil, nil }
func (s *blockingSink) Close(context.Context) error                           { return nil }
func (s *blockingSink) Commit(context.Context, Commit) error {
	close(s.inCommit)
	<-s.release
	return nil
}

func (s *blockingSink) RecentWindows(context.Context, int) ([]WindowTotal, error) {
	select {
	case <-s.release:
		s.overlap <- false
	default:
		s.overlap <- true // the Commit has not returned
	}
	return []WindowTotal{{Window: time.Unix(60, 0).UTC(), Count: 7}}, nil
}

// The status page's RecentWindows arrives while the engine commits; the
// sink server must not run it beside the Commit.
func TestSinkServerNeverRunsRecentWindowsBesideACommit(t *testing.T) {
	sink := &blockingSink{inCommit: make(chan struct{}), release: make(chan struct{}), overlap: make(chan bool, 1)}
	srv := &sinkServer{impl: sink}
	go srv.Commit(context.Background(), &pb.CommitRequest{Stream: "s"})
	<-sink.inCommit
	answered := make(chan *pb.RecentWindowsResponse)
	go func() {
		resp, err := srv.RecentWindows(context.Background(), &pb.RecentWindowsRequest{N: 3})
		if err != nil {
			t.Error(err)
		}
		answered <- resp
	}()
	select {
	case <-sink.overlap:
		t.Fatal("RecentWindows ran while a Commit was inside the sink")
	case <-time.After(200 * time.Millisecond):
	}
	close(sink.release)
	if overlap := <-sink.overlap; overlap {
		t.Fatal("RecentWindows ran while a Commit was inside the sink")
	}
	if resp := <-answered; len(resp.GetWindows()) != 1 || resp.GetWindows()[0].GetCount() != 7 {
		t.Fatalf("RecentWindows answered %v, want one window of 7", resp)
	}
}
