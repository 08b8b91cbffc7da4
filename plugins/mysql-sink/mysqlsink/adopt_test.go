package mysqlsink

import (
	"context"
	"database/sql"
	"reflect"
	"strings"
	"testing"

	"github.com/kappa-stream/kappa/sdk"
)

// jobTable makes database with the 2016 job's table holding rows of the
// given ranges, one row each, counting end - start.
func jobTable(t *testing.T, admin *sql.DB, database string, ranges ...sdk.OffsetRange) {
	t.Helper()
	for _, stmt := range []string{
		"CREATE DATABASE " + quoteIdent(database) + " CHARACTER SET latin1 COLLATE latin1_bin",
		"CREATE TABLE " + quoteIdent(database) + ".twitter (start_offset bigint(8) NOT NULL, end_offset bigint(8) NOT NULL, timestamp datetime NOT NULL," +
			" partition_id int(11) NOT NULL, count int(11) NOT NULL, PRIMARY KEY (start_offset, end_offset, timestamp, partition_id)) DEFAULT CHARSET=latin1 COLLATE=latin1_bin",
	} {
		if _, err := admin.Exec(stmt); err != nil {
			t.Fatalf("%s: %v", stmt, err)
		}
	}
	for _, r := range ranges {
		if _, err := admin.Exec("INSERT INTO "+quoteIdent(database)+".twitter VALUES (?, ?, ?, ?, ?)", r.Start, r.End, minute, r.Partition, r.End-r.Start); err != nil {
			t.Fatal(err)
		}
	}
}

var logEnds = []sdk.Watermark{{Partition: 0, End: 100}, {Partition: 1, End: 100}, {Partition: 2, End: 100}}

// A sink opened to adopt takes the 2016 job's table over once: it reports
// each partition's rows, records their positions and adopted ranges and
// claims the table in one go, commits nothing itself, and refuses a second
// time. Kappa's commits then continue from the positions; the audit lists
// the adopted ranges apart and compaction leaves them alone.
func TestAdoptTakesTheJobsTableOverOnce(t *testing.T) {
	db, admin := testDatabase(t)
	jobTable(t, admin, db, sdk.OffsetRange{Partition: 0, Start: 0, End: 10}, sdk.OffsetRange{Partition: 0, Start: 10, End: 25}, sdk.OffsetRange{Partition: 2, Start: 5, End: 8})
	ctx := context.Background()
	if _, err := openAs(t, db, "tweets", "twitter"); err == nil {
		t.Fatal("a plain Open of the job's table succeeded, want the ownership refusal")
	}
	s := openSink(t, sdk.Setup{Config: sinkConfig(db, ""), Adopting: true})
	if err := s.Commit(ctx, rangeCommit(1, 0, 5, 5)); err == nil {
		t.Error("a sink opened to adopt committed")
	}

	req := sdk.AdoptRequest{Stream: "twitter", StreamID: "topic-id", LogEnds: logEnds}
	found, err := s.Adopt(ctx, req)
	if err != nil {
		t.Fatal(err)
	}
	want := []sdk.AdoptedRange{
		{OffsetRange: sdk.OffsetRange{Partition: 0, Start: 0, End: 25}, Ranges: 2, Rows: 2, Count: 25, FirstWindow: minute, LastWindow: minute},
		{OffsetRange: sdk.OffsetRange{Partition: 2, Start: 5, End: 8}, Ranges: 1, Rows: 1, Count: 3, FirstWindow: minute, LastWindow: minute},
	}
	if !reflect.DeepEqual(found.Partitions, want) || len(found.Refusals) > 0 || found.Recorded || found.Table != db+".twitter" {
		t.Fatalf("adopt without Record found %+v, want partitions %+v, no refusal, nothing recorded", found, want)
	}
	if n := countRows(t, admin, "SELECT COUNT(*) FROM "+quoteIdent(db)+".kappa_offsets"); n != 0 {
		t.Fatalf("adopt without Record stored %d positions", n)
	}

	req.Record = true
	if found, err = s.Adopt(ctx, req); err != nil || !found.Recorded {
		t.Fatalf("adopt: %+v, %v, want it recorded", found, err)
	}
	if got := positions(t, s); !reflect.DeepEqual(got, map[int32]int64{0: 25, 2: 8}) {
		t.Errorf("positions %v, want partition 0 at 25 and 2 at 8", got)
	}
	if n := countRows(t, admin, "SELECT COUNT(*) FROM "+quoteIdent(db)+".kappa_offsets WHERE stream_id = 'topic-id'"); n != 2 {
		t.Errorf("%d positions carry the stream ID, want 2", n)
	}
	if _, err := openAs(t, db, "other", "twitter"); err == nil || !strings.Contains(err.Error(), `belongs to pipeline "tweets"`) {
		t.Errorf("another pipeline on the adopted table: %v, want it refused as the adopter's", err)
	}

	k, err := openAs(t, db, "tweets", "twitter")
	if err != nil {
		t.Fatalf("the adopter opening its table: %v", err)
	}
	if err := k.Commit(ctx, rangeCommit(0, 25, 30, 5)); err != nil {
		t.Fatalf("a commit from the adopted position: %v", err)
	}
	if err := k.Commit(ctx, rangeCommit(0, 30, 40, 10)); err != nil {
		t.Fatal(err)
	}
	if _, err := k.Compact(ctx, sdk.CompactRequest{Full: true}); err != nil {
		t.Fatalf("compact: %v", err)
	}
	audit, err := k.Audit(ctx)
	if err != nil {
		t.Fatal(err)
	}
	wantAdopted := []sdk.OffsetRange{{Partition: 0, Start: 0, End: 25}, {Partition: 2, Start: 5, End: 8}}
	if len(audit) != 1 || !reflect.DeepEqual(audit[0].Adopted, wantAdopted) || len(audit[0].Batches) != 1 || audit[0].Batches[0].OffsetRange != (sdk.OffsetRange{Partition: 0, Start: 25, End: 40}) {
		t.Errorf("audit after commits and compaction: %+v, want adopted %v and Kappa's ranges merged into [25, 40)", audit, wantAdopted)
	}
	if n := countRows(t, admin, "SELECT COUNT(*) FROM "+quoteIdent(db)+".twitter WHERE end_offset <= 25"); n != 3 {
		t.Errorf("%d of the job's rows left after compaction, want its 3 untouched", n)
	}

	found, err = s.Adopt(ctx, req)
	if err != nil || found.Recorded || len(found.Refusals) != 1 || !strings.Contains(found.Refusals[0], `pipeline "tweets" already has positions`) {
		t.Errorf("second adopt: %+v, %v, want one refusal naming the positions", found, err)
	}
}

