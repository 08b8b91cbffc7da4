package mysqlsink

import (
	"fmt"

	"github.com/kappa-stream/kappa/internal/sinktables"
)

// The sink's tables are internal/sinktables' declarations, in MariaDB's
// types. Every table but the aggregate one (laid out as the 2016 job's)
// defaults to utf8mb4_bin, and the aggregate table's text columns say so
// themselves: string columns compare bytes so that values differing in
// case are different keys, as they are to the runtime.
const binCharset = "utf8mb4 COLLATE=utf8mb4_bin"

// mysqlTable is t in MariaDB's types, with charset as its default
// character set ("" leaves the server's, and each text column names
// utf8mb4_bin).
func mysqlTable(t sinktables.Table, charset string) tableSchema {
	s := tableSchema{Name: t.Name, PrimaryKey: t.PrimaryKey, Charset: charset}
	for _, c := range t.Columns {
		var typ, dataType string
		switch c.Kind {
		case sinktables.Int32:
			typ, dataType = "int", "int"
		case sinktables.Int64:
			typ, dataType = "bigint", "bigint"
		case sinktables.Float64:
			typ, dataType = "double", "double"
		case sinktables.Bool:
			typ, dataType = "tinyint", "tinyint"
		case sinktables.Bytes:
			typ, dataType = "mediumblob", "mediumblob"
		case sinktables.Text:
			typ, dataType = fmt.Sprintf("varchar(%d)", c.Length), "varchar"
			if charset == "" {
				typ += " CHARACTER SET utf8mb4 COLLATE utf8mb4_bin"
			}
		case sinktables.Window:
			// DATETIME holding UTC, never TIMESTAMP: TIMESTAMP shifts with
			// the session's time zone.
			typ, dataType = "datetime", "datetime"
		case sinktables.Time:
			typ, dataType = "datetime(6)", "datetime"
		}
		s.Columns = append(s.Columns, column{Name: c.Name, Type: c.Definition(typ), DataType: dataType, Length: c.Length, AddWhenMissing: c.Added, Nullable: c.Nullable})
	}
	return s
}

// aggregateSchema is the 2016 job's table, with one column per dimension
// after partition_id in the primary key, and the time index (compact.go).
func aggregateSchema(table string, dimensions []string, sums bool) tableSchema {
	s := mysqlTable(sinktables.Aggregate(table, dimensions, sums), "")
	s.Indexes = []index{timeIndex(dimensions, sums)}
	return s
}

func offsetsSchema(table string) tableSchema {
	return mysqlTable(sinktables.Offsets(table), binCharset)
}

func batchesSchema(table string) tableSchema {
	s := mysqlTable(sinktables.Batches(table), binCharset)
	// 1 on the record of rows adopted from before Kappa, whose counters
	// are unknown (adopt.go)
	s.Columns = append(s.Columns, column{Name: colAdopted, Type: "tinyint NOT NULL DEFAULT 0", DataType: "tinyint", AddWhenMissing: true})
	return s
}

func tablesSchema(table string) tableSchema {
	return mysqlTable(sinktables.Owners(table, 64), binCharset)
}

func deadLettersSchema(table string) tableSchema {
	s := mysqlTable(sinktables.DeadLetters(table), binCharset)
	s.Indexes = []index{{Name: "kappa_committed", Columns: []string{"pipeline", "committed_at"}}}
	return s
}

func generationsSchema() tableSchema {
	return mysqlTable(sinktables.Generations(generationsTable, 64), binCharset)
}
