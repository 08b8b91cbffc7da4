package gencatalog

import (
	"testing"

	"github.com/kappa-stream/kappa/sdk"
)

func TestChoose(t *testing.T) {
	gens := []Generation{
		{Number: 1, Pipeline: "twitter", Definition: "d1", State: sdk.GenerationRetired},
		{Number: 2, Pipeline: "twitter", Definition: "d2", State: sdk.GenerationLive},
		{Number: 3, Pipeline: "other", Definition: "d3", State: sdk.GenerationShadow},
	}
	for _, c := range []struct {
		pipeline, definition string
		want                 int64
	}{
		{"twitter", "d1", 1},   // the old file: its retired generation
		{"twitter", "d2", 2},   // the live file
		{"twitter", "edit", 2}, // an edited live file continues the live one
		{"other", "", 3},
		{"nobody", "d1", 0},
	} {
		got := Choose(gens, c.pipeline, c.definition)
		if n := int64(0); got != nil {
			n = got.Number
			if n != c.want {
				t.Errorf("Choose(%s, %s) = %d, want %d", c.pipeline, c.definition, n, c.want)
			}
		} else if c.want != 0 {
			t.Errorf("Choose(%s, %s) = none, want %d", c.pipeline, c.definition, c.want)
		}
	}
}
