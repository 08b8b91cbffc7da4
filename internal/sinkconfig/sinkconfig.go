// Package sinkconfig holds the config keys mysql-sink and postgres-sink
// share: the aggregate table and the sink's own tables, and the dead-letter
// keys, with their defaults and checks. Each sink embeds Tables inline in
// its Config, so that a key means the same in both and is declared once;
// the names each SQL dialect admits stay the sink's own (checkName).
package sinkconfig

import (
	"errors"
	"fmt"
	"time"
	"unicode/utf8"

	"github.com/kappa-stream/kappa/sdk"
)

const (
	DefaultOffsetsTable = "kappa_offsets"
	DefaultBatchesTable = "kappa_batches"
	DefaultTablesTable  = "kappa_tables"
	// MaxDeadLetterBytes bounds dead_letters_max_bytes. It is mysql-sink's
	// bound (with interpolated values a value may take twice its bytes in
	// a statement, which must stay under MariaDB's max_allowed_packet),
	// kept in postgres-sink so that one config means the same in both.
	MaxDeadLetterBytes = 1 << 20
)

// Tables are the keys of a sink's config that name its tables and what the
// dead-letter table keeps.
type Tables struct {
	// Table is the aggregate table, laid out like the original 2016 job's
	// table plus one column per dimension. Required.
	Table string `yaml:"table" required:"true" doc:"the aggregate table, created when missing: the 2016 layout plus one column per dimension"`
	// OffsetsTable holds each partition's committed position: the single
	// source of truth for progress. Default "kappa_offsets".
	OffsetsTable string `yaml:"offsets_table" doc:"each partition's next_offset: the single source of truth for progress"`
	// BatchesTable records one row per committed range, for audits.
	// Default "kappa_batches".
	BatchesTable string `yaml:"batches_table" doc:"one row per committed range with its record, fact, skipped and rejected counts, and how many batches it stands for (more than 1 after compaction)"`
	// TablesTable records which pipeline owns each aggregate table: a
	// table is another pipeline's is refused. Default "kappa_tables".
	TablesTable string `yaml:"tables_table" doc:"which pipeline owns each aggregate table; another pipeline's table is refused"`
	// DeadLetters, when set, is the table that keeps every rejected
	// record (the sinks' deadletters.go); empty keeps none.
	DeadLetters string `yaml:"dead_letters" doc:"when set, the table (created when missing) that keeps each rejected record — partition, offset, reason, Kafka timestamp and its bytes — in the transaction of the batch that rejected it; kappa-runtime rejected lists them; empty keeps none"`
	// DeadLettersMaxBytes bounds the bytes of a record a dead letter keeps.
	DeadLettersMaxBytes int `yaml:"dead_letters_max_bytes" doc:"the most bytes of a rejected record's value a dead letter keeps (at most 1048576); a longer one is cut, flagged truncated, with its full length"`
	// DeadLettersRetention, when set, lets compaction passes delete dead
	// letters committed longer ago than this.
	DeadLettersRetention time.Duration `yaml:"dead_letters_retention" doc:"when set (e.g. 720h), each compaction pass deletes dead letters committed longer ago than this; 0s keeps them forever (compaction itself never drops one)"`
}

// DefaultTables returns Tables holding every default.
func DefaultTables() Tables {
	return Tables{OffsetsTable: DefaultOffsetsTable, BatchesTable: DefaultBatchesTable, TablesTable: DefaultTablesTable,
		DeadLettersMaxBytes: sdk.DefaultDeadLetterMaxBytes}
}

// Check reports every problem of these keys, each at its key: the
// dead-letter keys' bounds, then each table name that checkName refuses or
// that an earlier key already uses. Two names are one table when fold
// makes them equal (nil compares them as they are).
func (t *Tables) Check(checkName func(string) error, fold func(string) string) sdk.ConfigErrors {
	var errs sdk.ConfigErrors
	if t.DeadLettersMaxBytes < 1 || t.DeadLettersMaxBytes > MaxDeadLetterBytes {
		errs = append(errs, sdk.ConfigError{Path: "dead_letters_max_bytes", Message: fmt.Sprintf("%d is not between 1 and %d", t.DeadLettersMaxBytes, MaxDeadLetterBytes)})
	}
	if t.DeadLettersRetention < 0 {
		errs = append(errs, sdk.ConfigError{Path: "dead_letters_retention", Message: "must not be negative"})
	}
	if t.DeadLetters == "" && t.DeadLettersRetention > 0 {
		errs = append(errs, sdk.ConfigError{Path: "dead_letters_retention", Message: "set without dead_letters: there are no dead letters to expire"})
	}
	tables := []struct{ key, name string }{
		{"table", t.Table},
		{"offsets_table", t.OffsetsTable},
		{"batches_table", t.BatchesTable},
		{"tables_table", t.TablesTable},
	}
	if t.DeadLetters != "" {
		tables = append(tables, struct{ key, name string }{"dead_letters", t.DeadLetters})
	}
	seen := map[string]string{}
	for _, tb := range tables {
		if err := checkName(tb.name); err != nil {
			errs = append(errs, sdk.ConfigError{Path: tb.key, Message: err.Error()})
			continue
		}
		folded := tb.name
		if fold != nil {
			folded = fold(tb.name)
		}
		if other, ok := seen[folded]; ok {
			errs = append(errs, sdk.ConfigError{Path: tb.key, Message: fmt.Sprintf("%q is already used by %s", tb.name, other)})
			continue
		}
		seen[folded] = tb.key
	}
	return errs
}

// CheckSetup checks what the pipeline gives a sink at Open (sdk.Setup)
// against its tables: a pipeline name that fits its columns, a window of
// whole seconds (which the timestamp column, of SQL type timestampColumn,
// holds) and dimension names that checkName admits and that clash with no
// other column of the aggregate table (columns), compared as fold makes
// them (nil: as they are).
func CheckSetup(setup sdk.Setup, columns []string, timestampColumn string, checkName func(string) error, fold func(string) string) error {
	if setup.Pipeline == "" {
		return errors.New("pipeline name is empty")
	}
	if utf8.RuneCountInString(setup.Pipeline) > 191 {
		return fmt.Errorf("pipeline name is longer than 191 characters")
	}
	if setup.Window < 0 || setup.Window%time.Second != 0 {
		return fmt.Errorf("window %v is not a whole number of seconds, which the %s column needs", setup.Window, timestampColumn)
	}
	if fold == nil {
		fold = func(s string) string { return s }
	}
	taken := map[string]bool{}
	for _, c := range columns {
		taken[c] = true
	}
	for _, d := range setup.Dimensions {
		if err := checkName(d); err != nil {
			return fmt.Errorf("dimension: %w", err)
		}
		folded := fold(d)
		if taken[folded] {
			return fmt.Errorf("dimension %q clashes with another column of the aggregate table", d)
		}
		taken[folded] = true
	}
	return nil
}
