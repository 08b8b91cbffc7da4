package firehose

import (
	"bytes"
	"strings"
	"testing"
	"time"
)

func TestTruthCSV(t *testing.T) {
	tr := newTruth()
	base := time.Date(2016, 6, 1, 19, 36, 0, 0, time.UTC).UnixMilli()
	tr.add(base+59_999, "en")
	tr.add(base, "ja")
	tr.add(base-1, "en") // 19:35:59.999 belongs to the minute before
	tr.add(base+60_000, "en")

	var minutes, langs bytes.Buffer
	if err := tr.WriteMinutes(&minutes); err != nil {
		t.Fatal(err)
	}
	if err := tr.WriteLangs(&langs); err != nil {
		t.Fatal(err)
	}
	wantMinutes := strings.Join([]string{
		"minute,count",
		"2016-06-01 19:35:00,1",
		"2016-06-01 19:36:00,2",
		"2016-06-01 19:37:00,1",
		"",
	}, "\n")
	if minutes.String() != wantMinutes {
		t.Errorf("minutes CSV:\n%s\nwant:\n%s", minutes.String(), wantMinutes)
	}
	wantLangs := strings.Join([]string{
		"minute,lang,count",
		"2016-06-01 19:35:00,en,1",
		"2016-06-01 19:36:00,en,1",
		"2016-06-01 19:36:00,ja,1",
		"2016-06-01 19:37:00,en,1",
		"",
	}, "\n")
	if langs.String() != wantLangs {
		t.Errorf("langs CSV:\n%s\nwant:\n%s", langs.String(), wantLangs)
	}
	if tr.Total() != 4 {
		t.Errorf("total %d, want 4", tr.Total())
	}
}

func TestTruthBeforeEpoch(t *testing.T) {
	tr := newTruth()
	tr.add(-1, "en")
	if got := tr.Minutes()[0].Minute; !got.Equal(time.Date(1969, 12, 31, 23, 59, 0, 0, time.UTC)) {
		t.Fatalf("minute of -1 ms is %v", got)
	}
}
