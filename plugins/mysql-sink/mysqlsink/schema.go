package mysqlsink

import (
	"context"
	"database/sql"
	"fmt"
	"slices"
	"strings"

	"github.com/kappa-stream/kappa/internal/sinktables"
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

// Bounds and the aggregate table's fixed column names, from
// internal/sinktables.
const (
	dimensionLength = sinktables.DimensionLength
	streamIDLength  = sinktables.StreamIDLength
	colStartOffset  = sinktables.ColStartOffset
	colEndOffset    = sinktables.ColEndOffset
	colTimestamp    = sinktables.ColTimestamp
	colPartition    = sinktables.ColPartition
	colCount        = sinktables.ColCount
	colSum          = sinktables.ColSum
	colBatches      = sinktables.ColBatches
)

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
