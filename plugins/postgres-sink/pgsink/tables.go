package pgsink

import (
	"fmt"

	"github.com/kappa-stream/kappa/internal/sinktables"
)

// The sink's tables are internal/sinktables' declarations, in PostgreSQL's
// types. Text columns are COLLATE "C": they compare bytes, so values that
// differ in any way are different keys, as they are to the runtime.

// pgTable is t in PostgreSQL's types.
func pgTable(t sinktables.Table) tableSchema {
	s := tableSchema{Name: t.Name, PrimaryKey: t.PrimaryKey}
	for _, c := range t.Columns {
		var typ, dataType string
		switch c.Kind {
		case sinktables.Int32:
			typ, dataType = "integer", "integer"
		case sinktables.Int64:
			typ, dataType = "bigint", "bigint"
		case sinktables.Float64:
			typ, dataType = "double precision", "double precision"
		case sinktables.Bool:
			typ, dataType = "boolean", "boolean"
		case sinktables.Bytes:
			typ, dataType = "bytea", "bytea"
		case sinktables.Text:
			typ, dataType = fmt.Sprintf(`varchar(%d) COLLATE "C"`, c.Length), "character varying"
			if c.Prose {
				typ = fmt.Sprintf("varchar(%d)", c.Length)
			}
		case sinktables.Window:
			// timestamp without time zone holding UTC, never timestamptz,
			// whose text form shifts with the session's time zone.
			typ, dataType = "timestamp(0) without time zone", "timestamp without time zone"
		case sinktables.Time:
			typ, dataType = "timestamp(6) without time zone", "timestamp without time zone"
		}
		s.Columns = append(s.Columns, column{Name: c.Name, Type: c.Definition(typ), DataType: dataType, Length: c.Length, Nullable: c.Nullable})
	}
	return s
}

// aggregateSchema is the 2016 job's table, with one column per dimension
// after partition_id in the primary key, and its covering index for reads
// by time.
func aggregateSchema(table string, dimensions []string, sums bool) tableSchema {
	s := pgTable(sinktables.Aggregate(table, dimensions, sums))
	s.Covering = append([]string{colTimestamp, colPartition}, dimensions...)
	s.Include = []string{colCount}
	if sums {
		s.Include = append(s.Include, colSum)
	}
	return s
}

func offsetsSchema(table string) tableSchema { return pgTable(sinktables.Offsets(table)) }

func batchesSchema(table string) tableSchema { return pgTable(sinktables.Batches(table)) }

func tablesSchema(table string) tableSchema { return pgTable(sinktables.Owners(table, 63)) }

func deadLettersSchema(table string) tableSchema {
	s := pgTable(sinktables.DeadLetters(table))
	// for dead_letters_retention's DELETE of the oldest
	s.Covering = []string{"pipeline", "committed_at"}
	return s
}

func generationsSchema() tableSchema { return pgTable(sinktables.Generations(generationsTable, 63)) }
