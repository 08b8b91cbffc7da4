package mysqlsink

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/kappa-stream/kappa/internal/testenv"
	"github.com/kappa-stream/kappa/sdk"
)

// openAs opens a sink for pipeline on table of database, and returns its
// error; an opened sink is closed when the test ends.
func openAs(t *testing.T, database, pipeline, table string) (*Sink, error) {
	t.Helper()
	s := New()
	err := s.Open(context.Background(), sdk.Setup{Pipeline: pipeline, Window: time.Minute,
		Config: []byte(fmt.Sprintf("dsn: '%s'\ntable: %s\n", testenv.MySQLDSN(database), table))})
	if err == nil {
		t.Cleanup(func() { s.Close(context.Background()) })
	}
	return s, err
}

// An aggregate table belongs to the pipeline that first opened it: another
// pipeline is refused with an error naming the table and its owner, and
// writes nothing. A table of a version before ownership is claimed only by
// the pipeline whose rows it holds; an empty one by anyone.
func TestTableBelongsToOnePipeline(t *testing.T) {
	db, admin := testDatabase(t)
	ctx := context.Background()
	a, err := openAs(t, db, "a", "twitter")
	if err != nil {
		t.Fatal(err)
	}
	if err := a.Commit(ctx, rangeCommit(0, 0, 10, 4, 6)); err != nil {
		t.Fatal(err)
	}
	count := func() int64 { return countRows(t, admin, "SELECT SUM(count) FROM "+quoteIdent(db)+".twitter") }

	refused := func(pipeline string, owner string) {
		t.Helper()
		_, err := openAs(t, db, pipeline, "twitter")
		var owned *TableOwnedError
		if !errors.As(err, &owned) || !errors.Is(err, sdk.ErrPermanent) || owned.Owner != owner {
			t.Fatalf("pipeline %s opened table twitter: %v, want a permanent TableOwnedError naming owner %q", pipeline, err, owner)
		}
		want := fmt.Sprintf("table %s.twitter belongs to pipeline %q", db, owner)
		if owner == "" {
			want = fmt.Sprintf("table %s.twitter holds rows that pipeline %q did not commit", db, pipeline)
		}
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %q does not say %q", err, want)
		}
	}
	refused("b", "a")
	if _, err := openAs(t, db, "a", "twitter"); err != nil {
		t.Errorf("the owner opening its table again: %v", err)
	}
	if _, err := openAs(t, db, "b", "other"); err != nil {
		t.Errorf("pipeline b on a table of its own: %v", err)
	}

	// A table from before ownership: nobody claimed it.
	if _, err := admin.Exec("DELETE FROM " + quoteIdent(db) + ".kappa_tables WHERE table_name = 'twitter'"); err != nil {
		t.Fatal(err)
	}
	refused("b", "")
	if _, err := openAs(t, db, "a", "twitter"); err != nil {
		t.Fatalf("pipeline a claiming the table its rows are in: %v", err)
	}
	refused("b", "a")
	if n := count(); n != 10 {
		t.Errorf("table counts %d after the refusals, want 10", n)
	}

	// Rows no pipeline committed (the 2016 job's) are nobody's to claim.
	if _, err := admin.Exec("DELETE FROM " + quoteIdent(db) + ".kappa_batches"); err != nil {
		t.Fatal(err)
	}
	if _, err := admin.Exec("DELETE FROM " + quoteIdent(db) + ".kappa_tables"); err != nil {
		t.Fatal(err)
	}
	refused("a", "")
	// An empty table nobody claimed is anyone's.
	if _, err := admin.Exec("DELETE FROM " + quoteIdent(db) + ".twitter"); err != nil {
		t.Fatal(err)
	}
	if _, err := openAs(t, db, "b", "twitter"); err != nil {
		t.Errorf("pipeline b on an empty unclaimed table: %v", err)
	}
	refused("a", "b")
}
