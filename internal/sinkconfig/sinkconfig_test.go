package sinkconfig

import (
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/kappa-stream/kappa/sdk"
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

func TestCheckSetup(t *testing.T) {
	columns := []string{"start_offset", "timestamp", "count"}
	ok := sdk.Setup{Pipeline: "tweets", Window: time.Minute, Dimensions: []string{"lang"}}
	if err := CheckSetup(ok, columns, "DATETIME", nonEmpty, strings.ToLower); err != nil {
		t.Errorf("a good setup: %v", err)
	}
	for want, s := range map[string]sdk.Setup{
		"pipeline name is empty":                        {Window: time.Minute},
		"longer than 191":                               {Pipeline: strings.Repeat("p", 192)},
		"which the DATETIME column needs":               {Pipeline: "p", Window: time.Millisecond},
		`dimension "Count" clashes with another column`: {Pipeline: "p", Dimensions: []string{"Count"}},
		`dimension "lang" clashes with another column`:  {Pipeline: "p", Dimensions: []string{"lang", "lang"}},
		"dimension: must not be empty":                  {Pipeline: "p", Dimensions: []string{""}},
	} {
		if err := CheckSetup(s, columns, "DATETIME", nonEmpty, strings.ToLower); err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("%s: got %v", want, err)
		}
	}
	// Unfolded, "Count" is another name than "count".
	if err := CheckSetup(sdk.Setup{Pipeline: "p", Dimensions: []string{"Count"}}, columns, "timestamp", nonEmpty, nil); err != nil {
		t.Errorf("unfolded: %v", err)
	}
}
