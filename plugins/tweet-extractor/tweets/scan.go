package tweets

import (
	"encoding/binary"
	"errors"
	"math/bits"
	"unicode"
	"unicode/utf16"
	"unicode/utf8"
)

// The scanner reads one record in a single pass: it checks the whole record
// against the JSON grammar, as encoding/json does, and remembers where the
// few top-level values the extractor needs lie. Nested values are walked
// but never built, so a record costs no allocation.
//
// It is hand-written rather than taken from a library because the verdict
// must agree with encoding/json on every input: fastjson stops at a nesting
// depth of 300 where encoding/json allows 10000, and neither fastjson's nor
// encoding/json's validity check looks at UTF-8 inside strings, which this
// extractor requires.

// maxDepth is encoding/json's limit on nested arrays and objects; a record
// nested deeper is invalid JSON to it, so it is to us.
const maxDepth = 10000

var (
	errEmpty     = errors.New(reasonEmpty)
	errMalformed = errors.New("malformed json")
	errNotUTF8   = errors.New("not utf-8")
	errTooDeep   = errors.New("json nested too deep")
)

// valueKind is what a top-level value turned out to be.
type valueKind uint8

const (
	kindAbsent valueKind = iota
	kindNull
	kindString
	kindNumber
	kindOther // true, false, an object or an array
)

// field is where one value lies in the record: for a string, its contents
// between the quotes; for a number, its token.
type field struct {
	kind       valueKind
	escaped    bool // a string holding backslash escapes, to be decoded
	start, end int
}

// tweetFields are the fields of a tweet object the extractor reads.
type tweetFields struct {
	timestampMS field
	createdAt   field
	lang        field
	source      field
}

// fieldFor returns where to keep the value of key, or nil when the key is
// not one the extractor reads.
func (t *tweetFields) fieldFor(key []byte) *field {
	switch string(key) {
	case "timestamp_ms":
		return &t.timestampMS
	case "created_at":
		return &t.createdAt
	case "lang":
		return &t.lang
	case "source":
		return &t.source
	}
	return nil
}

// recordFields is what the scanner learned about a record's top level.
type recordFields struct {
	tweet tweetFields
	// notices has bit i set when noticeKeys[i] is a top-level key.
	notices uint32
	// hasData is set by a top-level "data" key (the v2 envelope); data holds
	// the tweet's fields when that value is an object.
	hasData      bool
	dataIsObject bool
	data         tweetFields
	hasErrors    bool
}

// noticeKeys are the top-level keys that mark a stream message that is not a
// tweet: the v1.1 public, user and site stream notices. A notice is named by
// the first of these it holds, so the order is part of the reasons given.
var noticeKeys = [...]string{
	"delete",
	"scrub_geo",
	"limit",
	"status_withheld",
	"user_withheld",
	"disconnect",
	"warning",
	"event",
	"friends",
	"friends_str",
	"direct_message",
	"control",
	"for_user",
	"for_user_id",
}

// noticeBit returns the bit of key in recordFields.notices, or 0.
func noticeBit(key []byte) uint32 {
	for i, k := range noticeKeys {
		if string(key) == k {
			return 1 << i
		}
	}
	return 0
}

// scanner walks one record. Its buffers are kept from record to record.
type scanner struct {
	data []byte
	pos  int
	// open holds the containers opened while skipping a nested value.
	open []byte
	// key holds a key decoded from escapes.
	key []byte
}

// space marks JSON whitespace. plainString marks the bytes that may appear
// in a string as they are: printable ASCII other than '"' and '\\'.
var (
	space       [256]bool
	plainString [256]bool
)

func init() {
	for _, c := range []byte{' ', '\t', '\n', '\r'} {
		space[c] = true
	}
	for c := 0x20; c < 0x80; c++ {
		plainString[c] = c != '"' && c != '\\'
	}
}

