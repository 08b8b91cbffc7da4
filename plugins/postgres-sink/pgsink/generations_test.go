package pgsink

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/kappa-stream/kappa/internal/gencatalog"
	"github.com/kappa-stream/kappa/internal/sinktest"
	"github.com/kappa-stream/kappa/sdk"
)

func openGen(t *testing.T, db, pipeline, definition string, dims []string, reprocessing bool) (*Sink, error) {
	t.Helper()
	s := New()
	err := s.Open(context.Background(), sdk.Setup{Pipeline: pipeline, Window: time.Minute, Dimensions: dims, Definition: definition,
		Reprocessing: reprocessing, Config: sinkConfig(db, "")})
	if err == nil {
		t.Cleanup(func() { s.Close(context.Background()) })
	}
	return s, err
}

// genCommit is one range of partition 0 with count records in one row of
// the minute, with one dimension value "en" when lang.
func genCommit(start, end, count int64, lang bool) sdk.Commit {
	row := sdk.Row{OffsetRange: sdk.OffsetRange{Partition: 0, Start: start, End: end}, FirstOffset: start, Window: minute, Count: count}
	if lang {
		row.Dims = []string{"en"}
	}
	return sdk.Commit{Stream: "twitter", Ranges: []sdk.RangeStats{rangeOf(0, start, end, count)}, Rows: []sdk.Row{row}}
}

func step(t *testing.T, s *Sink, op sdk.GenerationOp, req sdk.GenerationsRequest) sdk.GenerationsResult {
	t.Helper()
	return sinktest.Step(t, s, op, req)
}

// The cutover on the sink alone, as mysqlsink's TestGenerationsCutover: a
// new generation with another layout starts at the live one's first
// offsets in its own table; after the freeze no commit of the old
// generation lands; the swap (one transaction) puts the new table under
// the old name with its indexes renamed along; the old pipeline is
// refused afterwards; a rollback brings it back; retire drops the other.
func TestGenerationsCutover(t *testing.T) {
	db, conn := testDatabase(t)
	ctx := context.Background()
	old, err := openGen(t, db, "twitter", "d1", nil, false)
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range []sdk.Commit{genCommit(3, 10, 7, false), genCommit(10, 20, 10, false)} {
		if err := old.Commit(ctx, c); err != nil {
			t.Fatal(err)
		}
	}

	fresh, err := openGen(t, db, "twitter-lang", "d2", []string{"lang"}, true)
	if err != nil {
		t.Fatal(err)
	}
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
	if err := fresh.Commit(ctx, genCommit(3, 10, 7, true)); err != nil {
		t.Fatal(err)
	}
	step(t, fresh, sdk.GenerationFreeze, sdk.GenerationsRequest{})
	err = old.Commit(ctx, genCommit(20, 25, 5, false))
	if !errors.Is(err, sdk.ErrGenerationEnded) || !strings.Contains(err.Error(), "generation 2") {
		t.Fatalf("commit of the frozen generation: %v, want ErrGenerationEnded naming generation 2", err)
	}
	if _, err := old.Compact(ctx, sdk.CompactRequest{Full: true}); !errors.Is(err, sdk.ErrGenerationEnded) {
		t.Fatalf("compaction of the frozen generation: %v, want ErrGenerationEnded", err)
	}
	if res := step(t, fresh, sdk.GenerationCatchUp, sdk.GenerationsRequest{}); res.Done {
		t.Fatal("caught up at 10 with the frozen generation at 20")
	}
	if res := step(t, fresh, sdk.GenerationSwap, sdk.GenerationsRequest{}); len(res.Refusals) == 0 {
		t.Fatal("swapped before catching up")
	}
	if err := fresh.Commit(ctx, genCommit(10, 20, 10, true)); err != nil {
		t.Fatal(err)
	}
	if res := step(t, fresh, sdk.GenerationCatchUp, sdk.GenerationsRequest{}); !res.Done {
		t.Fatal("not caught up at 20")
	}
	if res := step(t, fresh, sdk.GenerationSwap, sdk.GenerationsRequest{}); !res.Done {
		t.Fatalf("swap did nothing: %+v", res)
	}
	if res := step(t, fresh, sdk.GenerationSwap, sdk.GenerationsRequest{}); res.Done || len(res.Refusals) > 0 {
		t.Fatalf("repeated swap: %+v, want nothing done and no refusal", res)
	}
	step(t, fresh, sdk.GenerationGoLive, sdk.GenerationsRequest{})
	if err := fresh.Commit(ctx, genCommit(20, 25, 5, true)); err != nil {
		t.Fatalf("commit after the swap: %v", err)
	}
	if n := countRows(t, conn, "SELECT SUM(count) FROM aggregates.twitter WHERE lang = 'en'"); n != 22 {
		t.Errorf("table twitter after the swap holds %d in the new layout, want 22", n)
	}
	if n := countRows(t, conn, "SELECT SUM(count) FROM aggregates.twitter__g1"); n != 17 {
		t.Errorf("table twitter__g1 holds %d, want generation 1's 17", n)
	}
	checkIndexNames(t, conn)

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
	if err := fresh.Commit(ctx, genCommit(25, 30, 5, true)); !errors.Is(err, sdk.ErrGenerationEnded) {
		t.Fatalf("commit of the rolled-back generation: %v, want ErrGenerationEnded", err)
	}
	again, err := openGen(t, db, "twitter", "d1", nil, false)
	if err != nil {
		t.Fatalf("old pipeline after the rollback: %v", err)
	}
	if err := again.Commit(ctx, genCommit(20, 25, 5, false)); err != nil {
		t.Fatalf("old pipeline's commit after the rollback: %v", err)
	}
	if n := countRows(t, conn, "SELECT SUM(count) FROM aggregates.twitter"); n != 22 {
		t.Errorf("table twitter after the rollback holds %d, want 22", n)
	}
	checkIndexNames(t, conn)
	if res := step(t, fresh, sdk.GenerationRetire, sdk.GenerationsRequest{}); !res.Done {
		t.Fatalf("retire did nothing: %+v", res)
	}
	if n := countRows(t, conn, "SELECT count(*) FROM information_schema.tables WHERE table_schema = 'aggregates' AND table_name = 'twitter__g2'"); n != 0 {
		t.Errorf("twitter__g2 still exists after retire")
	}
	res = step(t, fresh, sdk.GenerationList, sdk.GenerationsRequest{})
	if len(res.Generations) != 2 || res.Generations[0].State != sdk.GenerationLive || res.Generations[1].State != sdk.GenerationDropped {
		t.Errorf("generations after retire: %+v", res.Generations)
	}
}

