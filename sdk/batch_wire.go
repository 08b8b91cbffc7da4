package sdk

import (
	"errors"
	"fmt"
	"slices"

	"github.com/kappa-stream/kappa/internal/arena"
	"google.golang.org/protobuf/encoding/protowire"
)

// The wire form of a batch (PollResponse and ExtractRequest in
// plugin.proto, which share it), written and read here by hand instead of
// through the generated messages. It is the hot path: a batch holds
// thousands of records, and the generated code would make a message and a
// copy of every value on each side of each crossing. Here a batch is
// written with one copy of its values into one buffer, and read without
// copying at all: the records' keys and values are slices of the received
// bytes. batch_wire_test.go checks both against the generated code.

// Field numbers, as in plugin.proto.
const (
	fieldPartitions = 1 // PollResponse and ExtractRequest

	fieldRange         = 1 // PartitionBatch
	fieldHighWatermark = 3
	fieldLost          = 4
	fieldOffsets       = 5
	fieldTimes         = 6
	fieldKeySizes      = 7
	fieldKeys          = 8
	fieldValueSizes    = 9
	fieldValues        = 10
	fieldValuesSpan    = 11

	fieldRangePartition = 1 // OffsetRange
	fieldRangeStart     = 2
	fieldRangeEnd       = 3

	fieldSpanOffset = 1 // ArenaSpan
	fieldSpanLength = 2
)

// batchColumns measures the columns of every partition, once for both
// batchSize and appendBatch. spans is nil, or tells for each partition
// where in the arena its values are (Length 0: in the message).
func batchColumns(partitions []PartitionBatch, spans []arena.Span) []columns {
	cols := make([]columns, len(partitions))
	for i := range partitions {
		cols[i] = partitionColumns(&partitions[i])
		if spans != nil {
			cols[i].span = spans[i]
		}
	}
	return cols
}

// batchSize is the encoded size of partitions, whose columns are cols.
func batchSize(partitions []PartitionBatch, cols []columns) int {
	n := 0
	for i := range partitions {
		n += protowire.SizeTag(fieldPartitions) + protowire.SizeBytes(partitionSize(&partitions[i], cols[i]))
	}
	return n
}

// appendBatch appends the wire form of partitions, whose columns are cols,
// to dst.
func appendBatch(dst []byte, partitions []PartitionBatch, cols []columns) []byte {
	for i := range partitions {
		p := &partitions[i]
		dst = protowire.AppendTag(dst, fieldPartitions, protowire.BytesType)
		dst = protowire.AppendVarint(dst, uint64(partitionSize(p, cols[i])))
		dst = appendPartition(dst, p, cols[i])
	}
	return dst
}

// columns are the sizes of a partition's packed fields, and where its
// values are when they are in the arena.
type columns struct {
	offsets, times, keySizes, keys, valueSizes, values int
	span                                               arena.Span
}

// inlineValues is the size of the values field: 0 when the values are in
// the arena.
func (c columns) inlineValues() int {
	if c.span.Length > 0 {
		return 0
	}
	return c.values
}

func partitionColumns(p *PartitionBatch) columns {
	var c columns
	for i := range p.Records {
		r := &p.Records[i]
		c.offsets += protowire.SizeVarint(uint64(r.Offset))
		c.times += protowire.SizeVarint(uint64(unixNano(r.Time)))
		c.keySizes += protowire.SizeVarint(uint64(len(r.Key)))
		c.keys += len(r.Key)
		c.valueSizes += protowire.SizeVarint(uint64(len(r.Value)))
		c.values += len(r.Value)
	}
	if c.keys == 0 {
		c.keySizes = 0 // every key is empty: key_sizes is left out
	}
	return c
}

func spanSize(s arena.Span) int {
	return sizeInt(fieldSpanOffset, s.Offset) + sizeInt(fieldSpanLength, s.Length)
}

