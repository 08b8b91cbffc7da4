package firehose

import (
	"fmt"
	"strconv"
	"time"
	"unicode/utf16"
	"unicode/utf8"
)

// noticeKinds are the v1.1 stream's non-tweet messages with their share of
// notices: deletes dominate a real sample stream, limits follow.
var noticeKinds = []struct {
	name   string
	weight int
}{
	{"delete", 70},
	{"limit", 18},
	{"scrub_geo", 3},
	{"status_withheld", 3},
	{"user_withheld", 2},
	{"disconnect", 2},
	{"warning", 2},
}

var noticeWeights = func() weighted {
	w := make([]int, len(noticeKinds))
	for i, k := range noticeKinds {
		w[i] = k.weight
	}
	return newWeighted(w)
}()

var withheldCountries = []string{`["DE"]`, `["DE","AR"]`, `["TR"]`, `["RU"]`, `["IN","PK"]`, `["FR","DE"]`}

var disconnects = []string{
	`"code":4,"stream_name":"sample-statuses-firehose","reason":"Stall detected"`,
	`"code":7,"stream_name":"sample-statuses-firehose","reason":"Admin logout"`,
	`"code":12,"stream_name":"sample-statuses-firehose","reason":"Stream restarted"`,
}

// notice renders one stream notice in the shapes Twitter documented for
// v1.1. Several carry a timestamp_ms, but never at the top level: a reader
// that counts any timestamp_ms it finds counts them as tweets.
func (g *Generator) notice(b []byte, now int64) Record {
	kind := noticeKinds[noticeWeights.pick(g.rng)].name
	// Ids of tweets and accounts seen some time before now.
	statusID := snowflake(now-g.rng.Int64N(86_400_000), g.rng.Uint64(), g.rng.Uint64())
	userID := g.pools.users[g.rng.IntN(len(g.pools.users))].id
	switch kind {
	case "delete":
		b = append(b, `{"delete":{"status":{"id":`...)
		b = strconv.AppendUint(b, statusID, 10)
		b = append(b, `,"id_str":"`...)
		b = strconv.AppendUint(b, statusID, 10)
		b = append(b, `","user_id":`...)
		b = strconv.AppendUint(b, userID, 10)
		b = append(b, `,"user_id_str":"`...)
		b = strconv.AppendUint(b, userID, 10)
		b = append(b, `"}`...)
		if g.rng.IntN(4) > 0 {
			b = appendTimestampMs(append(b, ','), now)
		}
		b = append(b, "}}"...)
	case "limit":
		b = append(b, `{"limit":{"track":`...)
		b = strconv.AppendInt(b, int64(1+g.rng.IntN(200_000)), 10)
		b = appendTimestampMs(append(b, ','), now)
		b = append(b, "}}"...)
	case "scrub_geo":
		b = append(b, `{"scrub_geo":{"user_id":`...)
		b = strconv.AppendUint(b, userID, 10)
		b = append(b, `,"user_id_str":"`...)
		b = strconv.AppendUint(b, userID, 10)
		b = append(b, `","up_to_status_id":`...)
		b = strconv.AppendUint(b, statusID, 10)
		b = append(b, `,"up_to_status_id_str":"`...)
		b = strconv.AppendUint(b, statusID, 10)
		b = append(b, `"}}`...)
	case "status_withheld":
		b = append(b, `{"status_withheld":{"id":`...)
		b = strconv.AppendUint(b, statusID, 10)
		b = append(b, `,"user_id":`...)
		b = strconv.AppendUint(b, userID, 10)
		b = append(b, `,"withheld_in_countries":`...)
		b = append(b, withheldCountries[g.rng.IntN(len(withheldCountries))]...)
		b = appendTimestampMs(append(b, ','), now)
		b = append(b, "}}"...)
	case "user_withheld":
		b = append(b, `{"user_withheld":{"id":`...)
		b = strconv.AppendUint(b, userID, 10)
		b = append(b, `,"withheld_in_countries":`...)
		b = append(b, withheldCountries[g.rng.IntN(len(withheldCountries))]...)
		b = append(b, "}}"...)
	case "disconnect":
		b = append(b, `{"disconnect":{`...)
		b = append(b, disconnects[g.rng.IntN(len(disconnects))]...)
		b = append(b, "}}"...)
	case "warning":
		pct := 60 + g.rng.IntN(35)
		b = append(b, `{"warning":{"code":"FALLING_BEHIND","message":"Your connection is falling behind and messages are being queued for delivery to you. Your queue is now over `...)
		b = strconv.AppendInt(b, int64(pct), 10)
		b = append(b, `% full. You will be disconnected when the queue is full.","percent_full":`...)
		b = strconv.AppendInt(b, int64(pct), 10)
		b = append(b, "}}"...)
	}
	return Record{Kind: KindNotice, Value: b, StreamTime: time.UnixMilli(now).UTC(), Notice: kind}
}

func appendTimestampMs(b []byte, ms int64) []byte {
	b = append(b, `"timestamp_ms":"`...)
	b = strconv.AppendInt(b, ms, 10)
	return append(b, '"')
}

// Malformation says how a malformed record is broken.
type Malformation uint8

const (
	// NotMalformed is the Malformation of tweets and notices.
	NotMalformed Malformation = iota
	// Truncated is a tweet cut short: invalid JSON, though its prefix may
	// well hold a timestamp_ms.
	Truncated
	// NotUTF8 is a tweet written in UTF-16 with a byte order mark.
	NotUTF8
	// Empty is a record with an empty value.
	Empty
	// Timeless is valid JSON shaped like a tweet without a top-level
	// created_at or timestamp_ms; its nested user still has a created_at.
	Timeless
	numMalformations
)

func (m Malformation) String() string {
	switch m {
	case NotMalformed:
		return "none"
	case Truncated:
		return "truncated"
	case NotUTF8:
		return "not-utf8"
	case Empty:
		return "empty"
	case Timeless:
		return "timeless"
	}
	return fmt.Sprintf("Malformation(%d)", uint8(m))
}

func (g *Generator) malformed(b []byte, now int64) Record {
	m := Malformation(1 + g.rng.IntN(int(numMalformations)-1))
	switch m {
	case Truncated:
		b = g.appendTweet(b, g.newTweet(now), false)
		b = b[:1+g.rng.IntN(len(b)-1)]
	case NotUTF8:
		b = appendUTF16(b, g.appendTweet(nil, g.newTweet(now), false))
	case Timeless:
		b = g.appendTweet(b, g.newTweet(now), true)
	}
	return Record{Kind: KindMalformed, Value: b, StreamTime: time.UnixMilli(now).UTC(), Malformation: m}
}

// appendUTF16 writes utf8Text as UTF-16LE after a byte order mark, as a
// misconfigured Windows producer would.
func appendUTF16(dst, utf8Text []byte) []byte {
	dst = append(dst, 0xff, 0xfe)
	for len(utf8Text) > 0 {
		r, size := utf8.DecodeRune(utf8Text)
		utf8Text = utf8Text[size:]
		units := [2]rune{r}
		n := 1
		if r1, r2 := utf16.EncodeRune(r); r1 != utf8.RuneError {
			units, n = [2]rune{r1, r2}, 2
		}
		for _, u := range units[:n] {
			dst = append(dst, byte(u), byte(u>>8))
		}
	}
	return dst
}