// scan checks that data is one valid JSON value and, when it is an object,
// fills r with its top-level fields. It returns errNotObject for any other
// valid value.
func (s *scanner) scan(data []byte, r *recordFields) error {
	s.data, s.pos = data, 0
	*r = recordFields{}
	s.skipSpace()
	if s.pos == len(s.data) {
		return errEmpty
	}
	if s.pos < len(s.data) && s.data[s.pos] == '{' {
		s.pos++
		if err := s.topObject(r); err != nil {
			return err
		}
		return s.end()
	}
	if err := s.skipValue(0); err != nil {
		return err
	}
	if err := s.end(); err != nil {
		return err
	}
	return errNotObject
}

var errNotObject = errors.New("not a json object")

// end checks that only whitespace follows the value.
func (s *scanner) end() error {
	s.skipSpace()
	if s.pos != len(s.data) {
		return errMalformed
	}
	return nil
}

func (s *scanner) skipSpace() {
	for s.pos < len(s.data) && space[s.data[s.pos]] {
		s.pos++
	}
}

func (s *scanner) peek() byte {
	if s.pos < len(s.data) {
		return s.data[s.pos]
	}
	return 0
}

// topObject reads the members of the record's object, whose '{' is consumed.
func (s *scanner) topObject(r *recordFields) error {
	s.skipSpace()
	if s.peek() == '}' {
		s.pos++
		return nil
	}
	for {
		key, err := s.memberKey()
		if err != nil {
			return err
		}
		switch string(key) {
		case "data":
			// A later "data" replaces an earlier one, as in encoding/json.
			r.hasData = true
			r.data = tweetFields{}
			r.dataIsObject = s.peek() == '{'
			if r.dataIsObject {
				s.pos++
				err = s.tweetObject(&r.data)
			} else {
				err = s.skipValue(1)
			}
		case "errors":
			r.hasErrors = true
			err = s.skipValue(1)
		default:
			if bit := noticeBit(key); bit != 0 {
				r.notices |= bit
				err = s.skipValue(1)
			} else {
				err = s.member(r.tweet.fieldFor(key), 1)
			}
		}
		if err != nil {
			return err
		}
		if done, err := s.afterMember(); done || err != nil {
			return err
		}
	}
}

// tweetObject reads the members of a v2 envelope's "data" object, whose '{'
// is consumed. It sits at depth 2.
func (s *scanner) tweetObject(t *tweetFields) error {
	s.skipSpace()
	if s.peek() == '}' {
		s.pos++
		return nil
	}
	for {
		key, err := s.memberKey()
		if err != nil {
			return err
		}
		if err := s.member(t.fieldFor(key), 2); err != nil {
			return err
		}
		if done, err := s.afterMember(); done || err != nil {
			return err
		}
	}
}

// memberKey reads `"key" :` and the whitespace after it. The key is decoded
// when it holds escapes, so that "timestamp\u005fms" is timestamp_ms, as it
// is to encoding/json.
func (s *scanner) memberKey() ([]byte, error) {
	if s.peek() != '"' {
		return nil, errMalformed
	}
	start, end, escaped, err := s.scanString()
	if err != nil {
		return nil, err
	}
	key := s.data[start:end]
	if escaped {
		s.key = unescape(s.key[:0], key)
		key = s.key
	}
	s.skipSpace()
	if s.peek() != ':' {
		return nil, errMalformed
	}
	s.pos++
	s.skipSpace()
	return key, nil
}

// afterMember reads what follows a member's value: a ',' and the whitespace
// before the next key, or the closing '}'.
func (s *scanner) afterMember() (done bool, err error) {
	s.skipSpace()
	switch s.peek() {
	case ',':
		s.pos++
		s.skipSpace()
		return false, nil
	case '}':
		s.pos++
		return true, nil
	}
	return true, errMalformed
}

// member reads the value of a member of an object at depth, remembering in
// dst where it lies. A later member with the same key overwrites dst, as in
// encoding/json. With a nil dst the value is only checked.
func (s *scanner) member(dst *field, depth int) error {
	if dst == nil {
		return s.skipValue(depth)
	}
	start := s.pos
	switch c := s.peek(); {
	case c == '"':
		from, to, escaped, err := s.scanString()
		if err != nil {
			return err
		}
		*dst = field{kind: kindString, escaped: escaped, start: from, end: to}
	case c == '-' || (c >= '0' && c <= '9'):
		if err := s.scanNumber(); err != nil {
			return err
		}
		*dst = field{kind: kindNumber, start: start, end: s.pos}
	case c == 'n':
		if err := s.scanLiteral("null"); err != nil {
			return err
		}
		*dst = field{kind: kindNull}
	default:
		if err := s.skipValue(depth); err != nil {
			return err
		}
		*dst = field{kind: kindOther}
	}
	return nil
}

