package pgsink

import (
	"context"
	"fmt"
	"log/slog"
	"strings"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/kappa-stream/kappa/internal/sinktables"
)

// column is one column of a table the sink owns.
type column struct {
	Name string
	// Type is the column's definition in CREATE TABLE.
	Type string
	// DataType is what information_schema.columns.data_type reports for
	// it, and Length its character_maximum_length (0 when not a string).
	DataType string
	Length   int64
	// Nullable marks a column that may hold NULL.
	Nullable bool
}

// tableSchema is a table the sink creates when missing and checks otherwise.
type tableSchema struct {
	Name       string
	Columns    []column
	PrimaryKey []string
	// Covering, when set, makes a secondary index on its columns that
	// includes Include: for reads by time on the aggregate table
	// (RecentWindows, the original query with a WHERE on timestamp), for
	// retention on the dead-letter table.
	Covering, Include []string
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
)

// quoteIdent quotes a PostgreSQL identifier. Names are validated before
// they get here; doubling quotes keeps even an unvalidated name inert.
func quoteIdent(name string) string {
	return `"` + strings.ReplaceAll(name, `"`, `""`) + `"`
}

func quoteIdents(names []string) string {
	quoted := make([]string, len(names))
	for i, n := range names {
		quoted[i] = quoteIdent(n)
	}
	return strings.Join(quoted, ", ")
}

// qualified is schema.table, quoted.
func qualified(schema, table string) string { return quoteIdent(schema) + "." + quoteIdent(table) }

// createTableSQL is the CREATE TABLE statement for s in schema.
func createTableSQL(schema string, s tableSchema) string {
	var b strings.Builder
	b.WriteString("CREATE TABLE IF NOT EXISTS ")
	b.WriteString(qualified(schema, s.Name))
	b.WriteString(" (")
	for _, c := range s.Columns {
		b.WriteString(quoteIdent(c.Name))
		b.WriteString(" ")
		b.WriteString(c.Type)
		b.WriteString(", ")
	}
	b.WriteString("PRIMARY KEY (")
	b.WriteString(quoteIdents(s.PrimaryKey))
	b.WriteString("))")
	return b.String()
}

// indexName is the covering index's name; index names are per schema in
// PostgreSQL, so it carries the table's (cut to stay within 63 bytes).
func indexName(table string) string {
	const suffix = "_kappa_time"
	return table[:min(len(table), 63-len(suffix))] + suffix
}

func createIndexSQL(schema string, s tableSchema) string {
	q := "CREATE INDEX IF NOT EXISTS " + quoteIdent(indexName(s.Name)) + " ON " + qualified(schema, s.Name) + " (" + quoteIdents(s.Covering) + ")"
	if len(s.Include) > 0 {
		q += " INCLUDE (" + quoteIdents(s.Include) + ")"
	}
	return q
}

// suggestTimeIndex logs the statement that adds the time index to an
// aggregate table that has no index leading with (timestamp, partition_id),
// such as one made in the 2016 job's layout by hand: the table is used as
// it is, but a read of the last hour scans it whole.
func suggestTimeIndex(ctx context.Context, log *slog.Logger, db *pgxpool.Pool, schema string, s tableSchema) {
	var has bool
	err := db.QueryRow(ctx, `SELECT EXISTS (SELECT 1 FROM pg_index i
		JOIN pg_attribute t ON t.attrelid = i.indrelid AND t.attnum = i.indkey[0]
		JOIN pg_attribute p ON p.attrelid = i.indrelid AND p.attnum = i.indkey[1]
		WHERE i.indrelid = to_regclass($1)::oid AND i.indnkeyatts >= 2 AND t.attname = $2 AND p.attname = $3)`,
		qualified(schema, s.Name), colTimestamp, colPartition).Scan(&has)
	if err != nil || has {
		return // only advice
	}
	log.Info("the aggregate table has no index on (timestamp, partition_id): reads of a time range scan the whole table; to add one",
		"table", schema+"."+s.Name, "statement", createIndexSQL(schema, s))
}

// existingColumn is a column as information_schema describes it.
type existingColumn struct {
	Name     string
	DataType string
	Length   *int64
	Nullable string
}

// tableLayout is an existing table as the catalog describes it.
type tableLayout struct {
	Columns    []existingColumn
	PrimaryKey []string
}