// checkIndexNames: every index of a table in the schema is named after it.
func checkIndexNames(t *testing.T, conn *pgx.Conn) {
	t.Helper()
	rows, err := conn.Query(context.Background(), `SELECT tablename, indexname FROM pg_indexes WHERE schemaname = 'aggregates'`)
	if err != nil {
		t.Fatal(err)
	}
	var table, index string
	if _, err := pgx.ForEachRow(rows, []any{&table, &index}, func() error {
		if index != pkeyName(table) && index != indexName(table) {
			t.Errorf("index %s of table %s is not named after it", index, table)
		}
		return nil
	}); err != nil {
		t.Fatal(err)
	}
}

// A reader holding the table (ACCESS SHARE) past renameWait makes the swap
// give up and try again; the swap completes once the reader ends, and the
// readers that queued behind it meanwhile were let through.
func TestSwapWaitsForLongReader(t *testing.T) {
	db, conn := testDatabase(t)
	ctx := context.Background()
	defer func(w time.Duration) { renameWait = w }(renameWait)
	renameWait = 100 * time.Millisecond
	old, err := openGen(t, db, "twitter", "d1", nil, false)
	if err != nil {
		t.Fatal(err)
	}
	if err := old.Commit(ctx, genCommit(0, 10, 10, false)); err != nil {
		t.Fatal(err)
	}
	fresh, err := openGen(t, db, "twitter-lang", "d2", []string{"lang"}, true)
	if err != nil {
		t.Fatal(err)
	}
	step(t, fresh, sdk.GenerationBegin, sdk.GenerationsRequest{Stream: "twitter"})
	if err := fresh.Commit(ctx, genCommit(0, 10, 10, true)); err != nil {
		t.Fatal(err)
	}
	step(t, fresh, sdk.GenerationFreeze, sdk.GenerationsRequest{})
	step(t, fresh, sdk.GenerationCatchUp, sdk.GenerationsRequest{})

	tx, err := conn.Begin(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if n := countRowsTx(t, tx, "SELECT sum(count) FROM aggregates.twitter"); n != 10 {
		t.Fatalf("reader sees %d", n)
	}
	swapped := make(chan sdk.GenerationsResult, 1)
	go func() {
		res, err := fresh.Generations(ctx, sdk.GenerationsRequest{Op: sdk.GenerationSwap})
		if err != nil {
			t.Error(err)
		}
		swapped <- res
	}()
	// Another reader, on its own connection, gets through while the swap
	// keeps giving up (several timeouts pass meanwhile).
	other, err := pgx.Connect(ctx, conn.Config().ConnString())
	if err != nil {
		t.Fatal(err)
	}
	defer other.Close(ctx)
	for range 3 {
		if n := countRows(t, other, "SELECT sum(count) FROM aggregates.twitter"); n != 10 {
			t.Fatalf("queued reader sees %d during the swap", n)
		}
	}
	select {
	case res := <-swapped:
		t.Fatalf("swapped while a reader held the table: %+v", res)
	default:
	}
	if err := tx.Commit(ctx); err != nil {
		t.Fatal(err)
	}
	if res := <-swapped; !res.Done {
		t.Fatalf("swap: %+v", res)
	}
	if n := countRows(t, conn, "SELECT sum(count) FROM aggregates.twitter WHERE lang = 'en'"); n != 10 {
		t.Errorf("after the swap twitter holds %d in the new layout", n)
	}
}

func countRowsTx(t *testing.T, tx pgx.Tx, q string) int64 {
	t.Helper()
	var n int64
	if err := tx.QueryRow(context.Background(), q).Scan(&n); err != nil {
		t.Fatalf("%s: %v", q, err)
	}
	return n
}