// skipValue checks the value at s.pos and moves past it. depth is the number
// of containers open around it. It keeps its own stack rather than recursing,
// so deep nesting costs neither goroutine stack nor allocation once s.open
// has grown.
func (s *scanner) skipValue(depth int) error {
	open := s.open[:0]
	defer func() { s.open = open[:0] }()
	for {
		// A value is expected here.
		switch c := s.peek(); {
		case c == '{' || c == '[':
			if depth+len(open)+1 > maxDepth {
				return errTooDeep
			}
			s.pos++
			s.skipSpace()
			if c == '{' && s.peek() == '}' || c == '[' && s.peek() == ']' {
				s.pos++
				break
			}
			open = append(open, c)
			if c == '{' {
				if err := s.skipKey(); err != nil {
					return err
				}
			}
			continue
		case c == '"':
			if _, _, _, err := s.scanString(); err != nil {
				return err
			}
		case c == '-' || (c >= '0' && c <= '9'):
			if err := s.scanNumber(); err != nil {
				return err
			}
		case c == 't':
			if err := s.scanLiteral("true"); err != nil {
				return err
			}
		case c == 'f':
			if err := s.scanLiteral("false"); err != nil {
				return err
			}
		case c == 'n':
			if err := s.scanLiteral("null"); err != nil {
				return err
			}
		default:
			return errMalformed
		}
		// A value ended: close containers until one continues with ','.
		for {
			if len(open) == 0 {
				return nil
			}
			s.skipSpace()
			c := s.peek()
			top := open[len(open)-1]
			if c == ',' {
				s.pos++
				s.skipSpace()
				if top == '{' {
					if err := s.skipKey(); err != nil {
						return err
					}
				}
				break
			}
			if top == '{' && c == '}' || top == '[' && c == ']' {
				s.pos++
				open = open[:len(open)-1]
				continue
			}
			return errMalformed
		}
	}
}

// skipKey reads `"key" :` and the whitespace around it inside a skipped object.
func (s *scanner) skipKey() error {
	if s.peek() != '"' {
		return errMalformed
	}
	if _, _, _, err := s.scanString(); err != nil {
		return err
	}
	s.skipSpace()
	if s.peek() != ':' {
		return errMalformed
	}
	s.pos++
	s.skipSpace()
	return nil
}

// scanString moves past the string whose opening quote is at s.pos and
// returns the span of its contents. It rejects what encoding/json rejects
// (control characters, bad escapes) and, beyond it, invalid UTF-8.
func (s *scanner) scanString() (start, end int, escaped bool, err error) {
	d := s.data
	i := s.pos + 1
	start = i
	for i < len(d) {
		// Most of a tweet is plain ASCII text: pass it eight bytes at a
		// time, up to the first byte that needs a look.
		for i+8 <= len(d) {
			if m := special(binary.LittleEndian.Uint64(d[i:])); m != 0 {
				i += bits.TrailingZeros64(m) >> 3
				break
			}
			i += 8
		}
		if i >= len(d) {
			break
		}
		c := d[i]
		if plainString[c] {
			i++
			continue
		}
		switch {
		case c == '"':
			s.pos = i + 1
			return start, i, escaped, nil
		case c == '\\':
			escaped = true
			if i+1 >= len(d) {
				return 0, 0, false, errMalformed
			}
			switch d[i+1] {
			case '"', '\\', '/', 'b', 'f', 'n', 'r', 't':
				i += 2
			case 'u':
				if i+6 > len(d) || !isHex(d[i+2]) || !isHex(d[i+3]) || !isHex(d[i+4]) || !isHex(d[i+5]) {
					return 0, 0, false, errMalformed
				}
				i += 6
			default:
				return 0, 0, false, errMalformed
			}
		case c < 0x20:
			return 0, 0, false, errMalformed
		default:
			r, size := utf8.DecodeRune(d[i:])
			if r == utf8.RuneError && size == 1 {
				return 0, 0, false, errNotUTF8
			}
			i += size
		}
	}
	return 0, 0, false, errMalformed
}

