package sdk

import (
	"github.com/kappa-stream/kappa/internal/arena"
	"github.com/kappa-stream/kappa/internal/grpcopts"
	pb "github.com/kappa-stream/kappa/internal/rpc/kappapb"
	"google.golang.org/grpc/encoding"
	grpcproto "google.golang.org/grpc/encoding/proto"
	"google.golang.org/grpc/mem"
	"google.golang.org/protobuf/proto"
)

// encoded is a message already in its wire form: a batch that batch_wire.go
// wrote or is to read, or an answer encoded while its call still holds the
// server. The codec passes it through untouched.
type encoded struct{ buf mem.Buffer }

func (m *encoded) bytes() []byte { return m.buf.ReadOnlyData() }

// free returns the message's memory to the pool once nothing reads it.
func (m *encoded) free() { m.buf.Free() }

// encodeBatch writes partitions into a pooled buffer, which gRPC returns to
// the pool once it has sent it; spans is as for batchColumns.
func encodeBatch(partitions []PartitionBatch, spans []arena.Span) *encoded {
	cols := batchColumns(partitions, spans)
	buf := grpcopts.Pool.Get(batchSize(partitions, cols))
	*buf = appendBatch((*buf)[:0], partitions, cols)
	return &encoded{buf: mem.NewBuffer(buf, grpcopts.Pool)}
}

// encodeMessage writes m into a pooled buffer, which gRPC returns to the
// pool once it has sent it.
func encodeMessage(m proto.Message) (*encoded, error) {
	buf := grpcopts.Pool.Get(proto.Size(m))
	b, err := proto.MarshalOptions{UseCachedSize: true}.MarshalAppend((*buf)[:0], m)
	if err != nil {
		grpcopts.Pool.Put(buf)
		return nil, err
	}
	*buf = b
	return &encoded{buf: mem.NewBuffer(buf, grpcopts.Pool)}, nil
}

// placeValues copies the partitions' values into region of the arena
// mapping mem, partition after partition while they fit, and returns where
// each partition's values went (Length 0: they stay in the message). It
// returns nil when the runtime lent no region or mem does not hold it.
func placeValues(mem []byte, region *pb.ArenaSpan, partitions []PartitionBatch) []arena.Span {
	off, n := region.GetOffset(), region.GetLength()
	if n <= 0 || off < 0 || off > int64(len(mem)) || n > int64(len(mem))-off {
		return nil
	}
	free := mem[off : off+n]
	spans := make([]arena.Span, len(partitions))
	for i := range partitions {
		size := 0
		for _, r := range partitions[i].Records {
			size += len(r.Value)
		}
		if size == 0 || size > len(free) {
			continue
		}
		spans[i] = arena.Span{Offset: off + n - int64(len(free)), Length: int64(size)}
		for _, r := range partitions[i].Records {
			free = free[copy(free, r.Value):]
		}
	}
	return spans
}

// codec is gRPC's protobuf codec, except for encoded messages: it sends
// those as they are and receives into them without decoding. It takes the
// protobuf codec's place in gRPC's registry, so every client and server in
// a process that imports the SDK (the runtime, the plugins, tests) uses
// it without an option to forget; for any other message it is the
// protobuf codec, and the bytes on the wire are the same.
type codec struct{}

// protoCodec is gRPC's own, registered before this package's init.
var protoCodec = encoding.GetCodecV2(grpcproto.Name)

func init() { encoding.RegisterCodecV2(codec{}) }

func (codec) Name() string { return grpcproto.Name }

func (codec) Marshal(v any) (mem.BufferSlice, error) {
	if m, ok := v.(*encoded); ok {
		return mem.BufferSlice{m.buf}, nil // gRPC frees it once written
	}
	return protoCodec.Marshal(v)
}

func (codec) Unmarshal(data mem.BufferSlice, v any) error {
	if m, ok := v.(*encoded); ok {
		m.buf = data.MaterializeToBuffer(grpcopts.Pool)
		return nil
	}
	return protoCodec.Unmarshal(data, v)
}
