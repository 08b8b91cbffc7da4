package mysqlsink

import (
	"database/sql"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/go-sql-driver/mysql"

	"github.com/kappa-stream/kappa/sdk"
)

func TestCreateAggregateTableIsThe2016Layout(t *testing.T) {
	got := createTableSQL(aggregateSchema("twitter", nil, false))
	want := "CREATE TABLE IF NOT EXISTS `twitter` (`start_offset` bigint NOT NULL, `end_offset` bigint NOT NULL, " +
		"`timestamp` datetime NOT NULL, `partition_id` int NOT NULL, `count` int NOT NULL, " +
		"PRIMARY KEY (`start_offset`, `end_offset`, `timestamp`, `partition_id`), " +
		"KEY `kappa_time` (`timestamp`, `partition_id`, `count`)) ENGINE=InnoDB"
	if got != want {
		t.Fatalf("got\n%s\nwant\n%s", got, want)
	}
}

func TestCreateAggregateTableWithDimensions(t *testing.T) {
	got := createTableSQL(aggregateSchema("tweets_by_lang", []string{"lang", "country"}, false))
	for _, part := range []string{
		"CREATE TABLE IF NOT EXISTS `tweets_by_lang` (",
		"`count` int NOT NULL, `lang` varchar(191) CHARACTER SET utf8mb4 COLLATE utf8mb4_bin NOT NULL, `country` varchar(191)",
		"PRIMARY KEY (`start_offset`, `end_offset`, `timestamp`, `partition_id`, `lang`, `country`), " +
			"KEY `kappa_time` (`timestamp`, `partition_id`, `lang`, `country`, `count`))",
	} {
		if !strings.Contains(got, part) {
			t.Errorf("%s\ndoes not contain\n%s", got, part)
		}
	}
}

func TestQuoteIdentKeepsBackticksInert(t *testing.T) {
	if got, want := quoteIdent("a`b"), "`a``b`"; got != want {
		t.Fatalf("got %s, want %s", got, want)
	}
}

func TestStatements(t *testing.T) {
	s := newStatements(offsetsSchema("offs"), aggregateSchema("twitter", []string{"lang"}, false), batchesSchema("bats"))
	if want := "UPDATE `offs` SET `next_offset` = ?, `stream_id` = ?, `updated_at` = ? WHERE `pipeline` = ? AND `stream` = ? AND `partition_id` = ? AND `next_offset` = ?"; s.advance != want {
		t.Errorf("advance:\n%s\nwant\n%s", s.advance, want)
	}
	if want := "INSERT INTO `twitter` (`start_offset`, `end_offset`, `timestamp`, `partition_id`, `count`, `lang`) VALUES (?, ?, ?, ?, ?, ?), (?, ?, ?, ?, ?, ?)"; s.insertRowsSQL(2) != want {
		t.Errorf("rows:\n%s\nwant\n%s", s.insertRowsSQL(2), want)
	}
	if want := "INSERT INTO `bats` (`pipeline`, `stream`, `partition_id`, `start_offset`, `end_offset`, `records`, `facts`, `skipped`, `rejected`, `lost`, `committed_at`) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"; s.insertBatchesSQL(1) != want {
		t.Errorf("batches:\n%s\nwant\n%s", s.insertBatchesSQL(1), want)
	}
	full := s.insertRowsSQL(maxRowsPerInsert)
	if n := strings.Count(full, "?"); n != 6*maxRowsPerInsert {
		t.Errorf("full insert has %d placeholders, want %d", n, 6*maxRowsPerInsert)
	}
	if full != insertSQL("twitter", s.aggregateColumns, maxRowsPerInsert) {
		t.Error("cached full insert differs from a built one")
	}
	if !strings.Contains(s.positions, "FROM `offs` WHERE `pipeline` = ? AND `stream` = ?") {
		t.Errorf("positions: %s", s.positions)
	}
}

func TestAdvanceAllSQL(t *testing.T) {
	got := advanceAllSQL("offs", 2)
	want := "UPDATE `offs` SET `next_offset` = CASE `partition_id` WHEN ? THEN ? WHEN ? THEN ? END, `stream_id` = ?, `updated_at` = ?" +
		" WHERE `pipeline` = ? AND `stream` = ? AND ((`partition_id` = ? AND `next_offset` = ?) OR (`partition_id` = ? AND `next_offset` = ?))"
	if got != want {
		t.Fatalf("got\n%s\nwant\n%s", got, want)
	}
}

func TestMismatches(t *testing.T) {
	want := aggregateSchema("twitter", nil, false)
	good := tableLayout{Engine: "InnoDB", PrimaryKey: []string{"start_offset", "end_offset", "timestamp", "partition_id"}}
	for _, c := range want.Columns {
		good.Columns = append(good.Columns, existingColumn{Name: strings.ToUpper(c.Name), DataType: c.DataType, Nullable: "NO"})
	}
	if p := want.mismatches(good); len(p) != 0 {
		t.Fatalf("matching layout reported: %v", p)
	}

	bad := good
	bad.Engine = "MyISAM"
	bad.Columns = append([]existingColumn(nil), good.Columns...)
	bad.Columns[2].DataType = "timestamp"
	bad.Columns[4].Nullable = "YES"
	bad.Columns = append(bad.Columns, existingColumn{Name: "lang", DataType: "varchar", Length: sql.NullInt64{Int64: 191, Valid: true}, Nullable: "NO"})
	bad.PrimaryKey = []string{"start_offset"}
	got := strings.Join(want.mismatches(bad), "\n")
	for _, part := range []string{"engine is MyISAM", "column timestamp is timestamp, want datetime", "column count is nullable", "unexpected column lang", "primary key is (start_offset)"} {
		if !strings.Contains(got, part) {
			t.Errorf("mismatches\n%s\ndo not mention %q", got, part)
		}
	}
	withDims := aggregateSchema("twitter", []string{"lang"}, false)
	short := bad
	short.Engine = "InnoDB"
	short.Columns = append([]existingColumn(nil), good.Columns...)
	short.Columns = append(short.Columns, existingColumn{Name: "lang", DataType: "varchar", Length: sql.NullInt64{Int64: 20, Valid: true}, Nullable: "NO"})
	short.PrimaryKey = withDims.PrimaryKey
	if got := strings.Join(withDims.mismatches(short), "\n"); !strings.Contains(got, "column lang is varchar(20), want varchar(191)") {
		t.Errorf("short dimension column not reported: %s", got)
	}
}