// sizeField is the encoded size of a length-delimited field holding n
// bytes, or 0 when it is empty and left out.
func sizeField(num protowire.Number, n int) int {
	if n == 0 {
		return 0
	}
	return protowire.SizeTag(num) + protowire.SizeBytes(n)
}

// sizeInt is the encoded size of a varint field, 0 when it is left out.
func sizeInt(num protowire.Number, v int64) int {
	if v == 0 {
		return 0
	}
	return protowire.SizeTag(num) + protowire.SizeVarint(uint64(v))
}

func rangeSize(r OffsetRange) int {
	return sizeInt(fieldRangePartition, int64(r.Partition)) + sizeInt(fieldRangeStart, r.Start) + sizeInt(fieldRangeEnd, r.End)
}

func partitionSize(p *PartitionBatch, c columns) int {
	return protowire.SizeTag(fieldRange) + protowire.SizeBytes(rangeSize(p.OffsetRange)) +
		sizeInt(fieldHighWatermark, p.HighWatermark) + sizeInt(fieldLost, p.Lost) +
		sizeField(fieldOffsets, c.offsets) + sizeField(fieldTimes, c.times) +
		sizeField(fieldKeySizes, c.keySizes) + sizeField(fieldKeys, c.keys) +
		sizeField(fieldValueSizes, c.valueSizes) + sizeField(fieldValues, c.inlineValues()) +
		sizeField(fieldValuesSpan, spanSize(c.span))
}

func appendInt(dst []byte, num protowire.Number, v int64) []byte {
	if v == 0 {
		return dst
	}
	dst = protowire.AppendTag(dst, num, protowire.VarintType)
	return protowire.AppendVarint(dst, uint64(v))
}

// appendHeader appends the tag and length of a length-delimited field of n
// bytes, or nothing when n is 0.
func appendHeader(dst []byte, num protowire.Number, n int) []byte {
	if n == 0 {
		return dst
	}
	dst = protowire.AppendTag(dst, num, protowire.BytesType)
	return protowire.AppendVarint(dst, uint64(n))
}

func appendPartition(dst []byte, p *PartitionBatch, c columns) []byte {
	dst = protowire.AppendTag(dst, fieldRange, protowire.BytesType)
	dst = protowire.AppendVarint(dst, uint64(rangeSize(p.OffsetRange)))
	dst = appendInt(dst, fieldRangePartition, int64(p.Partition))
	dst = appendInt(dst, fieldRangeStart, p.Start)
	dst = appendInt(dst, fieldRangeEnd, p.End)
	dst = appendInt(dst, fieldHighWatermark, p.HighWatermark)
	dst = appendInt(dst, fieldLost, p.Lost)
	rs := p.Records
	dst = appendHeader(dst, fieldOffsets, c.offsets)
	for i := range rs {
		dst = protowire.AppendVarint(dst, uint64(rs[i].Offset))
	}
	dst = appendHeader(dst, fieldTimes, c.times)
	for i := range rs {
		dst = protowire.AppendVarint(dst, uint64(unixNano(rs[i].Time)))
	}
	if c.keys > 0 {
		dst = appendHeader(dst, fieldKeySizes, c.keySizes)
		for i := range rs {
			dst = protowire.AppendVarint(dst, uint64(len(rs[i].Key)))
		}
		dst = appendHeader(dst, fieldKeys, c.keys)
		for i := range rs {
			dst = append(dst, rs[i].Key...)
		}
	}
	dst = appendHeader(dst, fieldValueSizes, c.valueSizes)
	for i := range rs {
		dst = protowire.AppendVarint(dst, uint64(len(rs[i].Value)))
	}
	if c.span.Length > 0 {
		dst = appendHeader(dst, fieldValuesSpan, spanSize(c.span))
		dst = appendInt(dst, fieldSpanOffset, c.span.Offset)
		return appendInt(dst, fieldSpanLength, c.span.Length)
	}
	dst = appendHeader(dst, fieldValues, c.inlineValues())
	for i := range rs {
		dst = append(dst, rs[i].Value...)
	}
	return dst
}

