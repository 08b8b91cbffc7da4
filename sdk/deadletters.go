package sdk

import (
	"context"
	"time"
)

// Dead letters: the records a batch rejected, kept by the sink so that a
// user can read them, fix what produced them, and replay them. The runtime
// builds them from the batch it already holds: the extractor only says
// which record it rejected and why (Extraction.Reject), and the runtime
// adds the record's partition, offset, timestamp and bytes. Nothing more
// crosses the extractor's boundary, so dead letters cost nothing where
// nothing is rejected, and nothing at all when the sink keeps none.

// DefaultDeadLetterMaxBytes is the most bytes of a record's value a dead
// letter keeps unless the sink's config says otherwise (64 KiB).
const DefaultDeadLetterMaxBytes = 64 << 10

// DeadLetter is one rejected record.
type DeadLetter struct {
	Partition int32
	Offset    int64
	// Time is the record's timestamp (Record.Time, Kafka's), not an event
	// time; zero when the source gave none.
	Time time.Time
	// Reason is why the record was rejected (Verdict.Reason).
	Reason string
	// Value is the record's value, cut to the sink's MaxBytes.
	Value []byte
	// Length is the length of the whole value; more than len(Value) when
	// it was cut (Truncated).
	Length int64
}

// Truncated reports whether Value holds only the first bytes of the
// record's value.
func (d DeadLetter) Truncated() bool { return int64(len(d.Value)) < d.Length }

// DeadLetterPolicy is what a sink keeps of rejected records.
type DeadLetterPolicy struct {
	// Enabled: the sink stores the Commit's DeadLetters. When false the
	// runtime sends none.
	Enabled bool
	// MaxBytes is the most bytes of a value a dead letter carries; the
	// runtime cuts longer values (DefaultDeadLetterMaxBytes when 0).
	MaxBytes int
}

// DeadLetterQuery selects stored dead letters, in the order of their
// stream, partition and offset.
type DeadLetterQuery struct {
	// Stream is the stream the dead letters were read from; "" for all of
	// the pipeline's streams.
	Stream string
	// Reason, when not "", keeps only dead letters with this reason.
	Reason string
	// Partition, when not nil, keeps only this partition's.
	Partition *int32
	// After, when set, keeps only dead letters after this position (for
	// paging), in the order (stream, partition, offset).
	After *DeadLetterPosition
	// Limit is the most dead letters returned; 0 for no limit.
	Limit int
}

// DeadLetterPosition is where a dead letter was read.
type DeadLetterPosition struct {
	Stream    string
	Partition int32
	Offset    int64
}

// StoredDeadLetter is a dead letter as a sink returns it.
type StoredDeadLetter struct {
	DeadLetter
	Stream string
	// CommittedAt is when the batch that rejected the record committed.
	CommittedAt time.Time
}

// DeadLetterStore is implemented by a sink that can keep dead letters. It
// is optional: a sink without it is sent none, and `kappa-runtime
// rejected` says it cannot list them.
//
// A sink that keeps dead letters stores Commit.DeadLetters in the same
// transaction as the batch's positions and rows: a batch is never
// committed without its dead letters, nor dead letters without their
// batch. Compaction must leave them alone; a retention the sink's config
// sets may delete old ones.
type DeadLetterStore interface {
	// DeadLetterPolicy says, after Open, whether the sink keeps dead
	// letters (its config turned them on) and how many bytes of each
	// value. The runtime asks once after Open.
	DeadLetterPolicy(ctx context.Context) (DeadLetterPolicy, error)
	// DeadLetters returns the pipeline's stored dead letters that q
	// selects, ordered by stream, partition and offset. It only reads.
	DeadLetters(ctx context.Context, q DeadLetterQuery) ([]StoredDeadLetter, error)
}
