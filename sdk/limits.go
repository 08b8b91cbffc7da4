package sdk

import (
	"fmt"
	"math"
	"strings"
	"time"
	"unicode/utf8"
)

// Event times a fact may carry: they travel, and are put in windows, as
// int64 nanoseconds since 1970, which reach from 1677-09-21 to 2262-04-11.
// The bounds are whole years inside that, so that a window holding the
// earliest or latest time starts and ends inside it too.
var (
	EarliestEventTime = time.Date(1678, 1, 1, 0, 0, 0, 0, time.UTC)
	// LatestEventTime is the first instant too late.
	LatestEventTime = time.Date(2262, 1, 1, 0, 0, 0, 0, time.UTC)
)

// CheckEventTime says why t cannot be a fact's event time, or returns nil.
// A record with such a fact is rejected with the error's message as its
// reason: the SDK does it in an extractor plugin before its facts cross to
// the runtime, and the runtime for extractors it runs in its own process.
// Before the check, year 3000 silently became 1830.
func CheckEventTime(t time.Time) error {
	if t.Before(EarliestEventTime) || !t.Before(LatestEventTime) {
		return fmt.Errorf("event time %s outside 1678–2261", t.UTC().Format(time.RFC3339))
	}
	return nil
}

// eventTimeReason is CheckEventTime as a reason for RejectFacts.
func eventTimeReason(f Fact) string {
	if err := CheckEventTime(f.Time); err != nil {
		return err.Error()
	}
	return ""
}

// FactLimits is what a sink can store of a fact. A sink publishes them in
// its Info (Describe); the runtime rejects every record with a fact outside
// them before aggregating it. A value the sink cannot store is then a
// rejected record, counted with its reason while its offsets advance,
// rather than a batch that fails at every try and blocks every partition.
// The zero value sets no limit.
type FactLimits struct {
	// MaxDimensionChars is the most characters (Unicode code points) a
	// dimension value may hold; 0 sets no limit.
	MaxDimensionChars int `json:"max_dimension_chars,omitempty"`
	// DimensionsUTF8 requires dimension values to be valid UTF-8.
	DimensionsUTF8 bool `json:"dimensions_utf8,omitempty"`
	// NoTrailingSpace refuses dimension values that end in a space: a
	// column with a PAD SPACE collation (MySQL's and MariaDB's _bin ones)
	// holds "en" and "en " as one key, so their rows would collide.
	NoTrailingSpace bool `json:"no_trailing_space,omitempty"`
	// NoNUL refuses dimension values holding a NUL character, which
	// PostgreSQL's text types cannot store.
	NoNUL bool `json:"no_nul,omitempty"`
	// EarliestWindow and LatestWindow bound the window starts the sink
	// stores, both included; the zero time sets no bound.
	EarliestWindow time.Time `json:"earliest_window,omitzero"`
	LatestWindow   time.Time `json:"latest_window,omitzero"`
	// FiniteValues requires the facts' values to be finite numbers: a sum
	// with a NaN or an infinity in it is one too.
	FiniteValues bool `json:"finite_values,omitempty"`
}

// Check says why the sink cannot store fact f, whose window starts at
// window and whose dimension values are named by dimensions, or returns
// "" when it can.
func (l FactLimits) Check(f Fact, window time.Time, dimensions []string) string {
	for i, d := range f.Dims {
		name := fmt.Sprint(i)
		if i < len(dimensions) {
			name = dimensions[i]
		}
		if l.DimensionsUTF8 && !utf8.ValidString(d) {
			return fmt.Sprintf("dimension %s: not UTF-8, the sink stores UTF-8 only", name)
		}
		if l.NoNUL && strings.IndexByte(d, 0) >= 0 {
			return fmt.Sprintf("dimension %s: holds a NUL character, which the sink cannot store", name)
		}
		if l.NoTrailingSpace && strings.HasSuffix(d, " ") {
			return fmt.Sprintf("dimension %s: ends in a space, which the sink does not tell apart from the value without it", name)
		}
		if l.MaxDimensionChars > 0 && len(d) > l.MaxDimensionChars {
			if n := utf8.RuneCountInString(d); n > l.MaxDimensionChars {
				return fmt.Sprintf("dimension %s: %d characters, the sink stores at most %d", name, n, l.MaxDimensionChars)
			}
		}
	}
	if !l.EarliestWindow.IsZero() && window.Before(l.EarliestWindow) || !l.LatestWindow.IsZero() && window.After(l.LatestWindow) {
		return fmt.Sprintf("window %s: outside %s–%s, which the sink stores", window.UTC().Format(time.RFC3339),
			l.EarliestWindow.UTC().Format(time.DateOnly), l.LatestWindow.UTC().Format(time.DateOnly))
	}
	if l.FiniteValues && (math.IsNaN(f.Value) || math.IsInf(f.Value, 0)) {
		return fmt.Sprintf("value %v: the sink stores finite numbers only", f.Value)
	}
	return ""
}

// RejectFacts turns every record that has a fact for which reason returns
// a non-empty reason into one Reject with that reason (the first found),
// dropping all of that record's facts; the other facts keep their order.
// It is how the SDK and the runtime screen facts that cannot be stored.
func (x *Extraction) RejectFacts(reason func(Fact) string) {
	var rejected map[int]bool
	for _, f := range x.Facts {
		if rejected[f.Record] {
			continue
		}
		if r := reason(f); r != "" {
			if rejected == nil {
				rejected = make(map[int]bool)
			}
			rejected[f.Record] = true
			x.Reject(f.Record, r)
		}
	}
	if rejected == nil {
		return
	}
	kept := x.Facts[:0]
	for _, f := range x.Facts {
		if !rejected[f.Record] {
			kept = append(kept, f)
		}
	}
	clear(x.Facts[len(kept):]) // keep no reference to dropped dimension values
	x.Facts = kept
}
