//go:build linux

package sdk

import (
	"context"
	"errors"
	"fmt"
	"reflect"
	"slices"
	"strings"
	"testing"

	"github.com/hashicorp/go-plugin"
	"github.com/kappa-stream/kappa/internal/arena"
	pb "github.com/kappa-stream/kappa/internal/rpc/kappapb"
	"google.golang.org/grpc"
)

// splitPlugin serves with one plugin value and dispenses with another, as
// a plugin process and the runtime have each their own.
type splitPlugin struct {
	plugin.NetRPCUnsupportedPlugin
	server, client plugin.GRPCPlugin
}

func (p *splitPlugin) GRPCServer(b *plugin.GRPCBroker, s *grpc.Server) error {
	return p.server.GRPCServer(b, s)
}
func (p *splitPlugin) GRPCClient(ctx context.Context, b *plugin.GRPCBroker, c *grpc.ClientConn) (any, error) {
	return p.client.GRPCClient(ctx, b, c)
}

// pluginMapping maps a as a plugin process does (arena.FromEnv).
func pluginMapping(t testing.TB, a *arena.Arena, writable bool) *arena.Arena {
	t.Helper()
	t.Setenv(arena.Env, fmt.Sprintf("%d:%d", a.File().Fd(), len(a.Bytes())))
	m, err := arena.FromEnv(writable)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { m.Close() })
	return m
}

// With an arena, the values go from the source to the extractor through
// the shared memory, each poll has a slot of its own until its batch is
// released, and a poll that finds none sends its values in the message.
func TestValuesCrossThroughTheArena(t *testing.T) {
	shared, err := arena.New(2, 1<<16)
	if err != nil {
		t.Fatal(err)
	}
	defer shared.Close()
	batch := sampleBatch()
	src := dispense(t, KindSource, &splitPlugin{
		server: &sourcePlugin{impl: &echoSource{batch: batch}, arena: pluginMapping(t, shared, true)},
		client: &sourcePlugin{arena: shared},
	}).(Source)
	impl := &keepingExtractor{}
	x := dispense(t, KindExtractor, &extractorPlugin{impl: impl, arena: pluginMapping(t, shared, false)}).(batchExtractor)
	ctx := context.Background()
	want := append(slices.Clone(batch.Partitions[0].Records), batch.Partitions[2].Records...)

	var polled []Batch
	for range 3 {
		b, err := src.Poll(ctx, Limits{})
		if err != nil {
			t.Fatal(err)
		}
		polled = append(polled, b)
	}
	for i, b := range polled {
		inArena := i < 2 // two slots: the third poll finds none
		if got := len(b.wire) < 300; got != inArena {
			t.Errorf("poll %d: %d bytes in the message; values in the arena: %v, want %v", i, len(b.wire), got, inArena)
		}
		impl.got = nil
		if err := x.ExtractBatch(ctx, b, &Extraction{}); err != nil {
			t.Fatal(err)
		}
		if !reflect.DeepEqual(impl.got, want) {
			t.Errorf("poll %d: extractor got %+v, want %+v", i, impl.got, want)
		}
		b.Release()
		b.Release() // a second release returns nothing
	}
	if _, err := src.Poll(ctx, Limits{}); err != nil {
		t.Fatal(err)
	}
	s1, ok1 := shared.Acquire()
	_, ok2 := shared.Acquire()
	if !ok1 || ok2 {
		t.Errorf("after three releases and one more poll, one slot is free: got %v, %v", ok1, ok2)
	}
	shared.Release(s1)
}

// A failed poll's slot is not lent again until the source has answered a
// Seek: a poll the runtime gave up on may still be writing there.
func TestFailedPollHoldsItsSlotUntilASeek(t *testing.T) {
	shared, err := arena.New(1, 1<<16)
	if err != nil {
		t.Fatal(err)
	}
	defer shared.Close()
	impl := &echoSource{batch: sampleBatch(), pollErr: errors.New("broker gone")}
	src := dispense(t, KindSource, &splitPlugin{
		server: &sourcePlugin{impl: impl, arena: pluginMapping(t, shared, true)},
		client: &sourcePlugin{arena: shared},
	}).(Source)
	ctx := context.Background()
	if _, err := src.Poll(ctx, Limits{}); err == nil {
		t.Fatal("poll did not fail")
	}
	impl.pollErr = nil
	b, err := src.Poll(ctx, Limits{})
	if err != nil {
		t.Fatal(err)
	}
	if b.lease != nil || len(b.wire) < 3000 {
		t.Errorf("a poll after a failed one got a slot (lease %v, %d bytes inline)", b.lease, len(b.wire))
	}
	if err := src.Seek(ctx, nil); err != nil {
		t.Fatal(err)
	}
	if b, err = src.Poll(ctx, Limits{}); err != nil || b.lease == nil {
		t.Errorf("after a Seek, a poll got no slot: %v", err)
	}
	b.Release()
}

