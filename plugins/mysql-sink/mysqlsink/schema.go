package mysqlsink

import (
	"context"
	"database/sql"
	"fmt"
	"slices"
	"strings"
)

// column is one column of a table the sink owns.
type column struct {
	Name string
	// Type is the column's definition in CREATE TABLE.
	Type string
	// DataType is what information_schema.COLUMNS.DATA_TYPE reports for it,
	// and Length its CHARACTER_MAXIMUM_LENGTH (0 when not a string).
	DataType string
	Length   int64
	// AddWhenMissing marks a column that later versions added: a table
	// made before gets it (ALTER TABLE … ADD COLUMN) instead of being
	// refused. Its Type must give existing rows a value (a DEFAULT).
	AddWhenMissing bool
	// Nullable marks a column whose Type allows NULL.
	Nullable bool
}

// tableSchema is a table the sink creates when missing and checks otherwise.
type tableSchema struct {
	Name       string
	Columns    []column
	PrimaryKey []string
	// Indexes are secondary indexes made with the table (compact.go).
	Indexes []index
	// Charset, when set, becomes the table's default character set; string
	// columns compare bytes (utf8mb4_bin) so that values differing in case
	// are different keys, as they are to the runtime.
	Charset string
}

const dimensionLength = 191 // utf8mb4 characters; keeps the key within InnoDB's 3072 bytes for up to 3 dimensions

// streamIDLength bounds sdk.Commit.StreamID (a Kafka topic ID takes 22).
const streamIDLength = 64

// Fixed column names of the aggregate table, from the 2016 job.
const (
	colStartOffset = "start_offset"
	colEndOffset   = "end_offset"
	colTimestamp   = "timestamp"
	colPartition   = "partition_id"
	colCount       = "count"
	colSum         = "sum"
)

// aggregateSchema is the 2016 job's table, with one column per dimension
// after partition_id in the primary key.
func aggregateSchema(table string, dimensions []string, sums bool) tableSchema {
	s := tableSchema{
		Name: table,
		Columns: []column{
			{Name: colStartOffset, Type: "bigint NOT NULL", DataType: "bigint"},
			{Name: colEndOffset, Type: "bigint NOT NULL", DataType: "bigint"},
			// DATETIME holding UTC, never TIMESTAMP: TIMESTAMP shifts with the
			// session's time zone.
			{Name: colTimestamp, Type: "datetime NOT NULL", DataType: "datetime"},
			{Name: colPartition, Type: "int NOT NULL", DataType: "int"},
			{Name: colCount, Type: "int NOT NULL", DataType: "int"},
		},
		PrimaryKey: []string{colStartOffset, colEndOffset, colTimestamp, colPartition},
	}
	if sums {
		// Only when the pipeline declares `aggregates: [count, sum]`, so that
		// a pipeline without it keeps the 2016 layout exactly.
		s.Columns = append(s.Columns, column{Name: colSum, Type: "double NOT NULL", DataType: "double"})
	}
	for _, d := range dimensions {
		s.Columns = append(s.Columns, column{
			Name:     d,
			Type:     fmt.Sprintf("varchar(%d) CHARACTER SET utf8mb4 COLLATE utf8mb4_bin NOT NULL", dimensionLength),
			DataType: "varchar",
			Length:   dimensionLength,
		})
		s.PrimaryKey = append(s.PrimaryKey, d)
	}
	s.Indexes = []index{timeIndex(dimensions, sums)}
	return s
}

func offsetsSchema(table string) tableSchema {
	return tableSchema{
		Name: table,
		Columns: []column{
			{Name: "pipeline", Type: "varchar(191) NOT NULL", DataType: "varchar", Length: 191},
			// Kafka topic names may be 249 characters long.
			{Name: "stream", Type: "varchar(255) NOT NULL", DataType: "varchar", Length: 255},
			{Name: "partition_id", Type: "int NOT NULL", DataType: "int"},
			{Name: "next_offset", Type: "bigint NOT NULL", DataType: "bigint"},
			// the stream instance (a Kafka topic ID) the position belongs to;
			// added to tables made before it existed, '' on their rows
			{Name: "stream_id", Type: fmt.Sprintf("varchar(%d) NOT NULL DEFAULT ''", streamIDLength), DataType: "varchar", Length: streamIDLength,
				AddWhenMissing: true},
			{Name: "updated_at", Type: "datetime(6) NOT NULL", DataType: "datetime"},
		},
		PrimaryKey: []string{"pipeline", "stream", "partition_id"},
		Charset:    "utf8mb4 COLLATE=utf8mb4_bin",
	}
}

