package deadletter

import (
	"errors"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/kappa-stream/kappa/internal/sinkconfig"
	"github.com/kappa-stream/kappa/sdk"
)

func TestKeepingFollowsTheConfig(t *testing.T) {
	cfg := sinkconfig.DefaultTables()
	off := FromConfig(cfg)
	if off.Policy().Enabled || !errors.Is(off.Listable("x-sink"), sdk.ErrPermanent) {
		t.Errorf("without dead_letters: %+v, %v", off.Policy(), off.Listable("x-sink"))
	}
	if _, ok := off.ExpireBefore(time.Now()); ok {
		t.Error("nothing kept, yet something expires")
	}
	cfg.DeadLetters, cfg.DeadLettersMaxBytes, cfg.DeadLettersRetention = "dead", 4, time.Hour
	on := FromConfig(cfg)
	if p := on.Policy(); !p.Enabled || p.MaxBytes != 4 || on.Listable("x-sink") != nil {
		t.Errorf("with dead_letters: %+v", p)
	}
	now := time.Date(2026, 1, 1, 12, 0, 0, 0, time.UTC)
	if cutoff, ok := on.ExpireBefore(now); !ok || !cutoff.Equal(now.Add(-time.Hour)) {
		t.Errorf("cutoff %v, %v", cutoff, ok)
	}
	value, length, truncated := on.Stored(sdk.DeadLetter{Value: []byte("abcdefgh"), Length: 8})
	if string(value) != "abcd" || length != 8 || !truncated {
		t.Errorf("a long value stored as %q, %d, %v", value, length, truncated)
	}
	if value, length, truncated = on.Stored(sdk.DeadLetter{}); value == nil || length != 0 || truncated {
		t.Errorf("an empty value stored as %#v, %d, %v; want non-nil", value, length, truncated)
	}
}

func TestReasonAndRanges(t *testing.T) {
	long := strings.Repeat("é", ReasonChars+5) + "\xff"
	if r := Reason(long); utf8.RuneCountInString(r) != ReasonChars || !strings.HasSuffix(r, "…") {
		t.Errorf("a long reason kept %d characters", utf8.RuneCountInString(r))
	}
	if r := Reason("bad \xff byte"); r != "bad \uFFFD byte" {
		t.Errorf("invalid UTF-8 kept as %q", r)
	}
	ranges := []sdk.RangeStats{{OffsetRange: sdk.OffsetRange{Partition: 1, Start: 10, End: 20}}}
	if err := InRanges(ranges, []sdk.DeadLetter{{Partition: 1, Offset: 19}}); err != nil {
		t.Error(err)
	}
	if err := InRanges(ranges, []sdk.DeadLetter{{Partition: 1, Offset: 20}}); err == nil {
		t.Error("offset 20 outside [10, 20) accepted")
	}
}

func TestWherePagesInKeyOrder(t *testing.T) {
	p := int32(2)
	var args []any
	got := Where("tweets", sdk.DeadLetterQuery{Stream: "s", Reason: "r", Partition: &p, After: &sdk.DeadLetterPosition{Stream: "s", Partition: 2, Offset: 7}},
		func(c string) string { return "`" + c + "`" }, func(v any) string { args = append(args, v); return "?" })
	want := "`pipeline` = ? AND `stream` = ? AND `reason` = ? AND `partition_id` = ? AND " +
		"(`stream` > ? OR `stream` = ? AND (`partition_id` > ? OR `partition_id` = ? AND `record_offset` > ?))"
	if got != want || len(args) != 9 || args[8] != int64(7) {
		t.Errorf("Where =\n%s %v\nwant\n%s", got, args, want)
	}
}
