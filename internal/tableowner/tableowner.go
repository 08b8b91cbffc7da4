// Package tableowner decides who owns a SQL sink's aggregate table: the
// database-free half of mysql-sink's and postgres-sink's ownership, which
// keep the tables table in their own SQL.
//
// An aggregate table belongs to one pipeline. Its rows carry no pipeline
// (the 2016 layout), and positions are kept per pipeline, so a second
// pipeline name on the same table (a copied or renamed pipeline file,
// whose name defaults to the file's) would read everything again into it
// and double every count. The tables table records each aggregate table's
// owner; opening a table another pipeline owns is refused.
//
// A table nobody claimed yet is claimed when it is empty, or when its rows
// are this pipeline's: the first of them (in key order) carries a range
// this pipeline committed, as a table of a version before ownership shows.
// Rows of anything else (another pipeline, the 2016 job) are refused.
package tableowner

import (
	"context"
	"fmt"
	"time"

	"github.com/kappa-stream/kappa/sdk"
)

// Error says that the aggregate table belongs to another pipeline, or
// holds rows no pipeline claimed that this one did not write.
type Error struct {
	// Namespace holds Table: the database (mysql-sink) or the schema
	// (postgres-sink).
	Namespace, Table string
	// Pipeline is the one opening the sink.
	Pipeline string
	// Owner is the pipeline that claimed the table, and ClaimedAt when;
	// empty for a table nobody claimed.
	Owner     string
	ClaimedAt time.Time
	// Adoptable says that the sink can take a table the 2016 job wrote
	// over (kappa-runtime adopt), and the message says how.
	Adoptable bool
}

func (e *Error) Error() string {
	if e.Owner == "" {
		adopt := ""
		if e.Adoptable {
			adopt = "; if the 2016 Spark job wrote them, stop it and take the table and its progress over with `kappa-runtime adopt PIPELINE.yaml`"
		}
		return fmt.Sprintf("table %s.%s holds rows that pipeline %q did not commit (no range of it matches them), and no pipeline claimed it: "+
			"they were written by another pipeline or program, and counting into it would mix them; "+
			"give this pipeline its own table (sink.config.table)%s", e.Namespace, e.Table, e.Pipeline, adopt)
	}
	return fmt.Sprintf("table %s.%s belongs to pipeline %q (claimed %s), not to pipeline %q: "+
		"a second pipeline would count the same records into it again; "+
		"if this is the same pipeline renamed or copied, set `name: %s` in the pipeline file; otherwise give it its own table (sink.config.table)",
		e.Namespace, e.Table, e.Owner, e.ClaimedAt.UTC().Format(time.DateTime+" UTC"), e.Pipeline, e.Owner)
}

// Claim is a pipeline's claim of an aggregate table, with the sink's
// statements for it.
type Claim struct {
	Namespace, Table, Pipeline string
	// TablesTable and BatchesTable name the sink's tables in errors.
	TablesTable, BatchesTable string
	Adoptable                 bool
	// ReadOwner reads who claimed the table; "" when nobody did.
	ReadOwner func(ctx context.Context) (owner string, claimedAt time.Time, err error)
	// FirstRow reads the range of the table's first row in key order; ok
	// is false for an empty table.
	FirstRow func(ctx context.Context) (r sdk.OffsetRange, ok bool, err error)
	// Committed reports whether the pipeline committed range r.
	Committed func(ctx context.Context, r sdk.OffsetRange) (bool, error)
	// Insert records the pipeline as the owner unless a row is there
	// already; claimed is false when a concurrent claimer was first.
	Insert func(ctx context.Context, now time.Time) (claimed bool, err error)
}

// Run makes the table the pipeline's, or returns a permanent *Error.
func (c Claim) Run(ctx context.Context) error {
	// Two attempts: a concurrent claimer may insert between the read and
	// this one's insert; the second read then sees its claim.
	for range 2 {
		owner, claimedAt, err := c.ReadOwner(ctx)
		if err != nil {
			return fmt.Errorf("read the owner of table %s.%s from %s: %w", c.Namespace, c.Table, c.TablesTable, err)
		}
		if owner == c.Pipeline {
			return nil
		}
		if owner != "" {
			return sdk.Permanent(&Error{Namespace: c.Namespace, Table: c.Table, Pipeline: c.Pipeline, Owner: owner, ClaimedAt: claimedAt, Adoptable: c.Adoptable})
		}
		ours, err := c.rowsAreOurs(ctx)
		if err != nil {
			return fmt.Errorf("table %s.%s: %w", c.Namespace, c.Table, err)
		}
		if !ours {
			return sdk.Permanent(&Error{Namespace: c.Namespace, Table: c.Table, Pipeline: c.Pipeline, Adoptable: c.Adoptable})
		}
		claimed, err := c.Insert(ctx, time.Now().UTC())
		if err != nil {
			return fmt.Errorf("claim table %s.%s in %s: %w", c.Namespace, c.Table, c.TablesTable, err)
		}
		if claimed {
			return nil
		}
	}
	return fmt.Errorf("claim table %s.%s in %s: claimed and unclaimed in turn", c.Namespace, c.Table, c.TablesTable)
}

// rowsAreOurs reports whether an unclaimed aggregate table may be claimed:
// it is empty, or its first row carries a range the pipeline committed.
func (c Claim) rowsAreOurs(ctx context.Context) (bool, error) {
	r, ok, err := c.FirstRow(ctx)
	if err != nil {
		return false, fmt.Errorf("read its first row: %w", err)
	}
	if !ok {
		return true, nil
	}
	ours, err := c.Committed(ctx, r)
	if err != nil {
		return false, fmt.Errorf("find its first row's range in %s: %w", c.BatchesTable, err)
	}
	return ours, nil
}
