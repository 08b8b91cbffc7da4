package sdk

import (
	"bytes"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/kappa-stream/kappa/internal/arena"
	pb "github.com/kappa-stream/kappa/internal/rpc/kappapb"
	"google.golang.org/protobuf/proto"
)

func sampleBatch() Batch {
	when := time.Date(2016, 6, 1, 19, 36, 5, 123, time.UTC)
	return Batch{Partitions: []PartitionBatch{
		{OffsetRange: OffsetRange{Partition: 7, Start: 100, End: 104}, HighWatermark: 1 << 40, Lost: 1, Records: []Record{
			{Partition: 7, Offset: 101, Key: []byte("k1"), Value: []byte(`{"created_at":"x"}`), Time: when},
			{Partition: 7, Offset: 102, Value: []byte("\x00\xff")},
			{Partition: 7, Offset: 103, Key: []byte("k3"), Time: when.Add(-time.Hour)},
		}},
		{OffsetRange: OffsetRange{Partition: 0, Start: 5, End: 5}},
		{OffsetRange: OffsetRange{Partition: 1, Start: 0, End: 2}, Records: []Record{
			{Partition: 1, Offset: 0, Value: bytes.Repeat([]byte("v"), 3000)},
			{Partition: 1, Offset: 1, Value: []byte("w"), Time: time.Unix(0, -5).UTC()},
		}},
	}}
}

// The hand-written form is the one plugin.proto declares: the generated
// code reads what appendBatch writes, and decodeBatch reads what the
// generated code writes.
func TestWireFormIsThePluginProtocol(t *testing.T) {
	b := sampleBatch()
	cols := batchColumns(b.Partitions, nil)
	wire := appendBatch(nil, b.Partitions, cols)
	if len(wire) != batchSize(b.Partitions, cols) {
		t.Fatalf("batchSize = %d, appendBatch wrote %d bytes", batchSize(b.Partitions, cols), len(wire))
	}

	var resp pb.PollResponse
	if err := proto.Unmarshal(wire, &resp); err != nil {
		t.Fatal(err)
	}
	p := resp.GetPartitions()[0]
	if p.GetRange().GetPartition() != 7 || p.GetRange().GetEnd() != 104 || p.GetHighWatermark() != 1<<40 || p.GetLost() != 1 ||
		!reflect.DeepEqual(p.GetOffsets(), []int64{101, 102, 103}) ||
		!reflect.DeepEqual(p.GetKeySizes(), []uint32{2, 0, 2}) || string(p.GetKeys()) != "k1k3" ||
		!reflect.DeepEqual(p.GetValueSizes(), []uint32{18, 2, 0}) || p.GetTimes()[1] != 0 {
		t.Errorf("generated code read partition 7 as %v", p)
	}
	if q := resp.GetPartitions()[2]; q.GetKeySizes() != nil || q.GetTimes()[1] != -5 {
		t.Errorf("partition 1 without keys: key_sizes %v, times %v", q.GetKeySizes(), q.GetTimes())
	}
	var req pb.ExtractRequest
	if err := proto.Unmarshal(wire, &req); err != nil || !proto.Equal(req.GetPartitions()[2], resp.GetPartitions()[2]) {
		t.Errorf("an ExtractRequest does not read a PollResponse's bytes the same: %v", err)
	}

	generated, err := proto.Marshal(&resp)
	if err != nil {
		t.Fatal(err)
	}
	got, err := decodeBatch(generated, nil)
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(got.Partitions, b.Partitions) {
		t.Errorf("decodeBatch(generated) = %+v\nwant %+v", got.Partitions, b.Partitions)
	}
}

// A parser must accept repeated scalars unpacked too, and skip fields it
// does not know.
func TestDecodeBatchAcceptsUnpackedAndUnknownFields(t *testing.T) {
	msg := []byte{
		0x0a, 0, // partitions, length patched below
		0x28, 0x05, 0x28, 0x06, // offsets 5, 6 unpacked
		0x30, 0x00, 0x30, 0x00, // times 0, 0 unpacked
		0x48, 0x01, 0x48, 0x02, // value_sizes 1, 2 unpacked
		0x52, 0x03, 'a', 'b', 'c', // values
		0xa0, 0x06, 0x2a, // field 100, varint 42: unknown
	}
	msg[1] = byte(len(msg) - 2)
	b, err := decodeBatch(msg, nil)
	if err != nil {
		t.Fatal(err)
	}
	rs := b.Partitions[0].Records
	if len(rs) != 2 || string(rs[0].Value) != "a" || string(rs[1].Value) != "bc" || rs[1].Offset != 6 {
		t.Errorf("records %+v", rs)
	}
}

