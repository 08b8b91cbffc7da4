// Package sdk is everything a Kappa plugin author imports: the three plugin
// interfaces (Source, Extractor, Sink), the values that cross the process
// boundary, strict config decoding, and one Serve function per plugin kind.
//
// A plugin binary's main only calls Serve:
//
//	func main() { sdk.ServeExtractor(&myExtractor{}) }
//
// The go-plugin handshake and the gRPC shims live behind this package; a
// plugin never imports go-plugin or gRPC.
package sdk

import (
	"context"
	"errors"
	"time"
)

// Setup is what every plugin receives when it is opened.
type Setup struct {
	// Pipeline is the pipeline's name. Sinks key committed positions by it.
	Pipeline string
	// Config is the plugin's `config:` block from the pipeline file, as YAML.
	// Decode it with DecodeConfig to get strict checks and error paths the
	// runtime can turn into file:line positions.
	Config []byte
	// Window is the length of the tumbling event-time windows.
	Window time.Duration
	// Dimensions names the dimensions each fact carries, in order.
	// Empty for a pipeline that only counts per window.
	Dimensions []string
	// Aggregates names what each row holds besides its key: always
	// AggregateCount, and AggregateSum (the sum of Fact.Value) when the
	// pipeline declares it. A sink stores a sum only when asked to.
	Aggregates []string
	// Adopting is set when a sink is opened by `kappa-runtime adopt` to
	// take over a table another program wrote (see Adopter): the sink must
	// not refuse the table for holding rows it did not commit, and only
	// Adopt and Close follow. Other plugins never see it set.
	Adopting bool
	// Definition fingerprints what shapes the pipeline's output (the
	// extractor and its config, dimensions, window, aggregates, stream):
	// a sink keeping generations (Generations) tells a pipeline file from
	// an earlier version of it by it.
	Definition string
	// Reprocessing is set when a sink is opened by `kappa-runtime
	// reprocess` or `rollback`: it binds to no generation in Open; a
	// Generations call does. Other plugins never see it set.
	Reprocessing bool
}

// Aggregates a pipeline can declare.
const (
	AggregateCount = "count"
	AggregateSum   = "sum"
)

// Sums reports whether the pipeline declared AggregateSum.
func (s Setup) Sums() bool {
	for _, a := range s.Aggregates {
		if a == AggregateSum {
			return true
		}
	}
	return false
}

// Record is one record read from a partition.
type Record struct {
	Partition int32
	Offset    int64
	Key       []byte
	Value     []byte
	// Time is the timestamp the producer or broker put on the record; it is
	// not the event time, which the extractor decides.
	Time time.Time
}

// OffsetRange is the half-open range [Start, End) of one partition.
// End is the offset the source will read next, which may lie past the last
// record's offset + 1: transaction markers, aborted and compacted records
// leave gaps that a range still covers.
type OffsetRange struct {
	Partition int32
	Start     int64
	End       int64
}

// PartitionBatch is the part of a batch read from one partition.
type PartitionBatch struct {
	OffsetRange
	Records []Record
	// HighWatermark is the partition's log end as the source last saw it,
	// for reporting lag; 0 when unknown.
	HighWatermark int64
	// Lost counts offsets at the start of the range whose records were
	// deleted (by retention) before they could be read, and that the source
	// skipped because it was told to. They are recorded, never counted.
	Lost int64
}

// Batch is what one Poll returns: at most one range per partition. A
// source builds it with Partitions alone.
//
// The two unexported fields are the SDK's transport, set only on a batch
// that arrived from a source process: they travel inside the value because
// the batch goes by value from the runtime's source client, through the
// engine, to its extractor client, both of them in this package (see
// internal/rpc). A side table keyed by batch would need the same fields and
// a lock besides.
type Batch struct {
	Partitions []PartitionBatch
	// wire is the batch as it arrived from a source over gRPC, in the
	// form of batch_wire.go; its records' keys and values are slices of it or
	// of the arena slot in lease. The runtime's extractor client forwards
	// it as it is, so a batch is not changed after Poll.
	wire  []byte
	lease *lease
}

// Release ends the runtime's use of a batch that a source plugin sent:
// the shared memory its values lie in goes to a later Poll, and its
// records must not be read any more. The runtime calls it; a source never
// needs to. It does nothing for other batches, and nothing the second
// time.
func (b Batch) Release() { b.lease.release() }

