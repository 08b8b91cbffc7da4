//go:build linux

package sdk

import (
	"context"
	"errors"
	"fmt"
	"reflect"
	"slices"
	"testing"

	"github.com/hashicorp/go-plugin"
	"github.com/kappa-stream/kappa/internal/arena"
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
	x := dispense(t, KindExtractor, &extractorPlugin{impl: impl, arena: pluginMapping(t, shared, false)}).(BatchExtractor)
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
	x := dispenseTuned(b, &extractorPlugin{impl: lengthExtractor{}, arena: pluginMapping(b, shared, false)}).(BatchExtractor)
	benchRelay(b, src, x, len(records), size, true)
}
