// Package tweets is the tweet extractor's logic: it turns Twitter API
// payloads — v1.1 statuses and stream messages, v2 tweets bare or in their
// {"data": …} envelope — into event-time facts.
//
// Each record gets exactly one outcome:
//   - a fact at the tweet's event time: the top-level timestamp_ms when
//     present, else the top-level created_at (v1.1 form or RFC 3339), in UTC;
//   - a skip for a stream notice ({"delete": …}, {"limit": …}, a user-stream
//     event, a v2 error message), reason "notice: <key>";
//   - a reject, with a short reason, for anything else: malformed JSON or
//     UTF-8, a value that is not an object, a missing, unparseable or absurd
//     event time.
//
// Only top-level fields count: a nested created_at (the user's, a retweeted
// or quoted status's) is never the event time. A record is valid exactly
// when encoding/json finds it valid and it is UTF-8; when a key repeats, the
// last one counts, as in encoding/json.
package tweets

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"math/bits"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/kappa-stream/kappa/sdk"
)

// Config is the extractor's `config:` block.
type Config struct {
	// RejectFuture, when positive, rejects a tweet whose event time lies
	// more than this after the record's Kafka timestamp: a tweet cannot be
	// written before it is made, beyond clock skew, so such a time is
	// broken. Zero, the default, keeps every tweet. Records without a
	// timestamp are never rejected for it.
	RejectFuture time.Duration `yaml:"reject_future" doc:"reject a tweet whose event time is more than this after the record's Kafka timestamp; 0 keeps everything"`
}

// Validate implements sdk.Validator.
func (c *Config) Validate() error {
	if c.RejectFuture < 0 {
		return sdk.ConfigError{Path: "reject_future", Message: fmt.Sprintf("must not be negative, is %v", c.RejectFuture)}
	}
	return nil
}

// dimension is a tweet attribute a fact can carry.
type dimension uint8

const (
	// dimLang is the top-level "lang" (a BCP 47 code, "und" when Twitter
	// could not tell, or the field is empty or missing).
	dimLang dimension = iota + 1
	// dimSource is the client that posted the tweet: the text of the
	// top-level "source" anchor ("Twitter for iPhone"), "" when missing.
	dimSource
)

var dimensions = map[string]dimension{
	"lang":   dimLang,
	"source": dimSource,
}

// Reasons given for records that yield no fact. They are stable strings,
// so logs and counters can group by them.
const (
	reasonEmpty         = "empty payload"
	reasonDataNotObject = "data is not an object"
	reasonNoTime        = "no event time"
	reasonBadMillis     = "bad timestamp_ms"
	reasonBadCreatedAt  = "bad created_at"
	reasonOutOfRange    = "event time out of range"
	reasonFuture        = "event time after record time"
	reasonV2Errors      = "notice: errors"
	// Dimension values with a control character (only with dimensions).
	reasonControlInLang   = "lang has a control character"
	reasonControlInSource = "source has a control character"
)

// noticeReasons[i] is the skip reason of noticeKeys[i], built once so a
// skip costs no allocation.
var noticeReasons = func() (r [len(noticeKeys)]string) {
	for i, k := range noticeKeys {
		r[i] = "notice: " + k
	}
	return r
}()

// maxInterned bounds the table of dimension values shared between facts.
// Languages and clients are few; past the bound each value is its own copy.
const maxInterned = 1 << 14

// Extractor is the tweet extractor. It implements sdk.Extractor, and its
// Extract may run on several goroutines at once: each call reads with a
// worker of its own, whose buffers are reused from record to record and
// from call to call.
type Extractor struct {
	mu     sync.RWMutex // guards config and dims, set by Open
	config Config
	dims   []dimension

	idleMu sync.Mutex
	idle   []*worker // workers no call is using
}

// worker is the state one Extract call reads records with.
type worker struct {
	scan   scanner
	fields recordFields
	// text holds a string value decoded from escapes, source a source
	// decoded from HTML entities.
	text     []byte
	source   []byte
	interned map[string]string
}

var _ sdk.Extractor = (*Extractor)(nil)

// New returns an extractor with the default config and no dimensions.
func New() *Extractor {
	return &Extractor{}
}

// worker lends a worker to one Extract call; release returns it.
func (e *Extractor) worker() *worker {
	e.idleMu.Lock()
	defer e.idleMu.Unlock()
	n := len(e.idle)
	if n == 0 {
		return &worker{interned: make(map[string]string)}
	}
	w := e.idle[n-1]
	e.idle = e.idle[:n-1]
	return w
}

func (e *Extractor) release(w *worker) {
	e.idleMu.Lock()
	defer e.idleMu.Unlock()
	e.idle = append(e.idle, w)
}

