package firehose

import (
	"bufio"
	"cmp"
	"fmt"
	"io"
	"slices"
	"strconv"
	"time"
)

// MinuteLayout is how truth files write a minute: MySQL's DATETIME text
// form, so a file compares line by line with a query's output.
const MinuteLayout = "2006-01-02 15:04:05"

// Truth is the number of valid tweets per UTC minute of event time, overall
// and per language.
type Truth struct {
	perMinute map[int64]int64 // Unix minute → tweets
	perLang   map[langMinute]int64
	total     int64
}

type langMinute struct {
	minute int64
	lang   string
}

func newTruth() *Truth {
	return &Truth{perMinute: make(map[int64]int64), perLang: make(map[langMinute]int64)}
}

func (t *Truth) add(eventMs int64, lang string) {
	minute := floorDiv(eventMs, 60_000)
	t.perMinute[minute]++
	t.perLang[langMinute{minute, lang}]++
	t.total++
}

func floorDiv(a, b int64) int64 {
	q := a / b
	if a%b != 0 && a < 0 {
		q--
	}
	return q
}

// MinuteCount is the number of tweets in one UTC minute.
type MinuteCount struct {
	Minute time.Time
	Count  int64
}

// LangCount is the number of tweets of one language in one UTC minute.
type LangCount struct {
	Minute time.Time
	Lang   string
	Count  int64
}

// Total is the number of tweets counted.
func (t *Truth) Total() int64 { return t.total }

// Minutes returns the counts sorted by minute.
func (t *Truth) Minutes() []MinuteCount {
	out := make([]MinuteCount, 0, len(t.perMinute))
	for m, n := range t.perMinute {
		out = append(out, MinuteCount{Minute: time.Unix(m*60, 0).UTC(), Count: n})
	}
	slices.SortFunc(out, func(a, b MinuteCount) int { return a.Minute.Compare(b.Minute) })
	return out
}

// Langs returns the counts sorted by minute, then language.
func (t *Truth) Langs() []LangCount {
	out := make([]LangCount, 0, len(t.perLang))
	for k, n := range t.perLang {
		out = append(out, LangCount{Minute: time.Unix(k.minute*60, 0).UTC(), Lang: k.lang, Count: n})
	}
	slices.SortFunc(out, func(a, b LangCount) int {
		return cmp.Or(a.Minute.Compare(b.Minute), cmp.Compare(a.Lang, b.Lang))
	})
	return out
}

// WriteMinutes writes the CSV `minute,count`, one row per minute.
func (t *Truth) WriteMinutes(w io.Writer) error {
	bw := bufio.NewWriter(w)
	bw.WriteString("minute,count\n")
	for _, mc := range t.Minutes() {
		bw.WriteString(mc.Minute.Format(MinuteLayout))
		bw.WriteByte(',')
		bw.WriteString(strconv.FormatInt(mc.Count, 10))
		bw.WriteByte('\n')
	}
	if err := bw.Flush(); err != nil {
		return fmt.Errorf("write minute truth: %w", err)
	}
	return nil
}

// WriteLangs writes the CSV `minute,lang,count`. Language codes are plain
// letters, so no field needs quoting.
func (t *Truth) WriteLangs(w io.Writer) error {
	bw := bufio.NewWriter(w)
	bw.WriteString("minute,lang,count\n")
	for _, lc := range t.Langs() {
		bw.WriteString(lc.Minute.Format(MinuteLayout))
		bw.WriteByte(',')
		bw.WriteString(lc.Lang)
		bw.WriteByte(',')
		bw.WriteString(strconv.FormatInt(lc.Count, 10))
		bw.WriteByte('\n')
	}
	if err := bw.Flush(); err != nil {
		return fmt.Errorf("write language truth: %w", err)
	}
	return nil
}
