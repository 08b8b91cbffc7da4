package sinkconfig

import (
	"errors"
	"strings"
	"testing"
	"time"
)

func nonEmpty(name string) error {
	if name == "" {
		return errors.New("must not be empty")
	}
	return nil
}

func TestCheckReportsEachKey(t *testing.T) {
	tb := DefaultTables()
	tb.Table = "twitter"
	if errs := tb.Check(nonEmpty, nil); len(errs) != 0 {
		t.Errorf("defaults with a table: %v", errs)
	}
	tb.DeadLettersMaxBytes = MaxDeadLetterBytes + 1
	tb.DeadLettersRetention = time.Hour
	tb.BatchesTable = "Twitter"
	tb.TablesTable = ""
	got := tb.Check(nonEmpty, strings.ToLower).Error()
	for _, want := range []string{
		"dead_letters_max_bytes: 1048577 is not between 1 and 1048576",
		"dead_letters_retention: set without dead_letters: there are no dead letters to expire",
		`batches_table: "Twitter" is already used by table`,
		"tables_table: must not be empty",
	} {
		if !strings.Contains(got, want) {
			t.Errorf("errors %q lack %q", got, want)
		}
	}
	// Without folding, names that differ in case are two tables.
	tb = DefaultTables()
	tb.Table, tb.DeadLetters, tb.DeadLettersRetention = "twitter", "Twitter", -time.Second
	got = tb.Check(nonEmpty, nil).Error()
	if strings.Contains(got, "already used") || !strings.Contains(got, "dead_letters_retention: must not be negative") {
		t.Errorf("unfolded names: %q", got)
	}
}
