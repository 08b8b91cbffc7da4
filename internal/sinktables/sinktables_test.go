package sinktables

import (
	"slices"
	"testing"
)

func names(t Table) []string {
	var out []string
	for _, c := range t.Columns {
		out = append(out, c.Name)
	}
	return out
}

// The aggregate table is the 2016 job's, column for column; sum and the
// dimensions follow it, the dimensions also in the key.
func TestAggregateIsThe2016Layout(t *testing.T) {
	if got := names(Aggregate("twitter", nil, false)); !slices.Equal(got, []string{"start_offset", "end_offset", "timestamp", "partition_id", "count"}) {
		t.Errorf("2016 layout: %v", got)
	}
	a := Aggregate("twitter", []string{"lang"}, true)
	if got := names(a); !slices.Equal(got, []string{"start_offset", "end_offset", "timestamp", "partition_id", "count", "sum", "lang"}) {
		t.Errorf("with sum and a dimension: %v", got)
	}
	if !slices.Equal(a.PrimaryKey, []string{"start_offset", "end_offset", "timestamp", "partition_id", "lang"}) || a.Columns[6].Length != DimensionLength {
		t.Errorf("key %v, dimension %+v", a.PrimaryKey, a.Columns[6])
	}
	for _, tb := range []Table{Offsets("o"), Batches("b"), Owners("x", 64), DeadLetters("d"), Generations("g", 63)} {
		for _, k := range tb.PrimaryKey {
			if !slices.Contains(names(tb), k) {
				t.Errorf("%s: key column %s is not a column", tb.Name, k)
			}
		}
		for _, c := range tb.Columns {
			if c.Added && c.Default == "" {
				t.Errorf("%s.%s is added to existing tables without a default", tb.Name, c.Name)
			}
		}
	}
}