func batchesSchema(table string) tableSchema {
	return tableSchema{
		Name: table,
		Columns: []column{
			{Name: "pipeline", Type: "varchar(191) NOT NULL", DataType: "varchar", Length: 191},
			{Name: "stream", Type: "varchar(255) NOT NULL", DataType: "varchar", Length: 255},
			{Name: "partition_id", Type: "int NOT NULL", DataType: "int"},
			{Name: "start_offset", Type: "bigint NOT NULL", DataType: "bigint"},
			{Name: "end_offset", Type: "bigint NOT NULL", DataType: "bigint"},
			{Name: "records", Type: "bigint NOT NULL", DataType: "bigint"},
			{Name: "facts", Type: "bigint NOT NULL", DataType: "bigint"},
			{Name: "skipped", Type: "bigint NOT NULL", DataType: "bigint"},
			{Name: "rejected", Type: "bigint NOT NULL", DataType: "bigint"},
			// offsets deleted before they were read, skipped by the source's
			// on_out_of_range: skip; never counted
			{Name: "lost", Type: "bigint NOT NULL", DataType: "bigint"},
			{Name: "committed_at", Type: "datetime(6) NOT NULL", DataType: "datetime"},
			// how many committed batches the row stands for: 1, or more
			// once compaction merged a span (compact.go)
			{Name: colBatches, Type: "bigint NOT NULL DEFAULT 1", DataType: "bigint", AddWhenMissing: true},
			// 1 on the record of rows adopted from before Kappa, whose
			// counters are unknown (adopt.go)
			{Name: colAdopted, Type: "tinyint NOT NULL DEFAULT 0", DataType: "tinyint", AddWhenMissing: true},
		},
		PrimaryKey: []string{"pipeline", "stream", "partition_id", "start_offset"},
		Charset:    "utf8mb4 COLLATE=utf8mb4_bin",
	}
}

// quoteIdent quotes a MySQL identifier. Names are validated before they get
// here; doubling backticks keeps even an unvalidated name inert.
func quoteIdent(name string) string {
	return "`" + strings.ReplaceAll(name, "`", "``") + "`"
}

func quoteIdents(names []string) string {
	quoted := make([]string, len(names))
	for i, n := range names {
		quoted[i] = quoteIdent(n)
	}
	return strings.Join(quoted, ", ")
}

// createTableSQL is the CREATE TABLE statement for s. InnoDB is explicit:
// the commit is only atomic on a transactional engine.
func createTableSQL(s tableSchema) string {
	var b strings.Builder
	b.WriteString("CREATE TABLE IF NOT EXISTS ")
	b.WriteString(quoteIdent(s.Name))
	b.WriteString(" (")
	for _, c := range s.Columns {
		b.WriteString(quoteIdent(c.Name))
		b.WriteString(" ")
		b.WriteString(c.Type)
		b.WriteString(", ")
	}
	b.WriteString("PRIMARY KEY (")
	b.WriteString(quoteIdents(s.PrimaryKey))
	b.WriteString(")")
	for _, ix := range s.Indexes {
		b.WriteString(", KEY ")
		b.WriteString(quoteIdent(ix.Name))
		b.WriteString(" (")
		b.WriteString(quoteIdents(ix.Columns))
		b.WriteString(")")
	}
	b.WriteString(") ENGINE=InnoDB")
	if s.Charset != "" {
		b.WriteString(" DEFAULT CHARSET=")
		b.WriteString(s.Charset)
	}
	return b.String()
}

// existingColumn is a column as information_schema describes it.
type existingColumn struct {
	Name     string
	DataType string
	Length   sql.NullInt64
	Nullable string
}

// tableLayout is an existing table as information_schema describes it.
type tableLayout struct {
	Engine     string
	Columns    []existingColumn
	PrimaryKey []string
}

// mismatches lists how an existing table differs from s; empty when it
// matches. Column names compare case-insensitively, as MySQL does.
func (s tableSchema) mismatches(have tableLayout) []string {
	var problems []string
	if !strings.EqualFold(have.Engine, "InnoDB") {
		problems = append(problems, fmt.Sprintf("engine is %s, want InnoDB (commits must be transactional)", have.Engine))
	}
	byName := map[string]existingColumn{}
	for _, c := range have.Columns {
		byName[strings.ToLower(c.Name)] = c
	}
	for _, want := range s.Columns {
		got, ok := byName[strings.ToLower(want.Name)]
		if !ok {
			problems = append(problems, fmt.Sprintf("column %s is missing", want.Name))
			continue
		}
		delete(byName, strings.ToLower(want.Name))
		switch {
		case !strings.EqualFold(got.DataType, want.DataType):
			problems = append(problems, fmt.Sprintf("column %s is %s, want %s", want.Name, got.DataType, want.DataType))
		case want.Length != 0 && got.Length.Int64 != want.Length:
			problems = append(problems, fmt.Sprintf("column %s is %s(%d), want %s(%d)", want.Name, got.DataType, got.Length.Int64, want.DataType, want.Length))
		case !want.Nullable && got.Nullable != "NO":
			problems = append(problems, fmt.Sprintf("column %s is nullable, want NOT NULL", want.Name))
		}
	}
	for _, c := range have.Columns {
		if _, extra := byName[strings.ToLower(c.Name)]; extra {
			problems = append(problems, fmt.Sprintf("unexpected column %s", c.Name))
		}
	}
	if !equalFoldAll(have.PrimaryKey, s.PrimaryKey) {
		problems = append(problems, fmt.Sprintf("primary key is (%s), want (%s)",
			strings.Join(have.PrimaryKey, ", "), strings.Join(s.PrimaryKey, ", ")))
	}
	return problems
}