func TestDecodeBatchRefusesInconsistentColumns(t *testing.T) {
	encode := func(p *pb.PartitionBatch) []byte {
		b, err := proto.Marshal(&pb.PollResponse{Partitions: []*pb.PartitionBatch{p}})
		if err != nil {
			t.Fatal(err)
		}
		return b
	}
	cases := map[string][]byte{
		"disagree on the number": encode(&pb.PartitionBatch{Offsets: []int64{1, 2}, Times: []int64{0}, ValueSizes: []uint32{1, 1}, Values: []byte("ab")}),
		"bytes left":             encode(&pb.PartitionBatch{Offsets: []int64{1}, Times: []int64{0}, ValueSizes: []uint32{5}, Values: []byte("ab")}),
		"beyond the last record": encode(&pb.PartitionBatch{Offsets: []int64{1}, Times: []int64{0}, ValueSizes: []uint32{1}, Values: []byte("ab")}),
		"key sizes":              encode(&pb.PartitionBatch{Offsets: []int64{1}, Times: []int64{0}, KeySizes: []uint32{1, 1}, ValueSizes: []uint32{1}, Values: []byte("a")}),
		"unexpected EOF":         encode(&pb.PartitionBatch{Offsets: []int64{1}, Times: []int64{0}, ValueSizes: []uint32{1}, Values: []byte("a")})[:9],
	}
	for want, wire := range cases {
		if _, err := decodeBatch(wire, nil); err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("%s: err = %v", want, err)
		}
	}
}

func FuzzDecodeBatch(f *testing.F) {
	f.Add(encodeBatch(sampleBatch().Partitions, nil).bytes())
	f.Add([]byte{0x0a, 0x02, 0x28, 0x05})
	f.Fuzz(func(t *testing.T, wire []byte) {
		b, err := decodeBatch(wire, nil)
		if err != nil {
			return
		}
		// What decodes, encodes to bytes that decode to the same batch.
		again, err := decodeBatch(encodeBatch(b.Partitions, nil).bytes(), nil)
		if err != nil {
			t.Fatalf("re-encoded batch does not decode: %v", err)
		}
		if !reflect.DeepEqual(again.Partitions, b.Partitions) {
			t.Fatalf("round trip changed the batch:\n%+v\n%+v", b.Partitions, again.Partitions)
		}
	})
}

// Values placed in the arena travel as a span and are read there.
func TestWireValuesInTheArena(t *testing.T) {
	b := sampleBatch()
	mem := make([]byte, 64<<10)
	region := &pb.ArenaSpan{Offset: 1000, Length: 4000}
	spans := placeValues(mem, region, b.Partitions)
	// Partition 7's 20 bytes fit, empty partition 0 has none, partition 1's
	// 3001 bytes fit after them.
	want := []arena.Span{{Offset: 1000, Length: 20}, {}, {Offset: 1020, Length: 3001}}
	if !reflect.DeepEqual(spans, want) {
		t.Fatalf("placeValues = %v, want %v", spans, want)
	}
	cols := batchColumns(b.Partitions, spans)
	wire := appendBatch(nil, b.Partitions, cols)
	if len(wire) != batchSize(b.Partitions, cols) || len(wire) > 300 {
		t.Errorf("%d bytes on the wire (batchSize %d): values were sent too", len(wire), batchSize(b.Partitions, cols))
	}
	got, err := decodeBatch(wire, mem)
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(got.Partitions, b.Partitions) {
		t.Errorf("decoded %+v\nwant %+v", got.Partitions, b.Partitions)
	}

	if _, err := decodeBatch(wire, nil); err == nil || !strings.Contains(err.Error(), "none mapped") {
		t.Errorf("without an arena: %v", err)
	}
	if _, err := decodeBatch(wire, mem[:1500]); err == nil || !strings.Contains(err.Error(), "outside the 1500 bytes") {
		t.Errorf("span beyond the arena: %v", err)
	}
	// A region that does not fit a partition's values leaves them inline.
	small := placeValues(mem, &pb.ArenaSpan{Offset: 0, Length: 100}, b.Partitions)
	if !reflect.DeepEqual(small, []arena.Span{{Offset: 0, Length: 20}, {}, {}}) {
		t.Errorf("placeValues in 100 bytes = %v", small)
	}
	if placeValues(mem, &pb.ArenaSpan{Offset: 64 << 10, Length: 1}, b.Partitions) != nil || placeValues(mem, nil, b.Partitions) != nil {
		t.Error("a region outside the mapping, or none, must leave every value inline")
	}
}