// groupByPartition splits records into runs of one partition, in order,
// for sending them as an ExtractRequest.
func groupByPartition(records []Record) []PartitionBatch {
	var out []PartitionBatch
	for start := 0; start < len(records); {
		end := start + 1
		for end < len(records) && records[end].Partition == records[start].Partition {
			end++
		}
		out = append(out, PartitionBatch{OffsetRange: OffsetRange{Partition: records[start].Partition}, Records: records[start:end]})
		start = end
	}
	return out
}

var errTruncated = errors.New("truncated field")

// decodeBatch reads the wire form of a batch. The records' keys and values
// are slices of buf, or of mem for values in the arena, not copies: they
// are valid as long as buf is and the arena slot is not lent again. mem is
// this process's mapping of the arena, nil without one.
func decodeBatch(buf, mem []byte) (Batch, error) {
	d := batchDecoder{arena: mem}
	return d.decode(buf)
}

// decodePolled is decodeBatch for the answer to a poll that was lent slot
// of the arena (a zero Span: none): values in the arena must lie inside
// it, or the source wrote where another batch's values are.
func decodePolled(buf, mem []byte, slot arena.Span) (Batch, error) {
	d := batchDecoder{arena: mem, slot: &slot}
	return d.decode(buf)
}

// batchDecoder reads batches, keeping its scratch columns from one
// partition to the next.
type batchDecoder struct {
	arena []byte
	// slot, when not nil, is the part of arena the values must lie in.
	slot                                 *arena.Span
	offsets, times, keySizes, valueSizes []uint64
	// reuse cuts every partition's Records from records, in order, so that
	// after a batch records holds all of them back to back, and its memory
	// serves the next batch (the extractor server, done with a batch when
	// it answers). Otherwise each partition's Records is an array of its
	// own, for batches that outlive the decoder (decodeBatch).
	reuse   bool
	records []Record
}

// decode reads the wire form of a batch; see decodeBatch.
func (d *batchDecoder) decode(buf []byte) (Batch, error) {
	var b Batch
	for len(buf) > 0 {
		num, typ, n := protowire.ConsumeTag(buf)
		if n < 0 {
			return Batch{}, fmt.Errorf("malformed batch: %w", protowire.ParseError(n))
		}
		buf = buf[n:]
		if num == fieldPartitions && typ == protowire.BytesType {
			msg, n := protowire.ConsumeBytes(buf)
			if n < 0 {
				return Batch{}, fmt.Errorf("malformed batch: partition batch %d: %w", len(b.Partitions), protowire.ParseError(n))
			}
			p, err := d.partition(msg)
			if err != nil {
				return Batch{}, fmt.Errorf("malformed batch: partition batch %d: %w", len(b.Partitions), err)
			}
			b.Partitions = append(b.Partitions, p)
			buf = buf[n:]
			continue
		}
		n = protowire.ConsumeFieldValue(num, typ, buf)
		if n < 0 {
			return Batch{}, fmt.Errorf("malformed batch: %w", protowire.ParseError(n))
		}
		buf = buf[n:]
	}
	return b, nil
}

