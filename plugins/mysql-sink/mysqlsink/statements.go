package mysqlsink

import (
	"slices"
	"strings"
)

// maxRowsPerInsert bounds one multi-row INSERT, keeping statements well
// under max_allowed_packet while a typical batch still needs only one.
const maxRowsPerInsert = 500

// statements is the SQL text of every statement the sink runs, built once
// in Open from validated, quoted names.
type statements struct {
	// advance moves a partition's position from Start to End only if it is
	// still Start. Args: next_offset, stream_id, updated_at, pipeline,
	// stream, partition_id, expected next_offset.
	advance string
	// insertPosition records a partition's first position. Args: pipeline,
	// stream, partition_id, next_offset, stream_id, updated_at.
	insertPosition string
	// readPosition reads one partition's position. Args: pipeline, stream,
	// partition_id.
	readPosition string
	// positions reads every position of a stream. Args: pipeline, stream.
	positions string

	offsetsTable     string
	aggregateTable   string
	aggregateColumns []string
	batchesTable     string
	batchesColumns   []string
	// fullRows and fullBatches are the INSERTs for maxRowsPerInsert rows,
	// the common size of every chunk but the last.
	fullRows    string
	fullBatches string
}

func newStatements(offsets tableSchema, aggregate tableSchema, batches tableSchema) statements {
	o := quoteIdent(offsets.Name)
	s := statements{
		advance: "UPDATE " + o + " SET `next_offset` = ?, `stream_id` = ?, `updated_at` = ?" +
			" WHERE `pipeline` = ? AND `stream` = ? AND `partition_id` = ? AND `next_offset` = ?",
		insertPosition: "INSERT INTO " + o + " (`pipeline`, `stream`, `partition_id`, `next_offset`, `stream_id`, `updated_at`) VALUES (?, ?, ?, ?, ?, ?)",
		readPosition:   "SELECT `next_offset` FROM " + o + " WHERE `pipeline` = ? AND `stream` = ? AND `partition_id` = ?",
		positions: "SELECT `partition_id`, `next_offset`, `stream_id`, `updated_at` FROM " + o +
			" WHERE `pipeline` = ? AND `stream` = ? ORDER BY `partition_id`",
		offsetsTable:     offsets.Name,
		aggregateTable:   aggregate.Name,
		aggregateColumns: columnNames(aggregate),
		batchesTable:     batches.Name,
		// The batches and adopted columns keep their defaults (1, 0) on commit.
		batchesColumns: slices.DeleteFunc(columnNames(batches), func(c string) bool { return c == colBatches || c == colAdopted }),
	}
	s.fullRows = insertSQL(s.aggregateTable, s.aggregateColumns, maxRowsPerInsert)
	s.fullBatches = insertSQL(s.batchesTable, s.batchesColumns, maxRowsPerInsert)
	return s
}

func columnNames(s tableSchema) []string {
	names := make([]string, len(s.Columns))
	for i, c := range s.Columns {
		names[i] = c.Name
	}
	return names
}

// insertRowsSQL is the INSERT of n aggregate rows.
func (s *statements) insertRowsSQL(n int) string {
	if n == maxRowsPerInsert {
		return s.fullRows
	}
	return insertSQL(s.aggregateTable, s.aggregateColumns, n)
}

// insertBatchesSQL is the INSERT of n batch records.
func (s *statements) insertBatchesSQL(n int) string {
	if n == maxRowsPerInsert {
		return s.fullBatches
	}
	return insertSQL(s.batchesTable, s.batchesColumns, n)
}

// insertSQL is a multi-row INSERT of rows rows into table, one placeholder
// per column.
func insertSQL(table string, columns []string, rows int) string {
	tuple := "(" + strings.Repeat("?, ", len(columns)-1) + "?)"
	var b strings.Builder
	b.Grow(32 + len(table) + 4*len(columns)*(rows+4))
	b.WriteString("INSERT INTO ")
	b.WriteString(quoteIdent(table))
	b.WriteString(" (")
	b.WriteString(quoteIdents(columns))
	b.WriteString(") VALUES ")
	for i := range rows {
		if i > 0 {
			b.WriteString(", ")
		}
		b.WriteString(tuple)
	}
	return b.String()
}

// advanceAllSQL is one UPDATE that advances n partitions, each only if its
// position still is its range's Start. Args: n pairs of (partition_id,
// End), stream_id, updated_at, pipeline, stream, then n pairs of
// (partition_id, Start).
func advanceAllSQL(table string, n int) string {
	var b strings.Builder
	b.Grow(160 + 60*n)
	b.WriteString("UPDATE ")
	b.WriteString(quoteIdent(table))
	b.WriteString(" SET `next_offset` = CASE `partition_id`")
	b.WriteString(strings.Repeat(" WHEN ? THEN ?", n))
	b.WriteString(" END, `stream_id` = ?, `updated_at` = ? WHERE `pipeline` = ? AND `stream` = ? AND (")
	for i := range n {
		if i > 0 {
			b.WriteString(" OR ")
		}
		b.WriteString("(`partition_id` = ? AND `next_offset` = ?)")
	}
	b.WriteString(")")
	return b.String()
}
