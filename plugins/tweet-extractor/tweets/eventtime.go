package tweets

import (
	"math"
	"time"
)

// createdAtLayout is the v1.1 form of created_at: "Wed Jun 01 19:36:00 +0000 2016".
const createdAtLayout = "Mon Jan 02 15:04:05 -0700 2006"

// The sane range of event times. Nothing was tweeted before Twitter opened
// in March 2006, and a time past 2100 is a broken clock or a unit mistake;
// a timestamp_ms of 0 (the 1970 bug of the job this replaces) falls outside.
// Fixed bounds, not the wall clock, keep Extract deterministic.
var (
	minEventTime = time.Date(2006, time.January, 1, 0, 0, 0, 0, time.UTC)
	maxEventTime = time.Date(2100, time.January, 1, 0, 0, 0, 0, time.UTC)
)

func inSaneRange(t time.Time) bool {
	return !t.Before(minEventTime) && t.Before(maxEventTime)
}

// parseMillis reads a timestamp_ms: decimal digits only (no sign, no
// fraction, no exponent), as Twitter writes it.
func parseMillis(b []byte) (time.Time, bool) {
	if len(b) == 0 {
		return time.Time{}, false
	}
	var ms int64
	for _, c := range b {
		if c < '0' || c > '9' {
			return time.Time{}, false
		}
		d := int64(c - '0')
		if ms > (math.MaxInt64-d)/10 {
			return time.Time{}, false // would overflow int64
		}
		ms = ms*10 + d
	}
	return time.UnixMilli(ms).UTC(), true
}

// parseCreatedAt reads a created_at in the v1.1 form or as RFC 3339 (v2).
func parseCreatedAt(b []byte) (time.Time, bool) {
	if t, ok := parseCreatedAtFast(b); ok {
		return t, true
	}
	if t, ok := parseRFC3339Fast(b); ok {
		return t, true
	}
	// Only forms the fast path does not know pay for this copy.
	s := string(b)
	if t, err := time.Parse(createdAtLayout, s); err == nil {
		return t.UTC(), true
	}
	if t, err := time.Parse(time.RFC3339, s); err == nil {
		return t.UTC(), true
	}
	return time.Time{}, false
}

var (
	weekdayNames = [...]string{"Sun", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat"}
	monthNames   = [...]string{"Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"}
)

// parseCreatedAtFast reads the exact form Twitter writes,
// "Wed Jun 01 19:36:00 +0000 2016", without time.Parse, which allocates a
// zone for the "+0000". It accepts only a subset of what time.Parse accepts
// with createdAtLayout and gives the same instant (a test checks both);
// anything else is left to time.Parse.
func parseCreatedAtFast(b []byte) (time.Time, bool) {
	if len(b) != len("Wed Jun 01 19:36:00 +0000 2016") ||
		b[3] != ' ' || b[7] != ' ' || b[10] != ' ' || b[13] != ':' || b[16] != ':' ||
		b[19] != ' ' || string(b[20:25]) != "+0000" || b[25] != ' ' {
		return time.Time{}, false
	}
	weekdayOK := false
	for _, w := range weekdayNames {
		if string(b[0:3]) == w {
			weekdayOK = true
			break
		}
	}
	month := 0
	for i, m := range monthNames {
		if string(b[4:7]) == m {
			month = i + 1
			break
		}
	}
	day, ok1 := digits(b[8:10])
	hour, ok2 := digits(b[11:13])
	minute, ok3 := digits(b[14:16])
	sec, ok4 := digits(b[17:19])
	year, ok5 := digits(b[26:30])
	if !weekdayOK || month == 0 || !ok1 || !ok2 || !ok3 || !ok4 || !ok5 ||
		day < 1 || day > daysIn(time.Month(month), year) || hour > 23 || minute > 59 || sec > 59 {
		return time.Time{}, false
	}
	return time.Date(year, time.Month(month), day, hour, minute, sec, 0, time.UTC), true
}

// parseRFC3339Fast reads the form v2 payloads carry,
// "2022-10-07T13:05:44.000Z" (fraction optional, 1 to 9 digits), without
// the string copy time.Parse needs. Like parseCreatedAtFast it accepts a
// subset of what time.Parse(time.RFC3339, …) accepts, with the same result.
func parseRFC3339Fast(b []byte) (time.Time, bool) {
	const whole = len("2006-01-02T15:04:05")
	if len(b) < whole+1 || b[len(b)-1] != 'Z' ||
		b[4] != '-' || b[7] != '-' || b[10] != 'T' || b[13] != ':' || b[16] != ':' {
		return time.Time{}, false
	}
	year, ok1 := digits(b[0:4])
	month, ok2 := digits(b[5:7])
	day, ok3 := digits(b[8:10])
	hour, ok4 := digits(b[11:13])
	minute, ok5 := digits(b[14:16])
	sec, ok6 := digits(b[17:19])
	if !ok1 || !ok2 || !ok3 || !ok4 || !ok5 || !ok6 || month < 1 || month > 12 ||
		day < 1 || day > daysIn(time.Month(month), year) || hour > 23 || minute > 59 || sec > 59 {
		return time.Time{}, false
	}
	nsec := 0
	if frac := b[whole : len(b)-1]; len(frac) > 0 {
		if frac[0] != '.' || len(frac) < 2 || len(frac) > 10 {
			return time.Time{}, false
		}
		n, ok := digits(frac[1:])
		if !ok {
			return time.Time{}, false
		}
		for range 10 - len(frac) {
			n *= 10
		}
		nsec = n
	}
	return time.Date(year, time.Month(month), day, hour, minute, sec, nsec, time.UTC), true
}

func digits(b []byte) (int, bool) {
	n := 0
	for _, c := range b {
		if c < '0' || c > '9' {
			return 0, false
		}
		n = n*10 + int(c-'0')
	}
	return n, true
}

func daysIn(m time.Month, year int) int {
	return time.Date(year, m+1, 0, 0, 0, 0, 0, time.UTC).Day()
}