// Open decodes the config and checks the pipeline's dimensions. Every
// problem is reported at once as sdk.ConfigErrors.
func (e *Extractor) Open(_ context.Context, setup sdk.Setup) error {
	var cfg Config
	var problems sdk.ConfigErrors
	if err := sdk.DecodeConfig(setup.Config, &cfg); err != nil {
		if !errors.As(err, &problems) {
			return fmt.Errorf("tweet extractor config: %w", err)
		}
	}
	var dims []dimension
	for _, name := range setup.Dimensions {
		d, ok := dimensions[name]
		if !ok {
			problems = append(problems, sdk.ConfigError{
				Message: fmt.Sprintf("unknown dimension %q: the tweet extractor knows %s", name, knownDimensions()),
			})
			continue
		}
		dims = append(dims, d)
	}
	if len(problems) > 0 {
		return problems
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	e.config, e.dims = cfg, dims
	return nil
}

func knownDimensions() string {
	names := make([]string, 0, len(dimensions))
	for name := range dimensions {
		names = append(names, name)
	}
	sort.Strings(names)
	return strings.Join(names, ", ")
}

// Close releases nothing: the extractor holds no outside resources.
func (e *Extractor) Close(context.Context) error { return nil }

// Extract appends one outcome per record to out. It returns an error only
// when ctx is done; bad input is a reject.
func (e *Extractor) Extract(ctx context.Context, records []sdk.Record, out *sdk.Extraction) error {
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("extract tweets: %w", err)
	}
	e.mu.RLock()
	cfg, dims := e.config, e.dims
	e.mu.RUnlock()
	w := e.worker()
	defer e.release(w)

	// One backing array per batch holds every fact's dimension values.
	n := len(dims)
	var dimValues []string
	if n > 0 {
		dimValues = make([]string, len(records)*n)
	}
	for i := range records {
		rec := &records[i]
		t, tweet, skip, reject := w.read(rec.Value)
		switch {
		case skip != "":
			out.Skip(i, skip)
			continue
		case reject != "":
			out.Reject(i, reject)
			continue
		case cfg.RejectFuture > 0 && !rec.Time.IsZero() && t.After(rec.Time.Add(cfg.RejectFuture)):
			out.Reject(i, reasonFuture)
			continue
		}
		fact := sdk.Fact{Record: i, Time: t}
		if n > 0 {
			fact.Dims = dimValues[i*n : (i+1)*n : (i+1)*n]
			if reject := w.dimValues(fact.Dims, dims, rec.Value, tweet); reject != "" {
				out.Reject(i, reject)
				continue
			}
		}
		out.Fact(fact)
	}
	return nil
}

// read decides what value is: a tweet at time t whose fields are in tweet,
// a notice to skip, or input to reject. w.fields holds the scan until the
// next call.
func (w *worker) read(value []byte) (t time.Time, tweet *tweetFields, skip, reject string) {
	if len(value) == 0 {
		return time.Time{}, nil, "", reasonEmpty
	}
	f := &w.fields
	if err := w.scan.scan(value, f); err != nil {
		// The scanner's errors are constant sentinels named after the reason.
		return time.Time{}, nil, "", err.Error()
	}
	if f.notices != 0 {
		return time.Time{}, nil, noticeReasons[bits.TrailingZeros32(f.notices)], ""
	}
	tweet = &f.tweet
	switch {
	case f.hasData && !f.dataIsObject:
		return time.Time{}, nil, "", reasonDataNotObject
	case f.hasData:
		// The v2 envelope: the tweet is "data"; "includes" holds other tweets.
		tweet = &f.data
	case f.hasErrors:
		// A v2 stream message carrying only errors (an operational disconnect).
		return time.Time{}, nil, reasonV2Errors, ""
	}
	t, reject = w.eventTime(value, tweet)
	return t, tweet, "", reject
}

// eventTime reads a tweet's event time from its top-level fields.
func (w *worker) eventTime(value []byte, tweet *tweetFields) (time.Time, string) {
	var t time.Time
	switch ms := tweet.timestampMS; ms.kind {
	case kindString, kindNumber:
		var ok bool
		if t, ok = parseMillis(w.decoded(value, ms)); !ok {
			return time.Time{}, reasonBadMillis
		}
	case kindOther:
		return time.Time{}, reasonBadMillis
	default: // absent or null: fall back to created_at
		switch ca := tweet.createdAt; ca.kind {
		case kindAbsent, kindNull:
			return time.Time{}, reasonNoTime
		case kindString:
			var ok bool
			if t, ok = parseCreatedAt(w.decoded(value, ca)); !ok {
				return time.Time{}, reasonBadCreatedAt
			}
		default:
			return time.Time{}, reasonBadCreatedAt
		}
	}
	if !inSaneRange(t) {
		return time.Time{}, reasonOutOfRange
	}
	return t, ""
}