func TestCheckCommit(t *testing.T) {
	s := &Sink{dimensions: 1}
	window := time.Date(2016, 6, 1, 19, 36, 0, 0, time.UTC)
	r0 := sdk.OffsetRange{Partition: 0, Start: 0, End: 10}
	r1 := sdk.OffsetRange{Partition: 1, Start: 5, End: 6}
	good := sdk.Commit{
		Stream: "twitter",
		Ranges: []sdk.RangeStats{{OffsetRange: r1}, {OffsetRange: r0}},
		Rows:   []sdk.Row{{OffsetRange: r0, Window: window, Dims: []string{"en"}, Count: 3}},
	}
	ranges, err := s.checkCommit(good)
	if err != nil {
		t.Fatal(err)
	}
	if ranges[0].Partition != 0 || ranges[1].Partition != 1 || good.Ranges[0].Partition != 1 {
		t.Fatalf("ranges not sorted into a copy: %v (caller's %v)", ranges, good.Ranges)
	}
	for name, mutate := range map[string]func(c *sdk.Commit){
		"empty range, records": func(c *sdk.Commit) { c.Ranges[0].End, c.Ranges[0].Records = c.Ranges[0].Start, 1 },
		"long stream ID":       func(c *sdk.Commit) { c.StreamID = strings.Repeat("x", 65) },
		"backwards range":      func(c *sdk.Commit) { c.Ranges[0].End = 1 },
		"partition twice":      func(c *sdk.Commit) { c.Ranges[0].Partition = 0 },
		"no stream":            func(c *sdk.Commit) { c.Stream = "" },
		"row of no range":      func(c *sdk.Commit) { c.Rows[0].Partition = 7 },
		"row of other range":   func(c *sdk.Commit) { c.Rows[0].End = 9 },
		"missing dimension":    func(c *sdk.Commit) { c.Rows[0].Dims = nil },
		"long dimension":       func(c *sdk.Commit) { c.Rows[0].Dims = []string{strings.Repeat("x", 192)} },
		"invalid utf-8":        func(c *sdk.Commit) { c.Rows[0].Dims = []string{"\xff"} },
		"huge count":           func(c *sdk.Commit) { c.Rows[0].Count = 1 << 31 },
		"sum":                  func(c *sdk.Commit) { c.Rows[0].Sum = 1.5 },
		"sub-second window":    func(c *sdk.Commit) { c.Rows[0].Window = window.Add(time.Millisecond) },
		"zero window":          func(c *sdk.Commit) { c.Rows[0].Window = time.Time{} },
		"rows, no ranges":      func(c *sdk.Commit) { c.Ranges = nil },
	} {
		c := good
		c.Ranges = append([]sdk.RangeStats(nil), good.Ranges...)
		c.Rows = append([]sdk.Row(nil), good.Rows...)
		mutate(&c)
		if _, err := s.checkCommit(c); err == nil {
			t.Errorf("%s: accepted", name)
		}
	}
}

func TestFencedError(t *testing.T) {
	err := fmt.Errorf("mysql-sink: commit: %w", &FencedError{Stream: "twitter", Partition: 3, Expected: 10, Found: 20})
	if !errors.Is(err, sdk.ErrFenced) {
		t.Fatal("does not wrap sdk.ErrFenced")
	}
	for _, part := range []string{"partition 3", "expected position 10", "found 20"} {
		if !strings.Contains(err.Error(), part) {
			t.Errorf("%q does not mention %q", err, part)
		}
	}
	if retryable(err) {
		t.Error("a fenced commit is not retryable")
	}
}

func TestRetryable(t *testing.T) {
	for _, tt := range []struct {
		err  error
		want bool
	}{
		{fmt.Errorf("x: %w", &mysql.MySQLError{Number: 1213}), true},
		{fmt.Errorf("x: %w", &mysql.MySQLError{Number: 1205}), true},
		{fmt.Errorf("x: %w", mysql.ErrInvalidConn), true},
		{&mysql.MySQLError{Number: 1062}, false},
		{&mysql.MySQLError{Number: 1146}, false},
		{errors.New("other"), false},
		{nil, false},
	} {
		if got := retryable(tt.err); got != tt.want {
			t.Errorf("retryable(%v) = %v, want %v", tt.err, got, tt.want)
		}
	}
}

func TestCreateAggregateTableWithSum(t *testing.T) {
	got := createTableSQL(aggregateSchema("t", []string{"lang"}, true))
	for _, part := range []string{
		"`count` int NOT NULL, `sum` double NOT NULL, `lang` varchar(191)",
		"PRIMARY KEY (`start_offset`, `end_offset`, `timestamp`, `partition_id`, `lang`), KEY `kappa_time` (`timestamp`, `partition_id`, `lang`, `count`, `sum`))",
	} {
		if !strings.Contains(got, part) {
			t.Errorf("%s\ndoes not contain\n%s", got, part)
		}
	}
}
