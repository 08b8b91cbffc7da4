package tableowner

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/kappa-stream/kappa/sdk"
)

// table is a tables table and an aggregate table in memory.
type table struct {
	owner     string
	first     *sdk.OffsetRange
	committed map[sdk.OffsetRange]string // range: pipeline
	rival     string                     // claims the table right before this one's insert
}

func (tb *table) claim(pipeline string) Claim {
	return Claim{
		Namespace: "agg", Table: "twitter", Pipeline: pipeline, TablesTable: "kappa_tables", BatchesTable: "kappa_batches",
		ReadOwner: func(context.Context) (string, time.Time, error) { return tb.owner, time.Time{}, nil },
		FirstRow: func(context.Context) (sdk.OffsetRange, bool, error) {
			if tb.first == nil {
				return sdk.OffsetRange{}, false, nil
			}
			return *tb.first, true, nil
		},
		Committed: func(_ context.Context, r sdk.OffsetRange) (bool, error) { return tb.committed[r] == pipeline, nil },
		Insert: func(context.Context, time.Time) (bool, error) {
			if tb.rival != "" {
				tb.owner, tb.rival = tb.rival, ""
				return false, nil
			}
			tb.owner = pipeline
			return true, nil
		},
	}
}

func TestClaim(t *testing.T) {
	ctx := context.Background()
	empty := &table{}
	if err := empty.claim("a").Run(ctx); err != nil || empty.owner != "a" {
		t.Fatalf("an empty table: %v, owner %q", err, empty.owner)
	}
	if err := empty.claim("a").Run(ctx); err != nil {
		t.Errorf("the owner again: %v", err)
	}
	var owned *Error
	if err := empty.claim("b").Run(ctx); !errors.As(err, &owned) || owned.Owner != "a" || !errors.Is(err, sdk.ErrPermanent) {
		t.Errorf("another pipeline: %v", err)
	}

	r := sdk.OffsetRange{Partition: 0, Start: 0, End: 10}
	old := &table{first: &r, committed: map[sdk.OffsetRange]string{r: "a"}}
	if err := old.claim("a").Run(ctx); err != nil || old.owner != "a" {
		t.Errorf("rows of the pipeline's own ranges: %v", err)
	}
	foreign := &table{first: &r}
	c := foreign.claim("a")
	c.Adoptable = true
	err := c.Run(ctx)
	if !errors.As(err, &owned) || owned.Owner != "" || !strings.Contains(err.Error(), "kappa-runtime adopt") {
		t.Errorf("rows nobody claimed: %v", err)
	}
	if err := foreign.claim("a").Run(ctx); strings.Contains(err.Error(), "adopt") {
		t.Errorf("a sink that cannot adopt advises it: %v", err)
	}

	raced := &table{rival: "b"}
	if err := raced.claim("a").Run(ctx); !errors.As(err, &owned) || owned.Owner != "b" {
		t.Errorf("a rival claimed first: %v, want b's table", err)
	}
}