const (
	ones  = 0x0101010101010101
	highs = 0x8080808080808080
)

// special marks, in the high bit of each of w's bytes (little-endian:
// the first byte in memory is the lowest), the bytes that are not plain
// in a string: '"', '\\', control characters and non-ASCII bytes. A mark
// may be false only above a true one (a borrow carries upwards), so the
// lowest mark is always exact.
func special(w uint64) uint64 {
	quote := w ^ (ones * '"')
	backslash := w ^ (ones * '\\')
	control := (w - ones*0x20) &^ w
	return ((quote-ones)&^quote | (backslash-ones)&^backslash | control | w) & highs
}

func isHex(c byte) bool {
	return c >= '0' && c <= '9' || c >= 'a' && c <= 'f' || c >= 'A' && c <= 'F'
}

func isDigit(c byte) bool { return c >= '0' && c <= '9' }

// scanNumber moves past a number: -?(0|[1-9][0-9]*)(\.[0-9]+)?([eE][+-]?[0-9]+)?
func (s *scanner) scanNumber() error {
	d, i := s.data, s.pos
	if i < len(d) && d[i] == '-' {
		i++
	}
	switch {
	case i < len(d) && d[i] == '0':
		i++
	case i < len(d) && d[i] >= '1' && d[i] <= '9':
		for i++; i < len(d) && isDigit(d[i]); i++ {
		}
	default:
		return errMalformed
	}
	if i < len(d) && d[i] == '.' {
		i++
		if i >= len(d) || !isDigit(d[i]) {
			return errMalformed
		}
		for i < len(d) && isDigit(d[i]) {
			i++
		}
	}
	if i < len(d) && (d[i] == 'e' || d[i] == 'E') {
		i++
		if i < len(d) && (d[i] == '+' || d[i] == '-') {
			i++
		}
		if i >= len(d) || !isDigit(d[i]) {
			return errMalformed
		}
		for i < len(d) && isDigit(d[i]) {
			i++
		}
	}
	s.pos = i
	return nil
}

func (s *scanner) scanLiteral(lit string) error {
	if len(s.data)-s.pos < len(lit) || string(s.data[s.pos:s.pos+len(lit)]) != lit {
		return errMalformed
	}
	s.pos += len(lit)
	return nil
}

// unescape appends to dst the contents of a checked JSON string decoded the
// way encoding/json decodes it: a \u escape that is half of a surrogate pair
// without its other half becomes U+FFFD.
func unescape(dst, src []byte) []byte {
	for i := 0; i < len(src); {
		c := src[i]
		if c != '\\' {
			dst = append(dst, c)
			i++
			continue
		}
		switch src[i+1] {
		case 'b':
			dst = append(dst, '\b')
		case 'f':
			dst = append(dst, '\f')
		case 'n':
			dst = append(dst, '\n')
		case 'r':
			dst = append(dst, '\r')
		case 't':
			dst = append(dst, '\t')
		case 'u':
			r := hex4(src[i+2:])
			i += 6
			if utf16.IsSurrogate(r) {
				if i+6 <= len(src) && src[i] == '\\' && src[i+1] == 'u' {
					if pair := utf16.DecodeRune(r, hex4(src[i+2:])); pair != unicode.ReplacementChar {
						dst = utf8.AppendRune(dst, pair)
						i += 6
						continue
					}
				}
				r = unicode.ReplacementChar
			}
			dst = utf8.AppendRune(dst, r)
			continue
		default: // '"', '\\', '/'
			dst = append(dst, src[i+1])
		}
		i += 2
	}
	return dst
}

// hex4 decodes four checked hex digits.
func hex4(b []byte) rune {
	var r rune
	for _, c := range b[:4] {
		switch {
		case c >= '0' && c <= '9':
			c -= '0'
		case c >= 'a' && c <= 'f':
			c -= 'a' - 10
		default:
			c -= 'A' - 10
		}
		r = r<<4 | rune(c)
	}
	return r
}
