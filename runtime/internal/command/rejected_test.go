package command

import (
	"bytes"
	"strings"
	"testing"
	"time"

	"github.com/kappa-stream/kappa/sdk"
)

func deadLetter(offset int64, value string, length int64) sdk.StoredDeadLetter {
	return sdk.StoredDeadLetter{DeadLetter: sdk.DeadLetter{Partition: 1, Offset: offset, Reason: "malformed JSON", Value: []byte(value), Length: length}}
}

// --raw writes bytes exactly, a newline after each; a record with a
// newline in it, or truncated, is left out and named, since kcat -P
// would not produce it again as it was.
func TestRawWriterLeavesOutWhatAReplayWouldChange(t *testing.T) {
	var out bytes.Buffer
	w := NewRawWriter(&out, nil)
	for _, d := range []sdk.StoredDeadLetter{
		deadLetter(1, "{\"a\":\x00\xff", 7),
		deadLetter(2, "two\nlines", 9),
		deadLetter(3, "cut", 10),
		deadLetter(4, "", 0),
	} {
		if err := w.Write(d); err != nil {
			t.Fatal(err)
		}
	}
	if got := out.String(); got != "{\"a\":\x00\xff\n" {
		t.Errorf("wrote %q", got)
	}
	if w.Written != 1 || w.LeftOut != 3 || len(w.Reasons) != 3 ||
		!strings.Contains(w.Reasons[0], "offset 2: left out: its bytes contain the delimiter \"\\n\"") ||
		!strings.Contains(w.Reasons[1], "offset 3: left out: truncated: the sink kept 3 of its 10 bytes") ||
		!strings.Contains(w.Reasons[2], "offset 4: left out: empty") {
		t.Errorf("written %d, left out %d: %q", w.Written, w.LeftOut, w.Reasons)
	}
	// Another delimiter lets the record with a newline through.
	delim, err := ParseDelimiter(`\x1e`)
	if err != nil || string(delim) != "\x1e" {
		t.Fatalf("ParseDelimiter = %q, %v", delim, err)
	}
	out.Reset()
	w = NewRawWriter(&out, delim)
	if err := w.Write(deadLetter(2, "two\nlines", 9)); err != nil || out.String() != "two\nlines\x1e" || w.LeftOut != 0 {
		t.Errorf("with \\x1e wrote %q, left out %d, %v", out.String(), w.LeftOut, err)
	}
	if _, err := ParseDelimiter(""); err == nil {
		t.Error("an empty delimiter was accepted")
	}
}

func TestRejectedTableShowsAQuotedPreview(t *testing.T) {
	var out bytes.Buffer
	table := NewRejectedTable(&out)
	d := deadLetter(7, strings.Repeat("é", 40), 200)
	d.Time = time.Date(2016, 6, 1, 19, 36, 0, 0, time.UTC)
	table.Add(d)
	table.Add(deadLetter(8, "a\nb\x00", 4))
	if err := table.Flush(); err != nil {
		t.Fatal(err)
	}
	got := out.String()
	for _, want := range []string{"PARTITION", "2016-06-01T19:36:00.000Z", "200 (kept 80)", `"` + strings.Repeat("é", 30) + `"…`, `"a\nb\x00"`, "2 rejected records"} {
		if !strings.Contains(got, want) {
			t.Errorf("table lacks %q:\n%s", want, got)
		}
	}
}