// Rows that cannot be one job's reading of this stream, a table another
// pipeline owns, and an empty table are refused, each with its reason,
// and nothing is recorded.
func TestAdoptRefusals(t *testing.T) {
	for _, c := range []struct {
		name   string
		ranges []sdk.OffsetRange
		owner  string
		want   string
	}{
		{"overlap", []sdk.OffsetRange{{Partition: 1, Start: 0, End: 10}, {Partition: 1, Start: 5, End: 20}}, "", "overlapping ranges: partition 1: [5, 20) overlaps offsets below 10"},
		{"past the log end", []sdk.OffsetRange{{Partition: 2, Start: 90, End: 101}}, "", "partition 2: its rows reach offset 101 (max(end_offset)), past the partition's log end 100"},
		{"no such partition", []sdk.OffsetRange{{Partition: 7, Start: 0, End: 1}}, "", "stream twitter has no partition 7 (it has 3)"},
		{"reversed range", []sdk.OffsetRange{{Partition: 0, Start: 9, End: 4}}, "", "empty or reversed ranges: partition 0 [9, 4)"},
		{"owned by another pipeline", []sdk.OffsetRange{{Partition: 0, Start: 0, End: 4}}, "other", `belongs to pipeline "other"`},
		{"empty", nil, "", "holds no rows: there is nothing to adopt"},
	} {
		t.Run(c.name, func(t *testing.T) {
			db, admin := testDatabase(t)
			jobTable(t, admin, db, c.ranges...)
			s := openSink(t, sdk.Setup{Config: sinkConfig(db, ""), Adopting: true})
			if c.owner != "" {
				if _, err := admin.Exec("INSERT INTO "+quoteIdent(db)+".kappa_tables VALUES ('twitter', ?, NOW())", c.owner); err != nil {
					t.Fatal(err)
				}
			}
			found, err := s.Adopt(context.Background(), sdk.AdoptRequest{Stream: "twitter", LogEnds: logEnds, Record: true})
			if err != nil || found.Recorded || !strings.Contains(strings.Join(found.Refusals, "\n"), c.want) {
				t.Fatalf("adopt: %+v, %v, want a refusal saying %q", found, err, c.want)
			}
			if n := countRows(t, admin, "SELECT COUNT(*) FROM "+quoteIdent(db)+".kappa_offsets") +
				countRows(t, admin, "SELECT COUNT(*) FROM "+quoteIdent(db)+".kappa_batches"); n != 0 {
				t.Errorf("a refused adoption stored %d positions and batch records", n)
			}
		})
	}
}
