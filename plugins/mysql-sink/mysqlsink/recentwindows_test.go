package mysqlsink

import (
	"context"
	"testing"
	"time"

	"github.com/kappa-stream/kappa/sdk"
)

// RecentWindows sums each window over partitions and ranges, newest first,
// and returns only the n newest.
func TestRecentWindowsSumsTheNewestWindows(t *testing.T) {
	db, _ := testDatabase(t)
	s := openSink(t, sdk.Setup{Config: sinkConfig(db, "")})
	ctx := context.Background()
	// Partition 0: windows 0..3 count 1,2,3,4; partition 1: windows 0..2
	// count 10,20,30; then partition 0 again in window 3: 100.
	for _, c := range []sdk.Commit{rangeCommit(0, 0, 10, 1, 2, 3, 4), rangeCommit(1, 0, 10, 10, 20, 30)} {
		if err := s.Commit(ctx, c); err != nil {
			t.Fatal(err)
		}
	}
	late := rangeCommit(0, 10, 12)
	late.Rows = []sdk.Row{{OffsetRange: late.Ranges[0].OffsetRange, Window: minute.Add(3 * time.Minute), Count: 100}}
	if err := s.Commit(ctx, late); err != nil {
		t.Fatal(err)
	}
	got, err := s.RecentWindows(ctx, 3)
	if err != nil {
		t.Fatal(err)
	}
	want := []sdk.WindowTotal{{Window: minute.Add(3 * time.Minute), Count: 104}, {Window: minute.Add(2 * time.Minute), Count: 33},
		{Window: minute.Add(time.Minute), Count: 22}}
	if len(got) != len(want) {
		t.Fatalf("RecentWindows(3) = %v, want %v", got, want)
	}
	for i := range want {
		if !got[i].Window.Equal(want[i].Window) || got[i].Count != want[i].Count {
			t.Fatalf("RecentWindows(3) = %v, want %v", got, want)
		}
	}
	if all, err := s.RecentWindows(ctx, 60); err != nil || len(all) != 4 {
		t.Fatalf("RecentWindows(60) = %v, %v; want the 4 windows", all, err)
	}
}