// Position is a partition's committed progress: the next offset to read.
type Position struct {
	Partition  int32
	NextOffset int64
	// StreamID is the SourceInfo.StreamID of the stream instance the
	// position was committed for (Commit.StreamID); empty when the source
	// reported none or an older sink stored none.
	StreamID string
	// CommittedAt is when the sink committed the position, as it reports
	// it from Positions (zero when it does not); only shown, never
	// compared (kappa-runtime status). Commit ignores it.
	CommittedAt time.Time
}

// Watermark describes a partition's log at one instant.
type Watermark struct {
	Partition int32
	// Start is the first offset still in the log.
	Start int64
	// End is the offset a reader reaches when it has read everything there is:
	// the high watermark, or the last stable offset when reading committed data.
	End int64
	// Owner is which member of the source's consumer group reads the
	// partition (optional): a source reading in a group may fill it when it
	// is no member itself, as for `kappa-runtime status`. Empty otherwise.
	Owner string
}

// SourceInfo describes what a source reads.
type SourceInfo struct {
	// Stream names what is read (a Kafka topic). Positions are kept per
	// (pipeline, stream, partition).
	Stream string
	// StreamID identifies this instance of the stream, where a name can be
	// reused: a Kafka topic's ID, which changes when the topic is deleted
	// and created again. The runtime commits it with the positions and
	// refuses to resume from positions committed under another ID, since
	// their offsets belong to records that are gone. Empty when the source
	// cannot tell; then nothing is checked.
	StreamID string
	// Group is the consumer group the source is a member of, sharing the
	// stream's partitions with other runtimes of the pipeline; empty when
	// it reads every partition itself. In a group, Seek places only the
	// partitions the source owns, Poll reports ownership changes with a
	// RebalanceError, and a fenced commit means "re-read the positions",
	// not "stand by".
	Group string
}

// Limits bounds one Poll.
type Limits struct {
	// MaxRecords and MaxBytes bound the batch; a batch may exceed MaxBytes by
	// at most one record.
	MaxRecords int
	MaxBytes   int64
	// MaxWait is the batch interval: a batch is cut once MaxWait has passed
	// since the previous one was cut, or sooner when MaxRecords or MaxBytes
	// is reached; with no records by then Poll returns an empty batch. A
	// source may cut sooner (the jsonl-source example returns whatever it
	// finds), at the cost of more, smaller batches and so more rows.
	MaxWait time.Duration
}

// Source reads partitions of one stream.
//
// The runtime calls Open once, then Seek, then Poll in a loop. After any
// failure in the pipeline it calls Seek again with the committed positions.
// Calls are never concurrent.
type Source interface {
	// Open checks the config and connects. Reaching the servers belongs here:
	// an unreachable server is an error that names its address.
	Open(ctx context.Context, setup Setup) (SourceInfo, error)
	// Seek sets where reading continues: each partition in positions at its
	// NextOffset, every other partition (including partitions added later)
	// at the configured start. Records read before Seek are forgotten.
	Seek(ctx context.Context, positions []Position) error
	// Poll returns the next batch. For each partition in it, Start equals
	// the End of that partition's previous range (or its Seek position), so
	// ranges are contiguous. It returns when the batch is full or the batch
	// interval (limits.MaxWait) since the previous batch has passed, and may
	// return an empty batch. A range may hold no records (only markers).
	// The SDK has copied the records' keys and values when Poll returns:
	// their memory may be reused by the next Poll.
	//
	// Anchors: a partition that Seek gave no position starts where the
	// source resolves its configured start. When that start can move
	// between Seeks (a log's end, a log start that retention moves), the
	// first Poll after Seek (or after the source starts reading a
	// partition added later) must report it, L, for each such partition:
	// as the Start of a range holding records, or as an empty range
	// [L, L) when it has none yet. The runtime commits an empty range only
	// for a partition that has no committed position, where it records L
	// as that position: records written afterwards, even while the
	// runtime is down, are read from L on, and offsets deleted from L on
	// are noticed instead of skipped. A source whose start is fixed (line
	// 0 of a file) may leave anchors out. Empty ranges of partitions that
	// have a position are ignored.
	Poll(ctx context.Context, limits Limits) (Batch, error)
	// Watermarks reports the current log start and end of every partition.
	Watermarks(ctx context.Context) ([]Watermark, error)
	// Close releases connections. The source is not used afterwards.
	Close(ctx context.Context) error
}

// Fact is what an extractor makes of a record: an event at a time, with
// optional dimension values and a value to sum.
type Fact struct {
	// Record is the index of the record in the slice given to Extract.
	Record int
	// Time is the event time; the runtime puts it in the UTC window holding it.
	Time time.Time
	// Dims holds one value per dimension of Setup.Dimensions, in order.
	Dims []string
	// Value is summed per window besides the count. Zero when unused.
	Value float64
}

