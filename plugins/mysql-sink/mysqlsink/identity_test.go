package mysqlsink

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/kappa-stream/kappa/sdk"
)

// positionIDs reads the positions of stream twitter with their stream IDs.
func positionIDs(tb testing.TB, s *Sink) map[int32]sdk.Position {
	tb.Helper()
	ps, err := s.Positions(context.Background(), "twitter")
	if err != nil {
		tb.Fatal(err)
	}
	m := map[int32]sdk.Position{}
	for _, p := range ps {
		m[p.Partition] = p
	}
	return m
}

// An anchor (an empty range) places a partition's first position, with no
// batch row, so that the partition's next range starts there without
// colliding with anything; a second anchor elsewhere is fenced. Positions
// carry the commit's stream ID.
func TestAnchorPlacesAPositionAndTheStreamID(t *testing.T) {
	db, admin := testDatabase(t)
	s := openSink(t, sdk.Setup{Config: sinkConfig(db, "")})
	ctx := context.Background()

	c := rangeCommit(1, 0, 3, 3)
	c.StreamID = "topic-id-1"
	c.Ranges = append(c.Ranges, sdk.RangeStats{OffsetRange: sdk.OffsetRange{Partition: 0, Start: 5, End: 5}})
	if err := s.Commit(ctx, c); err != nil {
		t.Fatalf("commit with an anchor: %v", err)
	}
	got := positionIDs(t, s)
	for p, want := range map[int32]int64{0: 5, 1: 3} {
		if got[p].NextOffset != want || got[p].StreamID != "topic-id-1" {
			t.Errorf("partition %d: position %+v, want %d of stream ID topic-id-1", p, got[p], want)
		}
	}
	if n := countRows(t, admin, "SELECT count(*) FROM "+quoteIdent(db)+".kappa_batches WHERE partition_id = 0"); n != 0 {
		t.Errorf("%d batch rows for the anchor, want none", n)
	}

	next := rangeCommit(0, 5, 8, 3)
	next.StreamID = "topic-id-1"
	if err := s.Commit(ctx, next); err != nil {
		t.Fatalf("first range after the anchor: %v", err)
	}
	elsewhere := sdk.Commit{Stream: "twitter", StreamID: "topic-id-1", Ranges: []sdk.RangeStats{{OffsetRange: sdk.OffsetRange{Partition: 0, Start: 2, End: 2}}}}
	if err := s.Commit(ctx, elsewhere); !errors.Is(err, sdk.ErrFenced) {
		t.Errorf("an anchor at 2 of a partition at 8: got %v, want fenced", err)
	}
	if got := positions(t, s); got[0] != 8 {
		t.Errorf("partition 0 at %d after a fenced anchor, want 8", got[0])
	}

	audit, err := s.Audit(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if len(audit) != 1 || len(audit[0].Batches) != 2 || len(audit[0].Positions) != 2 {
		t.Errorf("audit %+v, want 2 positions and the 2 ranges read", audit)
	}
}

// An offsets table made before positions carried a stream ID gets the
// column, its rows an empty ID, instead of the table being refused.
func TestOlderOffsetsTableGetsTheStreamIDColumn(t *testing.T) {
	db, admin := testDatabase(t)
	for _, q := range []string{
		"CREATE DATABASE " + quoteIdent(db),
		"CREATE TABLE " + quoteIdent(db) + ".kappa_offsets (`pipeline` varchar(191) NOT NULL, `stream` varchar(255) NOT NULL, " +
			"`partition_id` int NOT NULL, `next_offset` bigint NOT NULL, `updated_at` datetime(6) NOT NULL, " +
			"PRIMARY KEY (`pipeline`, `stream`, `partition_id`)) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin",
		"INSERT INTO " + quoteIdent(db) + ".kappa_offsets VALUES ('tweets', 'twitter', 0, 7, NOW())",
	} {
		if _, err := admin.Exec(q); err != nil {
			t.Fatalf("%s: %v", q, err)
		}
	}
	s := openSink(t, sdk.Setup{Config: sinkConfig(db, "")})
	if got := positionIDs(t, s); got[0].NextOffset != 7 || got[0].StreamID != "" {
		t.Fatalf("position of the older table: %+v, want 7 with no stream ID", got[0])
	}
	c := rangeCommit(0, 7, 9, 2)
	c.StreamID = "topic-id-1"
	if err := s.Commit(context.Background(), c); err != nil {
		t.Fatal(err)
	}
	if got := positionIDs(t, s); got[0].NextOffset != 9 || got[0].StreamID != "topic-id-1" {
		t.Errorf("position after a commit: %+v, want 9 of topic-id-1", got[0])
	}
}

// Positions says when each position was committed (kappa-runtime status).
func TestPositionsSayWhenCommitted(t *testing.T) {
	db, _ := testDatabase(t)
	s := openSink(t, sdk.Setup{Config: sinkConfig(db, "")})
	before := time.Now().Add(-time.Second)
	if err := s.Commit(context.Background(), rangeCommit(0, 0, 3, 3)); err != nil {
		t.Fatal(err)
	}
	p := positionIDs(t, s)[0]
	if p.CommittedAt.Before(before) || p.CommittedAt.After(time.Now().Add(time.Second)) {
		t.Errorf("position committed at %v, want about now", p.CommittedAt)
	}
}