// decoded returns the bytes of f: a string's contents decoded from escapes
// (into w.text, valid until the next call), or a number's token.
func (w *worker) decoded(value []byte, f field) []byte {
	raw := value[f.start:f.end]
	if !f.escaped {
		return raw
	}
	w.text = unescape(w.text[:0], raw)
	return w.text
}

// dimValues fills values with the tweet's dimensions, or returns why the
// record is rejected: a value holding a control character (a NUL, say) is
// no language code nor client name, only a broken or hostile payload.
func (w *worker) dimValues(values []string, dims []dimension, value []byte, tweet *tweetFields) (reject string) {
	for j, d := range dims {
		v, ok := w.dimValue(d, value, tweet)
		if !ok {
			return controlReasons[d]
		}
		values[j] = v
	}
	return ""
}

// controlReasons is each dimension's reason for a value with a control
// character.
var controlReasons = map[dimension]string{dimLang: reasonControlInLang, dimSource: reasonControlInSource}

// dimValue returns the tweet's value of d; ok is false when it holds a
// control character.
func (w *worker) dimValue(d dimension, value []byte, tweet *tweetFields) (v string, ok bool) {
	switch d {
	case dimLang:
		if tweet.lang.kind != kindString {
			return "und", true
		}
		lang := w.decoded(value, tweet.lang)
		if len(lang) == 0 {
			return "und", true
		}
		return w.intern(lang)
	case dimSource:
		if tweet.source.kind != kindString {
			return "", true
		}
		return w.intern(w.sourceName(w.decoded(value, tweet.source)))
	}
	panic(fmt.Sprintf("tweets: dimension %d has no reader", d))
}

// intern returns b as a string shared by every fact with the same value, so
// a fact's dimensions cost no allocation once the value has been seen; ok
// is false, and the string empty, when b holds a control character (those
// are never interned, so a value found needs no second look).
func (w *worker) intern(b []byte) (s string, ok bool) {
	if s, ok := w.interned[string(b)]; ok {
		return s, true
	}
	if hasControl(b) {
		return "", false
	}
	s = string(b)
	if len(w.interned) < maxInterned {
		w.interned[s] = s
	}
	return s, true
}

// hasControl reports whether b holds an ASCII control character (U+0000 to
// U+001F, U+007F).
func hasControl(b []byte) bool {
	for _, c := range b {
		if c < 0x20 || c == 0x7f {
			return true
		}
	}
	return false
}

// sourceName reduces a v1.1 "source", an HTML anchor such as
// `<a href="http://twitter.com" rel="nofollow">Twitter Web Client</a>`, to
// its text. v2 sources are already plain text. Some payloads carry the
// anchor HTML-escaped ("&lt;a href=…"), so entities are decoded first.
func (w *worker) sourceName(b []byte) []byte {
	if bytes.IndexByte(b, '&') >= 0 {
		w.source = decodeEntities(w.source[:0], b)
		b = w.source
	}
	if len(b) >= len("<a></a>") && b[0] == '<' && (b[1] == 'a' || b[1] == 'A') &&
		(b[2] == ' ' || b[2] == '>') && bytes.EqualFold(b[len(b)-4:], []byte("</a>")) {
		if gt := bytes.IndexByte(b, '>'); gt+1 <= len(b)-4 {
			b = b[gt+1 : len(b)-4]
		}
	}
	return bytes.TrimSpace(b)
}

// entities are the ones an HTML-escaping serializer writes; any other is
// left as it is. html.UnescapeString would know them all but allocates.
var entities = [...]struct{ name, text string }{
	{"&amp;", "&"}, {"&lt;", "<"}, {"&gt;", ">"}, {"&quot;", `"`}, {"&#39;", "'"}, {"&apos;", "'"},
}

// decodeEntities appends src to dst with entities decoded, in one pass:
// "&amp;lt;" becomes "&lt;".
func decodeEntities(dst, src []byte) []byte {
	for len(src) > 0 {
		amp := bytes.IndexByte(src, '&')
		if amp < 0 {
			return append(dst, src...)
		}
		dst = append(dst, src[:amp]...)
		src = src[amp:]
		matched := false
		for _, ent := range entities {
			if bytes.HasPrefix(src, []byte(ent.name)) {
				dst = append(dst, ent.text...)
				src = src[len(ent.name):]
				matched = true
				break
			}
		}
		if !matched {
			dst = append(dst, '&')
			src = src[1:]
		}
	}
	return dst
}