// partition reads one PartitionBatch message.
func (d *batchDecoder) partition(buf []byte) (PartitionBatch, error) {
	var p PartitionBatch
	var keys, values []byte
	var span *arena.Span
	d.offsets, d.times, d.keySizes, d.valueSizes = d.offsets[:0], d.times[:0], d.keySizes[:0], d.valueSizes[:0]
	for len(buf) > 0 {
		num, typ, n := protowire.ConsumeTag(buf)
		if n < 0 {
			return p, protowire.ParseError(n)
		}
		buf = buf[n:]
		switch {
		case num == fieldRange && typ == protowire.BytesType:
			msg, m := protowire.ConsumeBytes(buf)
			if m < 0 {
				return p, fmt.Errorf("range: %w", protowire.ParseError(m))
			}
			r, err := decodeRange(msg)
			if err != nil {
				return p, fmt.Errorf("range: %w", err)
			}
			p.OffsetRange, n = r, m
		case num == fieldHighWatermark && typ == protowire.VarintType:
			var v uint64
			v, n = protowire.ConsumeVarint(buf)
			p.HighWatermark = int64(v)
		case num == fieldLost && typ == protowire.VarintType:
			var v uint64
			v, n = protowire.ConsumeVarint(buf)
			p.Lost = int64(v)
		case num == fieldOffsets && isVarints(typ):
			d.offsets, n = consumeVarints(d.offsets, typ, buf)
		case num == fieldTimes && isVarints(typ):
			d.times, n = consumeVarints(d.times, typ, buf)
		case num == fieldKeySizes && isVarints(typ):
			d.keySizes, n = consumeVarints(d.keySizes, typ, buf)
		case num == fieldValueSizes && isVarints(typ):
			d.valueSizes, n = consumeVarints(d.valueSizes, typ, buf)
		case num == fieldKeys && typ == protowire.BytesType:
			keys, n = protowire.ConsumeBytes(buf)
		case num == fieldValues && typ == protowire.BytesType:
			values, n = protowire.ConsumeBytes(buf)
		case num == fieldValuesSpan && typ == protowire.BytesType:
			msg, m := protowire.ConsumeBytes(buf)
			if m < 0 {
				return p, fmt.Errorf("values span: %w", protowire.ParseError(m))
			}
			s, err := decodeSpan(msg)
			if err != nil {
				return p, fmt.Errorf("values span: %w", err)
			}
			span, n = &s, m
		default:
			n = protowire.ConsumeFieldValue(num, typ, buf)
		}
		if n < 0 {
			return p, fmt.Errorf("field %d: %w", num, protowire.ParseError(n))
		}
		buf = buf[n:]
	}
	if span != nil {
		var err error
		if values, err = d.inArena(*span, len(values)); err != nil {
			return p, fmt.Errorf("partition %d: %w", p.Partition, err)
		}
	}
	return p, d.cutRecords(&p, keys, values)
}

// inArena returns the arena's bytes that s points at.
func (d *batchDecoder) inArena(s arena.Span, inline int) ([]byte, error) {
	switch {
	case d.arena == nil:
		return nil, fmt.Errorf("values lie in shared memory at [%d, +%d), and this process has none mapped", s.Offset, s.Length)
	case inline > 0:
		return nil, errors.New("values both in the message and in shared memory")
	case s.Offset < 0 || s.Length < 0 || s.Offset > int64(len(d.arena)) || s.Length > int64(len(d.arena))-s.Offset:
		return nil, fmt.Errorf("values at [%d, +%d) lie outside the %d bytes of shared memory", s.Offset, s.Length, len(d.arena))
	case d.slot != nil && d.slot.Length == 0 && s.Length > 0:
		return nil, fmt.Errorf("values at [%d, +%d) lie in shared memory, and no slot of it was lent to this poll", s.Offset, s.Length)
	case d.slot != nil && (s.Offset < d.slot.Offset || s.Offset > d.slot.Offset+d.slot.Length || s.Length > d.slot.Offset+d.slot.Length-s.Offset):
		return nil, fmt.Errorf("values at [%d, +%d) lie outside the slot [%d, +%d) of shared memory lent to this poll", s.Offset, s.Length, d.slot.Offset, d.slot.Length)
	}
	return d.arena[s.Offset : s.Offset+s.Length : s.Offset+s.Length], nil
}