// addable lists the columns of s marked AddWhenMissing that the existing
// table lacks.
func (s tableSchema) addable(have tableLayout) []column {
	var missing []column
	before := s
	before.Columns = nil
	for _, want := range s.Columns {
		if want.AddWhenMissing && !slices.ContainsFunc(have.Columns, func(c existingColumn) bool { return strings.EqualFold(c.Name, want.Name) }) {
			missing = append(missing, want)
		} else {
			before.Columns = append(before.Columns, want)
		}
	}
	// Only a table that is otherwise ours, as an earlier version made it,
	// is altered; any other is refused as it is.
	if len(missing) > 0 && len(before.mismatches(have)) > 0 {
		return nil
	}
	return missing
}

func equalFoldAll(a, b []string) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if !strings.EqualFold(a[i], b[i]) {
			return false
		}
	}
	return true
}

// readLayout describes table in the connection's current database; found
// is false when there is no such table.
func readLayout(ctx context.Context, db *sql.DB, table string) (layout tableLayout, found bool, err error) {
	err = db.QueryRowContext(ctx,
		"SELECT ENGINE FROM information_schema.TABLES WHERE TABLE_SCHEMA = DATABASE() AND TABLE_NAME = ?", table).
		Scan(&layout.Engine)
	if err == sql.ErrNoRows {
		return tableLayout{}, false, nil
	}
	if err != nil {
		return tableLayout{}, false, fmt.Errorf("read engine: %w", err)
	}
	rows, err := db.QueryContext(ctx,
		`SELECT COLUMN_NAME, DATA_TYPE, CHARACTER_MAXIMUM_LENGTH, IS_NULLABLE FROM information_schema.COLUMNS
		 WHERE TABLE_SCHEMA = DATABASE() AND TABLE_NAME = ? ORDER BY ORDINAL_POSITION`, table)
	if err != nil {
		return tableLayout{}, false, fmt.Errorf("read columns: %w", err)
	}
	for rows.Next() {
		var c existingColumn
		if err := rows.Scan(&c.Name, &c.DataType, &c.Length, &c.Nullable); err != nil {
			rows.Close()
			return tableLayout{}, false, fmt.Errorf("read columns: %w", err)
		}
		layout.Columns = append(layout.Columns, c)
	}
	if err := rows.Close(); err != nil {
		return tableLayout{}, false, fmt.Errorf("read columns: %w", err)
	}
	if err := rows.Err(); err != nil {
		return tableLayout{}, false, fmt.Errorf("read columns: %w", err)
	}
	rows, err = db.QueryContext(ctx,
		`SELECT COLUMN_NAME FROM information_schema.STATISTICS
		 WHERE TABLE_SCHEMA = DATABASE() AND TABLE_NAME = ? AND INDEX_NAME = 'PRIMARY' ORDER BY SEQ_IN_INDEX`, table)
	if err != nil {
		return tableLayout{}, false, fmt.Errorf("read primary key: %w", err)
	}
	defer rows.Close()
	for rows.Next() {
		var name string
		if err := rows.Scan(&name); err != nil {
			return tableLayout{}, false, fmt.Errorf("read primary key: %w", err)
		}
		layout.PrimaryKey = append(layout.PrimaryKey, name)
	}
	if err := rows.Err(); err != nil {
		return tableLayout{}, false, fmt.Errorf("read primary key: %w", err)
	}
	return layout, true, nil
}

// ensureTable creates s when missing and otherwise checks that the existing
// table is laid out as s, so that the sink never writes into a table it
// misunderstands.
func ensureTable(ctx context.Context, db *sql.DB, database string, s tableSchema) error {
	layout, found, err := readLayout(ctx, db, s.Name)
	if err != nil {
		return fmt.Errorf("table %s.%s: %w", database, s.Name, err)
	}
	if !found {
		if _, err := db.ExecContext(ctx, createTableSQL(s)); err != nil {
			return fmt.Errorf("create table %s.%s: %w", database, s.Name, err)
		}
		// Read back what was made: a concurrent creator may have won with
		// another layout, and the check below must see the real table.
		if layout, _, err = readLayout(ctx, db, s.Name); err != nil {
			return fmt.Errorf("table %s.%s: %w", database, s.Name, err)
		}
	} else if missing := s.addable(layout); len(missing) > 0 {
		for _, c := range missing {
			_, err := db.ExecContext(ctx, "ALTER TABLE "+quoteIdent(s.Name)+" ADD COLUMN IF NOT EXISTS "+quoteIdent(c.Name)+" "+c.Type)
			if err != nil {
				return fmt.Errorf("table %s.%s: add column %s: %w", database, s.Name, c.Name, err)
			}
		}
		if layout, _, err = readLayout(ctx, db, s.Name); err != nil {
			return fmt.Errorf("table %s.%s: %w", database, s.Name, err)
		}
	}
	if problems := s.mismatches(layout); len(problems) > 0 {
		return fmt.Errorf("table %s.%s exists with another layout: %s; drop or rename it, or configure another table",
			database, s.Name, strings.Join(problems, "; "))
	}
	return nil
}