// Verdict is a reason why a record gave no fact.
type Verdict struct {
	Record int
	Reason string
}

// Extraction collects what an extractor makes of a batch. Every record gets
// exactly one outcome: one or more facts, or one skip, or one reject.
type Extraction struct {
	Facts []Fact
	// Skipped records are valid input that holds no fact (a stream notice).
	Skipped []Verdict
	// Rejected records are bad input (malformed, missing time). They are
	// counted and their offsets still advance.
	Rejected []Verdict
}

// Fact records a fact for record i.
func (x *Extraction) Fact(f Fact) { x.Facts = append(x.Facts, f) }

// Skip records that record i holds no fact, and why.
func (x *Extraction) Skip(i int, reason string) {
	x.Skipped = append(x.Skipped, Verdict{Record: i, Reason: reason})
}

// Reject records that record i is bad input, and why.
func (x *Extraction) Reject(i int, reason string) {
	x.Rejected = append(x.Rejected, Verdict{Record: i, Reason: reason})
}

// Reset empties x, keeping its memory.
func (x *Extraction) Reset() {
	x.Facts, x.Skipped, x.Rejected = x.Facts[:0], x.Skipped[:0], x.Rejected[:0]
}

// Extractor turns records into facts. The runtime never calls an
// extractor concurrently, but the SDK may when the plugin is served with
// ConcurrentExtract.
type Extractor interface {
	// Open checks the config.
	Open(ctx context.Context, setup Setup) error
	// Extract appends to out one outcome for every record. Bad input is a
	// Reject, never an error: an error means the extractor itself failed and
	// the runtime drops the whole batch. Extract must be deterministic.
	// The records' keys and values are valid only until Extract returns:
	// their memory holds the next batch after that.
	Extract(ctx context.Context, records []Record, out *Extraction) error
	// Close releases resources.
	Close(ctx context.Context) error
}

// Row is one aggregate: the facts of one partition's range that fell into
// one window (and one combination of dimension values).
type Row struct {
	OffsetRange
	// Window is the window's start, in UTC.
	Window time.Time
	// Dims holds one value per dimension of Setup.Dimensions, in order.
	Dims  []string
	Count int64
	Sum   float64
	// FirstOffset is the offset of the first record counted in the row,
	// so that a sink refusing the row can name a record; -1 when unknown.
	FirstOffset int64
}

// RangeStats is one partition's range in a commit and what was read in it.
type RangeStats struct {
	OffsetRange
	Records  int64
	Facts    int64
	Skipped  int64
	Rejected int64
	// Lost is PartitionBatch.Lost: offsets deleted before they were read.
	Lost int64
}

// Commit is one batch's result: the ranges it covers, every partition of
// the batch included even when it produced no row, and the aggregate rows.
type Commit struct {
	Stream string
	// StreamID is SourceInfo.StreamID; the sink stores it with the
	// positions and returns it in Position.StreamID.
	StreamID string
	Ranges   []RangeStats
	Rows     []Row
	// DeadLetters are the batch's rejected records, ordered by partition
	// and offset, each inside one of Ranges; only for a sink whose
	// DeadLetterPolicy is enabled (DeadLetterStore), nil otherwise. They
	// are stored in the same transaction as the rest.
	DeadLetters []DeadLetter
}

// ErrFenced is returned by Sink.Commit when a range's Start is not the
// partition's committed position: another writer moved first.
var ErrFenced = errors.New("fenced: committed position moved")

// Sink stores aggregates and positions.
type Sink interface {
	// Open checks the config, connects and creates what is missing.
	Open(ctx context.Context, setup Setup) error
	// Positions returns the committed position of every partition of stream
	// that has one, each with the StreamID of the commit that stored it.
	Positions(ctx context.Context, stream string) ([]Position, error)
	// Commit stores c atomically: for every range, advance the partition's
	// position from Start to End only if it still is Start (a partition
	// without a position gets one at End), store c.StreamID with it, and
	// insert the rows, all in one transaction. If any position differs,
	// nothing is stored and the error wraps ErrFenced. Any other error may
	// leave the outcome unknown; the runtime resolves it by reading
	// Positions again. An empty range [L, L) is an anchor (see
	// Source.Poll): it carries no rows and creates the partition's
	// position at L, or is fenced like any range if the partition has a
	// position other than L.
	Commit(ctx context.Context, c Commit) error
	// Close releases connections.
	Close(ctx context.Context) error
}