// cutRecords builds p.Records from the decoded columns.
func (d *batchDecoder) cutRecords(p *PartitionBatch, keys, values []byte) error {
	n := len(d.offsets)
	if len(d.times) != n || len(d.valueSizes) != n || (len(d.keySizes) != n && len(d.keySizes) != 0) {
		return fmt.Errorf("partition %d: columns disagree on the number of records: %d offsets, %d times, %d key sizes, %d value sizes",
			p.Partition, n, len(d.times), len(d.keySizes), len(d.valueSizes))
	}
	if n == 0 {
		return nil
	}
	if d.reuse {
		start := len(d.records)
		d.records = slices.Grow(d.records, n)[:start+n]
		p.Records = d.records[start : start+n : start+n]
		clear(p.Records) // they may hold the last batch's
	} else {
		p.Records = make([]Record, n)
	}
	if err := assign(p.Records, d.keySizes, keys, func(r *Record, b []byte) { r.Key = b }); err != nil {
		return fmt.Errorf("partition %d: keys: %w", p.Partition, err)
	}
	if err := assign(p.Records, d.valueSizes, values, func(r *Record, b []byte) { r.Value = b }); err != nil {
		return fmt.Errorf("partition %d: values: %w", p.Partition, err)
	}
	for i := range p.Records {
		r := &p.Records[i]
		r.Partition, r.Offset, r.Time = p.Partition, int64(d.offsets[i]), fromUnixNano(int64(d.times[i]))
	}
	return nil
}

// assign cuts data into pieces of the given sizes, in order, and hands the
// i-th to set for record i; empty pieces stay nil. Every byte of data must
// be used.
func assign(records []Record, sizes []uint64, data []byte, set func(*Record, []byte)) error {
	for i, size := range sizes {
		if size > uint64(len(data)) {
			return fmt.Errorf("record %d: size %d, %d bytes left: %w", i, size, len(data), errTruncated)
		}
		if size > 0 {
			set(&records[i], data[:size:size])
			data = data[size:]
		}
	}
	if len(data) > 0 {
		return fmt.Errorf("%d bytes beyond the last record", len(data))
	}
	return nil
}

// isVarints reports whether a repeated varint field arrives as typ: packed
// or one element at a time (a parser must accept both).
func isVarints(typ protowire.Type) bool {
	return typ == protowire.VarintType || typ == protowire.BytesType
}

// consumeVarints appends the varints of a repeated field, packed or not,
// and returns how many bytes it read.
func consumeVarints(dst []uint64, typ protowire.Type, buf []byte) ([]uint64, int) {
	if typ == protowire.VarintType {
		v, n := protowire.ConsumeVarint(buf)
		if n >= 0 {
			dst = append(dst, v)
		}
		return dst, n
	}
	packed, n := protowire.ConsumeBytes(buf)
	if n < 0 {
		return dst, n
	}
	for len(packed) > 0 {
		v, m := protowire.ConsumeVarint(packed)
		if m < 0 {
			return dst, m
		}
		dst = append(dst, v)
		packed = packed[m:]
	}
	return dst, n
}

func decodeSpan(buf []byte) (arena.Span, error) {
	var s arena.Span
	err := decodeInts(buf, func(num protowire.Number, v uint64) {
		switch num {
		case fieldSpanOffset:
			s.Offset = int64(v)
		case fieldSpanLength:
			s.Length = int64(v)
		}
	})
	return s, err
}

func decodeRange(buf []byte) (OffsetRange, error) {
	var r OffsetRange
	err := decodeInts(buf, func(num protowire.Number, v uint64) {
		switch num {
		case fieldRangePartition:
			r.Partition = int32(v)
		case fieldRangeStart:
			r.Start = int64(v)
		case fieldRangeEnd:
			r.End = int64(v)
		}
	})
	return r, err
}

// decodeInts reads a message of varint fields, handing each to set;
// fields of other types are skipped.
func decodeInts(buf []byte, set func(protowire.Number, uint64)) error {
	for len(buf) > 0 {
		num, typ, n := protowire.ConsumeTag(buf)
		if n < 0 {
			return protowire.ParseError(n)
		}
		buf = buf[n:]
		if typ != protowire.VarintType {
			n = protowire.ConsumeFieldValue(num, typ, buf)
		} else {
			var v uint64
			if v, n = protowire.ConsumeVarint(buf); n >= 0 {
				set(num, v)
			}
		}
		if n < 0 {
			return protowire.ParseError(n)
		}
		buf = buf[n:]
	}
	return nil
}
