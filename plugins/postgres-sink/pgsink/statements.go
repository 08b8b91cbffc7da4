package pgsink

import (
	"fmt"
	"strings"
)

// statements is the SQL text of every statement the sink runs, built once
// in Open from validated, quoted names. Rows travel as one array per
// column through unnest, so each statement's text is the same whatever the
// number of rows, and pgx prepares it once per connection.
type statements struct {
	// advanceAll moves every partition whose position still is its range's
	// Start. Args: partition_ids, starts, ends (arrays), stream_id,
	// updated_at, pipeline, stream.
	advanceAll string
	// advance moves one partition's position from Start to End only if it
	// is still Start. Args: next_offset, stream_id, updated_at, pipeline,
	// stream, partition_id, expected next_offset.
	advance string
	// insertPosition records a partition's first position, or does nothing
	// if a concurrent writer created it first. Args: pipeline, stream,
	// partition_id, next_offset, stream_id, updated_at.
	insertPosition string
	// readPosition reads one partition's position. Args: pipeline, stream,
	// partition_id.
	readPosition string
	// positions reads every position of a stream. Args: pipeline, stream.
	positions string
	// insertRows inserts aggregate rows, one array per column (rowArgs).
	insertRows string
	// insertBatches inserts batch records. Args: pipeline, stream,
	// committed_at, then arrays of partition_id, start_offset, end_offset,
	// records, facts, skipped, rejected, lost.
	insertBatches string

	schema         string
	offsetsTable   string
	aggregateTable string
	batchesTable   string
	tablesTable    string
	// dimensions are the aggregate table's dimension columns.
	dimensions []string
	sums       bool
}

func newStatements(schema string, offsets, aggregate, batches tableSchema, tables string, dimensions int, sums bool) statements {
	o := qualified(schema, offsets.Name)
	s := statements{
		advanceAll: "UPDATE " + o + ` AS o SET "next_offset" = v.e, "stream_id" = $4, "updated_at" = $5` +
			` FROM unnest($1::integer[], $2::bigint[], $3::bigint[]) AS v(p, s, e)` +
			` WHERE o."pipeline" = $6 AND o."stream" = $7 AND o."partition_id" = v.p AND o."next_offset" = v.s`,
		advance: "UPDATE " + o + ` SET "next_offset" = $1, "stream_id" = $2, "updated_at" = $3` +
			` WHERE "pipeline" = $4 AND "stream" = $5 AND "partition_id" = $6 AND "next_offset" = $7`,
		insertPosition: "INSERT INTO " + o + ` ("pipeline", "stream", "partition_id", "next_offset", "stream_id", "updated_at")` +
			` VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT DO NOTHING`,
		readPosition: `SELECT "next_offset" FROM ` + o + ` WHERE "pipeline" = $1 AND "stream" = $2 AND "partition_id" = $3`,
		positions: `SELECT "partition_id", "next_offset", "stream_id", "updated_at" FROM ` + o +
			` WHERE "pipeline" = $1 AND "stream" = $2 ORDER BY "partition_id"`,
		insertBatches: "INSERT INTO " + qualified(schema, batches.Name) +
			` ("pipeline", "stream", "committed_at", "partition_id", "start_offset", "end_offset", "records", "facts", "skipped", "rejected", "lost")` +
			` SELECT $1, $2, $3, u.* FROM unnest($4::integer[], $5::bigint[], $6::bigint[], $7::bigint[], $8::bigint[], $9::bigint[], $10::bigint[], $11::bigint[]) AS u`,
		schema:         schema,
		offsetsTable:   offsets.Name,
		aggregateTable: aggregate.Name,
		batchesTable:   batches.Name,
		tablesTable:    tables,
		sums:           sums,
	}
	cols := aggregate.Columns
	s.dimensions = make([]string, 0, dimensions)
	for _, c := range cols[len(cols)-dimensions:] {
		s.dimensions = append(s.dimensions, c.Name)
	}
	s.insertRows = insertRowsSQL(qualified(schema, aggregate.Name), s.aggregateColumns())
	return s
}

// aggregateColumns names the aggregate table's columns in rowArgs' order.
func (s *statements) aggregateColumns() []string {
	cols := []string{colStartOffset, colEndOffset, colTimestamp, colPartition, colCount}
	if s.sums {
		cols = append(cols, colSum)
	}
	return append(cols, s.dimensions...)
}

// arrayTypes is the array type of each aggregate column, for unnest.
var arrayTypes = map[string]string{
	colStartOffset: "bigint[]", colEndOffset: "bigint[]", colTimestamp: "timestamp[]",
	colPartition: "integer[]", colCount: "integer[]", colSum: "double precision[]",
}

// insertRowsSQL inserts rows given as one array per column.
func insertRowsSQL(table string, columns []string) string {
	var b strings.Builder
	b.WriteString("INSERT INTO ")
	b.WriteString(table)
	b.WriteString(" (")
	b.WriteString(quoteIdents(columns))
	b.WriteString(") SELECT * FROM unnest(")
	for i, c := range columns {
		if i > 0 {
			b.WriteString(", ")
		}
		t, ok := arrayTypes[c]
		if !ok {
			t = "text[]" // a dimension
		}
		fmt.Fprintf(&b, "$%d::%s", i+1, t)
	}
	b.WriteString(")")
	return b.String()
}

// aggregate is the aggregate table, qualified and quoted.
func (s *statements) aggregate() string { return qualified(s.schema, s.aggregateTable) }
func (s *statements) offsets() string   { return qualified(s.schema, s.offsetsTable) }
func (s *statements) batches() string   { return qualified(s.schema, s.batchesTable) }
func (s *statements) tables() string    { return qualified(s.schema, s.tablesTable) }
