package mysqlsink

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/kappa-stream/kappa/internal/gencatalog"
	"github.com/kappa-stream/kappa/internal/sinktest"
	"github.com/kappa-stream/kappa/internal/testenv"
	"github.com/kappa-stream/kappa/sdk"
)

func openGen(t *testing.T, db, pipeline, definition string, dims []string, reprocessing bool) (*Sink, error) {
	t.Helper()
	s := New()
	err := s.Open(context.Background(), sdk.Setup{Pipeline: pipeline, Window: time.Minute, Dimensions: dims, Definition: definition,
		Reprocessing: reprocessing, Config: []byte(fmt.Sprintf("dsn: '%s'\ntable: twitter\n", testenv.MySQLDSN(db)))})
	if err == nil {
		t.Cleanup(func() { s.Close(context.Background()) })
	}
	return s, err
}

func langCommit(start, end int64, count int64) sdk.Commit {
	c := rangeCommit(0, start, end, count)
	for i := range c.Rows {
		c.Rows[i].Dims = []string{"en"}
	}
	return c
}

func step(t *testing.T, s *Sink, op sdk.GenerationOp, req sdk.GenerationsRequest) sdk.GenerationsResult {
	t.Helper()
	return sinktest.Step(t, s, op, req)
}

// The cutover on the sink alone: a new generation with another layout
// starts at the live one's first offsets in its own table; after the
// freeze no commit of the old generation lands; the swap puts the new
// table under the old name; the old pipeline is refused afterwards, and a
// rollback brings it back.
func TestGenerationsCutover(t *testing.T) {
	db, admin := testDatabase(t)
	ctx := context.Background()
	old, err := openGen(t, db, "twitter", "d1", nil, false)
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range []sdk.Commit{rangeCommit(0, 3, 10, 7), rangeCommit(0, 10, 20, 10)} {
		if err := old.Commit(ctx, c); err != nil {
			t.Fatal(err)
		}
	}

	fresh, err := openGen(t, db, "twitter-lang", "d2", []string{"lang"}, true)
	if err != nil {
		t.Fatal(err)
	}
	// Retention deleted offsets the live generation read.
	res := step(t, fresh, sdk.GenerationBegin, sdk.GenerationsRequest{Stream: "twitter", LogStarts: []sdk.Watermark{{Partition: 0, Start: 5, End: 30}}})
	if len(res.Refusals) != 1 || !strings.Contains(res.Refusals[0], "partition 0: offsets 3 to 4") {
		t.Fatalf("begin over deleted history: %q, want a refusal naming partition 0's offsets 3 to 4", res.Refusals)
	}
	res = step(t, fresh, sdk.GenerationBegin, sdk.GenerationsRequest{Stream: "twitter", LogStarts: []sdk.Watermark{{Partition: 0, Start: 3, End: 30}}})
	if len(res.Refusals) > 0 || res.Bound != 2 {
		t.Fatalf("begin: bound %d, refusals %q", res.Bound, res.Refusals)
	}
	if ps, _ := fresh.Positions(ctx, "twitter"); len(ps) != 1 || ps[0].NextOffset != 3 {
		t.Fatalf("generation 2 starts at %v, want partition 0 at 3 (generation 1's first offset)", ps)
	}
	if err := fresh.Commit(ctx, langCommit(3, 10, 7)); err != nil {
		t.Fatal(err)
	}
	step(t, fresh, sdk.GenerationFreeze, sdk.GenerationsRequest{})
	err = old.Commit(ctx, rangeCommit(0, 20, 25, 5))
	if !errors.Is(err, sdk.ErrGenerationEnded) || !strings.Contains(err.Error(), "generation 2") {
		t.Fatalf("commit of the frozen generation: %v, want ErrGenerationEnded naming generation 2", err)
	}
	if res := step(t, fresh, sdk.GenerationCatchUp, sdk.GenerationsRequest{}); res.Done {
		t.Fatal("caught up at 10 with the frozen generation at 20")
	}
	if res := step(t, fresh, sdk.GenerationSwap, sdk.GenerationsRequest{}); len(res.Refusals) == 0 {
		t.Fatal("swapped before catching up")
	}
	if err := fresh.Commit(ctx, langCommit(10, 20, 10)); err != nil {
		t.Fatal(err)
	}
	if res := step(t, fresh, sdk.GenerationCatchUp, sdk.GenerationsRequest{}); !res.Done {
		t.Fatal("not caught up at 20")
	}
	step(t, fresh, sdk.GenerationSwap, sdk.GenerationsRequest{})
	step(t, fresh, sdk.GenerationGoLive, sdk.GenerationsRequest{})
	if err := fresh.Commit(ctx, langCommit(20, 25, 5)); err != nil {
		t.Fatalf("commit after the swap: %v", err)
	}
	if n := countRows(t, admin, "SELECT SUM(count) FROM "+quoteIdent(db)+".twitter WHERE lang = 'en'"); n != 22 {
		t.Errorf("table twitter after the swap holds %d in the new layout, want 22", n)
	}
	if n := countRows(t, admin, "SELECT SUM(count) FROM "+quoteIdent(db)+".twitter__g1"); n != 17 {
		t.Errorf("table twitter__g1 holds %d, want generation 1's 17", n)
	}

	_, err = openGen(t, db, "twitter", "d1", nil, false)
	var ended *gencatalog.EndedError
	if !errors.As(err, &ended) || ended.Live != 2 || !strings.Contains(err.Error(), "kappa-runtime rollback") {
		t.Fatalf("old pipeline after the swap: %v, want refused naming generation 2 and rollback", err)
	}
	if _, err := openGen(t, db, "twitter-lang", "d2", []string{"lang"}, false); err != nil {
		t.Fatalf("new pipeline after the swap: %v", err)
	}

	res = step(t, fresh, sdk.GenerationRollback, sdk.GenerationsRequest{})
	if !res.Done || len(res.Refusals) > 0 {
		t.Fatalf("rollback: %+v", res)
	}
	again, err := openGen(t, db, "twitter", "d1", nil, false)
	if err != nil {
		t.Fatalf("old pipeline after the rollback: %v", err)
	}
	if err := again.Commit(ctx, rangeCommit(0, 20, 25, 5)); err != nil {
		t.Fatalf("old pipeline's commit after the rollback: %v", err)
	}
	if n := countRows(t, admin, "SELECT SUM(count) FROM "+quoteIdent(db)+".twitter"); n != 22 {
		t.Errorf("table twitter after the rollback holds %d, want 22", n)
	}
	if res := step(t, fresh, sdk.GenerationRetire, sdk.GenerationsRequest{}); !res.Done {
		t.Fatalf("retire did nothing: %+v", res)
	}
	if n := countRows(t, admin, "SELECT COUNT(*) FROM information_schema.TABLES WHERE TABLE_SCHEMA = ? AND TABLE_NAME = 'twitter__g2'", db); n != 0 {
		t.Errorf("twitter__g2 still exists after retire")
	}
}