// BenchmarkRelayThroughArena is BenchmarkRelayAcrossGRPC as the runtime
// runs it: the values go from the source to the extractor through the
// arena, and only their sizes and places cross the sockets.
//
//	go test -run '^$' -bench 'Relay' -benchmem ./sdk/
func BenchmarkRelayThroughArena(b *testing.B) {
	batch, records, size := benchBatch()
	shared, err := arena.New(2, 16<<20)
	if err != nil {
		b.Fatal(err)
	}
	defer shared.Close()
	src := dispenseTuned(b, &splitPlugin{
		server: &sourcePlugin{impl: &echoSource{batch: batch}, arena: pluginMapping(b, shared, true)},
		client: &sourcePlugin{arena: shared},
	}).(Source)
	x := dispenseTuned(b, &extractorPlugin{impl: lengthExtractor{}, arena: pluginMapping(b, shared, false)}).(batchExtractor)
	benchRelay(b, src, x, len(records), size, true)
}

// strayServer is a source's server half that answers every poll with
// values at span, wherever the runtime lent it a slot.
type strayServer struct {
	pb.UnimplementedSourceServer
	span func(lent *pb.ArenaSpan) arena.Span
}

type strayPlugin struct {
	plugin.NetRPCUnsupportedPlugin
	span func(lent *pb.ArenaSpan) arena.Span
}

func (p *strayPlugin) GRPCServer(_ *plugin.GRPCBroker, s *grpc.Server) error {
	s.RegisterService(withHandler(&pb.Source_ServiceDesc, "Poll",
		handler(pb.Source_Poll_FullMethodName, func(srv any, _ context.Context, req *pb.PollRequest) (any, error) {
			span := srv.(*strayServer).span(req.GetArena())
			records := []Record{{Partition: 3, Offset: 0, Value: make([]byte, span.Length)}}
			return encodeBatch([]PartitionBatch{{OffsetRange: OffsetRange{Partition: 3, Start: 0, End: 1}, Records: records}}, []arena.Span{span}), nil
		})), &strayServer{span: p.span})
	return nil
}

func (p *strayPlugin) GRPCClient(context.Context, *plugin.GRPCBroker, *grpc.ClientConn) (any, error) {
	return nil, errors.New("server half only")
}

// A source answers with values in shared memory only inside the slot
// lent to that poll: a span reaching into another slot, where another
// batch's values are, or any span when no slot was lent, breaks the
// contract and the poll fails for good.
func TestSpanOutsideItsSlotIsRefused(t *testing.T) {
	const slotSize = 1 << 16
	for _, tc := range []struct {
		name    string
		lendAll bool // every slot is lent before the poll
		span    func(lent *pb.ArenaSpan) arena.Span
		want    string
	}{
		{"crosses into the next slot", false, func(lent *pb.ArenaSpan) arena.Span {
			if lent.GetOffset() == 0 {
				return arena.Span{Offset: slotSize - 5, Length: 10}
			}
			return arena.Span{Offset: lent.GetOffset() - 5, Length: 10}
		}, "outside the slot"},
		{"lies in another slot", false, func(lent *pb.ArenaSpan) arena.Span {
			return arena.Span{Offset: slotSize - lent.GetOffset(), Length: 10}
		}, "outside the slot"},
		{"no slot lent", true, func(*pb.ArenaSpan) arena.Span {
			return arena.Span{Offset: 0, Length: 10}
		}, "no slot of it was lent"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			shared, err := arena.New(2, slotSize)
			if err != nil {
				t.Fatal(err)
			}
			defer shared.Close()
			src := dispense(t, KindSource, &splitPlugin{
				server: &strayPlugin{span: tc.span},
				client: &sourcePlugin{arena: shared},
			}).(Source)
			if tc.lendAll {
				s1, _ := shared.Acquire()
				s2, _ := shared.Acquire()
				defer shared.Release(s1)
				defer shared.Release(s2)
			}
			b, err := src.Poll(context.Background(), Limits{})
			if err == nil {
				t.Fatalf("a poll answered with values outside its slot was accepted: %+v", b.Partitions)
			}
			if !errors.Is(err, ErrPermanent) || !strings.Contains(err.Error(), "source broke its contract") || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("poll: %v, want a permanent error saying the source broke its contract (%s)", err, tc.want)
			}
		})
	}
}
