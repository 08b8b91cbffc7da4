// Package sinktables declares, once for mysql-sink and postgres-sink, the
// tables a SQL sink owns: their columns in order, the kind of value each
// holds and their primary keys. Each sink gives a Kind its SQL type and
// adds what only its server needs (indexes, character sets, columns only
// it has) in its schema.go.
package sinktables

import "github.com/kappa-stream/kappa/internal/deadletter"

// Kind is what a column holds.
type Kind int

const (
	Int32   Kind = iota // a 32-bit integer
	Int64               // a 64-bit integer
	Float64             // a double
	Bool                // true or false
	Bytes               // bytes of any length
	Text                // at most Length characters, compared as bytes (see Prose)
	// Window is a window start: whole seconds of UTC, with no time zone
	// (a type that shifts with the session's zone would move the windows).
	Window
	// Time is a moment to the microsecond, UTC, with no time zone.
	Time
)

// Column is one column of a table.
type Column struct {
	Name   string
	Kind   Kind
	Length int64 // Text's characters; 0 for any other kind
	// Nullable marks a column that may hold NULL.
	Nullable bool
	// Default, when set, is the SQL literal existing rows get.
	Default string
	// Added marks a column later versions of mysql-sink added, which a
	// table made before gets (with Default) instead of being refused.
	Added bool
	// Prose marks Text that is never part of a key nor sorted on: it
	// needs no byte-wise collation of its own.
	Prose bool
}

// Definition is c's definition in CREATE TABLE after its name, given its
// type in the sink's SQL: NULL or NOT NULL, then its DEFAULT.
func (c Column) Definition(typ string) string {
	if c.Nullable {
		typ += " NULL"
	} else {
		typ += " NOT NULL"
	}
	if c.Default != "" {
		typ += " DEFAULT " + c.Default
	}
	return typ
}

// Table is a table a sink creates when missing and checks otherwise.
type Table struct {
	Name       string
	Columns    []Column
	PrimaryKey []string
}

const (
	// DimensionLength is the most characters of a dimension value, the
	// same in both sinks so that a pipeline rejects the same records into
	// either (191 utf8mb4 characters keep MariaDB's key within InnoDB's
	// 3072 bytes for up to 3 dimensions).
	DimensionLength = 191
	// StreamIDLength bounds sdk.Commit.StreamID (a Kafka topic ID takes 22).
	StreamIDLength = 64
	// PipelineLength bounds a pipeline name and a positions key.
	PipelineLength = 191
)

// Fixed column names of the aggregate table, from the 2016 job.
const (
	ColStartOffset = "start_offset"
	ColEndOffset   = "end_offset"
	ColTimestamp   = "timestamp"
	ColPartition   = "partition_id"
	ColCount       = "count"
	ColSum         = "sum"
	// ColBatches is the batches table's count of batches a record stands
	// for: 1, or more once compaction merged a span.
	ColBatches = "batches"
)

func text(name string, n int64) Column { return Column{Name: name, Kind: Text, Length: n} }

// partitionOf leads the key of every table of positions, batch records and
// dead letters: the positions key, the stream (Kafka topic names may be
// 249 characters long) and the partition.
func partitionOf(more ...Column) []Column {
	return append([]Column{text("pipeline", PipelineLength), text("stream", 255), {Name: "partition_id", Kind: Int32}}, more...)
}

// Aggregate is the 2016 job's table, with `sum` when the pipeline declares
// `aggregates: [count, sum]` and one column per dimension after
// partition_id in the primary key.
func Aggregate(name string, dimensions []string, sums bool) Table {
	t := Table{
		Name: name,
		Columns: []Column{
			{Name: ColStartOffset, Kind: Int64},
			{Name: ColEndOffset, Kind: Int64},
			{Name: ColTimestamp, Kind: Window},
			{Name: ColPartition, Kind: Int32},
			{Name: ColCount, Kind: Int32},
		},
		PrimaryKey: []string{ColStartOffset, ColEndOffset, ColTimestamp, ColPartition},
	}
	if sums {
		// Only when declared, so that a pipeline without it keeps the 2016
		// layout exactly.
		t.Columns = append(t.Columns, Column{Name: ColSum, Kind: Float64})
	}
	for _, d := range dimensions {
		t.Columns = append(t.Columns, text(d, DimensionLength))
		t.PrimaryKey = append(t.PrimaryKey, d)
	}
	return t
}

// Offsets holds each partition's committed position per positions key.
func Offsets(name string) Table {
	// the stream instance (a Kafka topic ID) the position belongs to; added
	// to tables made before it existed, '' on their rows
	streamID := text("stream_id", StreamIDLength)
	streamID.Default, streamID.Added = "''", true
	return Table{
		Name: name,
		Columns: partitionOf(
			Column{Name: "next_offset", Kind: Int64},
			streamID,
			Column{Name: "updated_at", Kind: Time},
		),
		PrimaryKey: []string{"pipeline", "stream", "partition_id"},
	}
}

// Batches holds one row per committed range (or compacted span), for
// audits.
func Batches(name string) Table {
	return Table{
		Name: name,
		Columns: partitionOf(
			Column{Name: "start_offset", Kind: Int64},
			Column{Name: "end_offset", Kind: Int64},
			Column{Name: "records", Kind: Int64},
			Column{Name: "facts", Kind: Int64},
			Column{Name: "skipped", Kind: Int64},
			Column{Name: "rejected", Kind: Int64},
			// offsets deleted before they were read, skipped by the
			// source's on_out_of_range: skip; never counted
			Column{Name: "lost", Kind: Int64},
			Column{Name: "committed_at", Kind: Time},
			Column{Name: ColBatches, Kind: Int64, Default: "1", Added: true},
		),
		PrimaryKey: []string{"pipeline", "stream", "partition_id", "start_offset"},
	}
}

// Owners records the pipeline owning each aggregate table (tableowner);
// nameLength is the server's longest table name.
func Owners(name string, nameLength int64) Table {
	return Table{
		Name: name,
		Columns: []Column{
			text("table_name", nameLength),
			text("pipeline", PipelineLength),
			{Name: "claimed_at", Kind: Time},
		},
		PrimaryKey: []string{"table_name"},
	}
}

// DeadLetters keeps each rejected record (internal/deadletter).
func DeadLetters(name string) Table {
	return Table{
		Name: name,
		Columns: partitionOf(
			Column{Name: "record_offset", Kind: Int64},
			// the record's Kafka timestamp, UTC; NULL when the source gave none
			Column{Name: "record_time", Kind: Time, Nullable: true},
			Column{Name: "reason", Kind: Text, Length: deadletter.ReasonChars, Prose: true},
			// the value's first dead_letters_max_bytes bytes
			Column{Name: "value", Kind: Bytes},
			Column{Name: "value_length", Kind: Int64},
			Column{Name: "truncated", Kind: Bool},
			Column{Name: "committed_at", Kind: Time},
		),
		PrimaryKey: []string{"pipeline", "stream", "partition_id", "record_offset"},
	}
}

// Generations is the generations catalog (internal/gencatalog);
// nameLength is the server's longest table name.
func Generations(name string, nameLength int64) Table {
	return Table{
		Name: name,
		Columns: []Column{
			text("table_name", nameLength),
			{Name: "generation", Kind: Int64},
			text("pipeline", PipelineLength),
			text("definition", 64),
			text("offsets_key", PipelineLength),
			text("physical_table", nameLength),
			text("state", 16),
			text("step", 16),
			{Name: "previous", Kind: Int64},
			{Name: "updated_at", Kind: Time},
		},
		PrimaryKey: []string{"table_name", "generation"},
	}
}