// mismatches lists how an existing table differs from s; empty when it matches.
func (s tableSchema) mismatches(have tableLayout) []string {
	var problems []string
	byName := map[string]existingColumn{}
	for _, c := range have.Columns {
		byName[c.Name] = c
	}
	for _, want := range s.Columns {
		got, ok := byName[want.Name]
		if !ok {
			problems = append(problems, fmt.Sprintf("column %s is missing", want.Name))
			continue
		}
		delete(byName, want.Name)
		var length int64
		if got.Length != nil {
			length = *got.Length
		}
		switch {
		case got.DataType != want.DataType:
			problems = append(problems, fmt.Sprintf("column %s is %s, want %s", want.Name, got.DataType, want.DataType))
		case want.Length != 0 && length != want.Length:
			problems = append(problems, fmt.Sprintf("column %s is %s(%d), want %s(%d)", want.Name, got.DataType, length, want.DataType, want.Length))
		case (got.Nullable == "YES") != want.Nullable:
			problems = append(problems, fmt.Sprintf("column %s is_nullable is %s, want %v", want.Name, got.Nullable, want.Nullable))
		}
	}
	for _, c := range have.Columns {
		if _, extra := byName[c.Name]; extra {
			problems = append(problems, fmt.Sprintf("unexpected column %s", c.Name))
		}
	}
	if strings.Join(have.PrimaryKey, ",") != strings.Join(s.PrimaryKey, ",") {
		problems = append(problems, fmt.Sprintf("primary key is (%s), want (%s)",
			strings.Join(have.PrimaryKey, ", "), strings.Join(s.PrimaryKey, ", ")))
	}
	return problems
}

// readLayout describes schema.table; found is false when there is no such table.
func readLayout(ctx context.Context, db *pgxpool.Pool, schema, table string) (layout tableLayout, found bool, err error) {
	rows, err := db.Query(ctx,
		`SELECT column_name, data_type, character_maximum_length, is_nullable FROM information_schema.columns
		 WHERE table_schema = $1 AND table_name = $2 ORDER BY ordinal_position`, schema, table)
	if err != nil {
		return tableLayout{}, false, fmt.Errorf("read columns: %w", err)
	}
	layout.Columns, err = pgx.CollectRows(rows, func(r pgx.CollectableRow) (c existingColumn, err error) {
		var length *int32
		err = r.Scan(&c.Name, &c.DataType, &length, &c.Nullable)
		if length != nil {
			l := int64(*length)
			c.Length = &l
		}
		return c, err
	})
	if err != nil {
		return tableLayout{}, false, fmt.Errorf("read columns: %w", err)
	}
	if len(layout.Columns) == 0 {
		return tableLayout{}, false, nil
	}
	rows, err = db.Query(ctx,
		`SELECT a.attname FROM pg_index i
		 JOIN pg_attribute a ON a.attrelid = i.indrelid AND a.attnum = ANY(i.indkey)
		 WHERE i.indrelid = to_regclass($1)::oid AND i.indisprimary
		 ORDER BY array_position(i.indkey::int2[], a.attnum)`, qualified(schema, table))
	if err != nil {
		return tableLayout{}, false, fmt.Errorf("read primary key: %w", err)
	}
	layout.PrimaryKey, err = pgx.CollectRows(rows, pgx.RowTo[string])
	if err != nil {
		return tableLayout{}, false, fmt.Errorf("read primary key: %w", err)
	}
	return layout, true, nil
}

// ensureSchema creates schema when missing. Two sinks opening at once may
// both try; the loser's duplicate is no error.
func ensureSchema(ctx context.Context, db *pgxpool.Pool, schema string) error {
	_, err := db.Exec(ctx, "CREATE SCHEMA IF NOT EXISTS "+quoteIdent(schema))
	if err != nil && !isCreateRace(err) {
		return fmt.Errorf("create schema %s: %w", schema, err)
	}
	return nil
}

// ensureTable creates s when missing and otherwise checks that the existing
// table is laid out as s, so that the sink never writes into a table it
// misunderstands.
func ensureTable(ctx context.Context, db *pgxpool.Pool, schema string, s tableSchema) error {
	layout, found, err := readLayout(ctx, db, schema, s.Name)
	if err != nil {
		return fmt.Errorf("table %s.%s: %w", schema, s.Name, err)
	}
	if !found {
		if _, err := db.Exec(ctx, createTableSQL(schema, s)); err != nil && !isCreateRace(err) {
			return fmt.Errorf("create table %s.%s: %w", schema, s.Name, err)
		}
		if len(s.Covering) > 0 {
			if _, err := db.Exec(ctx, createIndexSQL(schema, s)); err != nil && !isCreateRace(err) {
				return fmt.Errorf("create index on %s.%s: %w", schema, s.Name, err)
			}
		}
		// Read back what was made: a concurrent creator may have won with
		// another layout, and the check below must see the real table.
		if layout, _, err = readLayout(ctx, db, schema, s.Name); err != nil {
			return fmt.Errorf("table %s.%s: %w", schema, s.Name, err)
		}
	}
	if problems := s.mismatches(layout); len(problems) > 0 {
		return fmt.Errorf("table %s.%s exists with another layout: %s; drop or rename it, or configure another table",
			schema, s.Name, strings.Join(problems, "; "))
	}
	return nil
}

// isCreateRace reports an error of a CREATE … IF NOT EXISTS that lost a
// race with a concurrent creator of the same object: PostgreSQL checks
// existence before taking the catalog's unique keys.
func isCreateRace(err error) bool {
	return isPgError(err, codeUniqueViolation) || isPgError(err, codeDuplicateTable) || isPgError(err, codeDuplicateSchema)
}
