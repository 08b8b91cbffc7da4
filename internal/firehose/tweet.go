package firehose

import (
	"strconv"
)

// status is one tweet before rendering; the generator reuses two of them
// (the tweet and the one it retweets or quotes).
type status struct {
	ms        int64
	id        uint64
	user      *user
	userIdx   int
	lang      string
	source    string
	asciiOnly bool

	text  []byte // escaped
	runes int
	spans []span

	replyTo   int // index into the user pool; -1 for none
	replyToID uint64

	retweetCount, favoriteCount, replyCount, quoteCount int

	retweeted *status
	quoted    *status
	geo       int // index+1 into places; 0 for none
}

type spanKind uint8

const (
	spanHashtag spanKind = iota
	spanMention
	spanURL
	spanQuoteURL
)

// span is an entity: a hashtag, mention or URL at [start, end) code points.
type span struct {
	kind       spanKind
	start, end int
	ref        int // hashtag or user index, or domain index for URLs
	token      [10]byte
}

// field is a group of top-level keys written together; the generator
// varies the order of fields between records.
type field uint8

const (
	fCreatedAt field = iota
	fID
	fText
	fSource
	fTruncated
	fReply
	fUser
	fGeo
	fRetweeted
	fQuoted
	fIsQuote
	fCounts
	fEntities
	fFlags
	fLang
	fTimestampMs
	numFields
)

// streamOrder is the key order of the v1.1 streaming API.
var streamOrder = []field{
	fCreatedAt, fID, fText, fSource, fTruncated, fReply, fUser, fGeo,
	fRetweeted, fQuoted, fIsQuote, fCounts, fEntities, fFlags, fLang, fTimestampMs,
}

// nestedFirstOrder puts the nested user and statuses, each with its own
// created_at, before the top-level created_at: a reader that takes the
// first "created_at" in the bytes gets the wrong time.
var nestedFirstOrder = []field{
	fUser, fRetweeted, fQuoted, fID, fText, fCreatedAt, fSource, fTruncated,
	fReply, fGeo, fIsQuote, fCounts, fEntities, fFlags, fLang, fTimestampMs,
}

var places = []string{
	`{"id":"3b77caf94bfc81fe","url":"https:\/\/api.twitter.com\/1.1\/geo\/id\/3b77caf94bfc81fe.json","place_type":"city","name":"Los Angeles","full_name":"Los Angeles, CA","country_code":"US","country":"United States","bounding_box":{"type":"Polygon","coordinates":[[[-118.668404,33.704538],[-118.668404,34.337041],[-118.155409,34.337041],[-118.155409,33.704538]]]},"attributes":{}}`,
	`{"id":"7ab3b0ecc9a3f5bb","url":"https:\/\/api.twitter.com\/1.1\/geo\/id\/7ab3b0ecc9a3f5bb.json","place_type":"city","name":"新宿区","full_name":"東京 新宿区","country_code":"JP","country":"日本","bounding_box":{"type":"Polygon","coordinates":[[[139.672582,35.675402],[139.672582,35.717856],[139.746299,35.717856],[139.746299,35.675402]]]},"attributes":{}}`,
	`{"id":"68e019afec7d0ba5","url":"https:\/\/api.twitter.com\/1.1\/geo\/id\/68e019afec7d0ba5.json","place_type":"city","name":"São Paulo","full_name":"São Paulo, Brasil","country_code":"BR","country":"Brasil","bounding_box":{"type":"Polygon","coordinates":[[[-46.826039,-24.008814],[-46.826039,-23.356792],[-46.365052,-23.356792],[-46.365052,-24.008814]]]},"attributes":{}}`,
}

var placePoints = [][2]string{{"34.0522", "-118.2437"}, {"35.6938", "139.7034"}, {"-23.5505", "-46.6333"}}

// Shares of the stream, in percent. The sample stream of 2016 carried
// about a third retweets; fewer here keep the average record near 2.5 KB.
const (
	retweetPercent = 15
	quotePercent   = 4
	replyPercent   = 12
	geoPercent     = 2
)

// newTweet fills g.top (and g.inner for a retweet or quote) for a tweet
// created at ms.
func (g *Generator) newTweet(ms int64) *status {
	top := &g.top
	asciiOnly := g.rng.IntN(5) == 0
	g.fillStatus(top, ms, asciiOnly)
	top.retweeted, top.quoted = nil, nil
	switch x := g.rng.IntN(100); {
	case x < retweetPercent:
		g.fillOriginal(ms, asciiOnly)
		g.retweet(top, &g.inner)
	case x < retweetPercent+quotePercent:
		g.fillOriginal(ms, asciiOnly)
		g.quote(top, &g.inner)
	}
	return top
}

// fillOriginal fills g.inner as an older tweet: retweets and quotes point
// at tweets from minutes to days before, so the nested created_at always
// falls in another minute than the top-level one.
func (g *Generator) fillOriginal(ms int64, asciiOnly bool) {
	age := 90_000 + int64(g.rng.ExpFloat64()*3_600_000)
	g.fillStatus(&g.inner, ms-age, asciiOnly)
	in := &g.inner
	in.retweeted, in.quoted = nil, nil
	in.retweetCount = int(g.rng.ExpFloat64() * 500)
	in.favoriteCount = int(g.rng.ExpFloat64() * 1200)
	in.replyCount = int(g.rng.ExpFloat64() * 40)
	in.quoteCount = int(g.rng.ExpFloat64() * 15)
}

func (g *Generator) fillStatus(st *status, ms int64, asciiOnly bool) {
	p := g.pools
	g.seq++
	st.ms = ms
	st.id = snowflake(ms, g.seq>>12+uint64(g.rng.IntN(64)), g.seq)
	st.userIdx = g.rng.IntN(len(p.users))
	st.user = &p.users[st.userIdx]
	st.source = p.sources[p.srcWeights.pick(g.rng)]
	st.asciiOnly = asciiOnly
	st.retweetCount, st.favoriteCount, st.replyCount, st.quoteCount = 0, 0, 0, 0
	st.geo = 0
	if g.rng.IntN(100) < geoPercent {
		st.geo = 1 + g.rng.IntN(len(places))
	}
	lang := &p.langs[p.langWeights.pick(g.rng)]
	st.lang = lang.code
	st.text = st.text[:0]
	st.spans = st.spans[:0]
	st.runes = 0
	st.replyTo = -1
	if g.rng.IntN(100) < replyPercent {
		st.replyTo = g.rng.IntN(len(p.users))
		st.replyToID = snowflake(ms-1-g.rng.Int64N(86_400_000), g.rng.Uint64(), g.rng.Uint64())
		g.addMention(st, st.replyTo)
		g.addText(st, []byte(" "), 1)
	}
	for i := range 1 + g.rng.IntN(2) {
		if i > 0 {
			g.addText(st, []byte(" "), 1)
		}
		ph := lang.phrases[g.rng.IntN(len(lang.phrases))]
		g.addText(st, ph.bytes(asciiOnly), ph.runes)
	}
	if g.rng.IntN(3) == 0 {
		e := p.emojis[g.rng.IntN(len(p.emojis))]
		g.addText(st, []byte(" "), 1)
		g.addText(st, e.bytes(asciiOnly), e.runes)
	}
	for g.rng.IntN(4) == 0 && len(st.spans) < 4 {
		i := g.rng.IntN(len(p.hashtags))
		h := p.hashtags[i]
		g.addText(st, []byte(" "), 1)
		start := st.runes
		g.addText(st, []byte("#"), 1)
		g.addText(st, h.bytes(asciiOnly), h.runes)
		st.spans = append(st.spans, span{kind: spanHashtag, start: start, end: st.runes, ref: i})
	}
	if g.rng.IntN(4) == 0 {
		g.addText(st, []byte(" "), 1)
		g.addURL(st, spanURL, g.rng.IntN(len(domains)))
	}
}

func (g *Generator) addText(st *status, escaped []byte, runes int) {
	st.text = append(st.text, escaped...)
	st.runes += runes
}

func (g *Generator) addMention(st *status, userIdx int) {
	start := st.runes
	name := g.pools.users[userIdx].screenName
	g.addText(st, []byte("@"), 1)
	st.text = append(st.text, name...)
	st.runes += len(name) // screen names are ASCII
	st.spans = append(st.spans, span{kind: spanMention, start: start, end: st.runes, ref: userIdx})
}

// tcoLen is the length of every t.co link: "https://t.co/" + 10 characters.
const tcoLen = 23

func (g *Generator) addURL(st *status, kind spanKind, domain int) {
	sp := span{kind: kind, start: st.runes, end: st.runes + tcoLen, ref: domain}
	appendToken(sp.token[:0], g.rng, len(sp.token))
	st.text = append(st.text, `https:\/\/t.co\/`...)
	st.text = append(st.text, sp.token[:]...)
	st.runes += tcoLen
	st.spans = append(st.spans, sp)
}

// retweet turns top into a retweet of orig: "RT @name: " + the original
// text, its entities shifted behind the prefix.
func (g *Generator) retweet(top, orig *status) {
	top.retweeted = orig
	top.lang = orig.lang
	top.text = top.text[:0]
	top.spans = top.spans[:0]
	top.runes = 0
	top.replyTo = -1
	top.geo = 0
	g.addText(top, []byte("RT "), 3)
	g.addMention(top, orig.userIdx)
	g.addText(top, []byte(": "), 2)
	shift := top.runes
	top.text = append(top.text, orig.text...)
	top.runes += orig.runes
	for _, sp := range orig.spans {
		sp.start += shift
		sp.end += shift
		top.spans = append(top.spans, sp)
	}
}

// quote makes top comment on orig, linking to it at the end of its text.
func (g *Generator) quote(top, orig *status) {
	top.quoted = orig
	g.addText(top, []byte(" "), 1)
	g.addURL(top, spanQuoteURL, 0)
}

// appendTweet renders st. With omitTime the top-level created_at and
// timestamp_ms are left out (a malformed record).
func (g *Generator) appendTweet(b []byte, st *status, omitTime bool) []byte {
	g.shuffled = false
	switch x := g.rng.IntN(100); {
	case x < 70:
		g.order = append(g.order[:0], streamOrder...)
	case x < 85:
		g.order = append(g.order[:0], nestedFirstOrder...)
	default:
		// Re-serialized captures (Python's json.dumps of a dict) shuffle keys.
		g.shuffled = true
		g.order = g.shuffledOrder(g.order)
	}
	return g.appendStatus(b, st, g.order, true, omitTime)
}

func (g *Generator) shuffledOrder(order []field) []field {
	order = append(order[:0], streamOrder...)
	g.rng.Shuffle(len(order), func(i, j int) { order[i], order[j] = order[j], order[i] })
	return order
}

func (g *Generator) appendStatus(b []byte, st *status, order []field, topLevel, omitTime bool) []byte {
	b = append(b, '{')
	first := true
	for _, f := range order {
		switch f {
		case fRetweeted:
			if st.retweeted == nil {
				continue
			}
		case fQuoted:
			if st.quoted == nil {
				continue
			}
		case fTimestampMs:
			if !topLevel || omitTime {
				continue
			}
		case fCreatedAt:
			if omitTime {
				continue
			}
		}
		if !first {
			b = append(b, ',')
		}
		first = false
		b = g.appendField(b, st, f, topLevel)
	}
	return append(b, '}')
}

func (g *Generator) appendField(b []byte, st *status, f field, topLevel bool) []byte {
	switch f {
	case fCreatedAt:
		b = append(b, `"created_at":"`...)
		b = appendCreatedAt(b, st.ms)
		b = append(b, '"')
	case fID:
		b = append(b, `"id":`...)
		b = strconv.AppendUint(b, st.id, 10)
		b = append(b, `,"id_str":"`...)
		b = strconv.AppendUint(b, st.id, 10)
		b = append(b, '"')
	case fText:
		b = append(b, `"text":"`...)
		b = append(b, st.text...)
		b = append(b, '"')
	case fSource:
		b = append(b, `"source":"`...)
		b = append(b, st.source...)
		b = append(b, '"')
	case fTruncated:
		b = append(b, `"truncated":false`...)
	case fReply:
		b = g.appendReply(b, st)
	case fUser:
		b = append(b, `"user":`...)
		b = append(b, st.user.json...)
	case fGeo:
		if st.geo == 0 {
			b = append(b, `"geo":null,"coordinates":null,"place":null,"contributors":null`...)
			break
		}
		pt := placePoints[st.geo-1]
		b = append(b, `"geo":{"type":"Point","coordinates":[`...)
		b = append(b, pt[0]...)
		b = append(b, ',')
		b = append(b, pt[1]...)
		b = append(b, `]},"coordinates":{"type":"Point","coordinates":[`...)
		b = append(b, pt[1]...)
		b = append(b, ',')
		b = append(b, pt[0]...)
		b = append(b, `]},"place":`...)
		b = append(b, places[st.geo-1]...)
		b = append(b, `,"contributors":null`...)
	case fRetweeted:
		b = append(b, `"retweeted_status":`...)
		b = g.appendNested(b, st.retweeted)
	case fQuoted:
		q := st.quoted
		b = append(b, `"quoted_status_id":`...)
		b = strconv.AppendUint(b, q.id, 10)
		b = append(b, `,"quoted_status_id_str":"`...)
		b = strconv.AppendUint(b, q.id, 10)
		b = append(b, `","quoted_status":`...)
		b = g.appendNested(b, q)
		b = append(b, `,"quoted_status_permalink":{"url":"https:\/\/t.co\/`...)
		b = append(b, st.spans[len(st.spans)-1].token[:]...)
		b = append(b, `","expanded":"`...)
		b = appendStatusURL(b, q)
		b = append(b, `","display":"`...)
		b = appendDisplayStatusURL(b, q)
		b = append(b, `"}`...)
	case fIsQuote:
		b = append(b, `"is_quote_status":`...)
		b = strconv.AppendBool(b, st.quoted != nil)
	case fCounts:
		b = append(b, `"quote_count":`...)
		b = strconv.AppendInt(b, int64(st.quoteCount), 10)
		b = append(b, `,"reply_count":`...)
		b = strconv.AppendInt(b, int64(st.replyCount), 10)
		b = append(b, `,"retweet_count":`...)
		b = strconv.AppendInt(b, int64(st.retweetCount), 10)
		b = append(b, `,"favorite_count":`...)
		b = strconv.AppendInt(b, int64(st.favoriteCount), 10)
	case fEntities:
		b = g.appendEntities(b, st)
	case fFlags:
		b = append(b, `"favorited":false,"retweeted":false`...)
		if hasURL(st) {
			b = append(b, `,"possibly_sensitive":false`...)
		}
		b = append(b, `,"filter_level":"low"`...)
	case fLang:
		b = append(b, `"lang":"`...)
		b = append(b, st.lang...)
		b = append(b, '"')
	case fTimestampMs:
		b = append(b, `"timestamp_ms":"`...)
		b = strconv.AppendInt(b, st.ms, 10)
		b = append(b, '"')
	}
	return b
}

// appendNested renders a retweeted or quoted status. Nested statuses carry
// no timestamp_ms; they follow the stream order unless the record was
// re-serialized with shuffled keys.
func (g *Generator) appendNested(b []byte, st *status) []byte {
	if g.shuffled {
		g.innerOrder = g.shuffledOrder(g.innerOrder)
	} else {
		g.innerOrder = append(g.innerOrder[:0], streamOrder...)
	}
	return g.appendStatus(b, st, g.innerOrder, false, false)
}

func (g *Generator) appendReply(b []byte, st *status) []byte {
	if st.replyTo < 0 {
		return append(b, `"in_reply_to_status_id":null,"in_reply_to_status_id_str":null,"in_reply_to_user_id":null,"in_reply_to_user_id_str":null,"in_reply_to_screen_name":null`...)
	}
	b = append(b, `"in_reply_to_status_id":`...)
	b = strconv.AppendUint(b, st.replyToID, 10)
	b = append(b, `,"in_reply_to_status_id_str":"`...)
	b = strconv.AppendUint(b, st.replyToID, 10)
	b = append(b, `","in_reply_to_user_id":`...)
	to := &g.pools.users[st.replyTo]
	b = strconv.AppendUint(b, to.id, 10)
	b = append(b, `,"in_reply_to_user_id_str":"`...)
	b = strconv.AppendUint(b, to.id, 10)
	b = append(b, `","in_reply_to_screen_name":"`...)
	b = append(b, to.screenName...)
	return append(b, '"')
}

func hasURL(st *status) bool {
	for _, sp := range st.spans {
		if sp.kind == spanURL || sp.kind == spanQuoteURL {
			return true
		}
	}
	return false
}

func (g *Generator) appendEntities(b []byte, st *status) []byte {
	p := g.pools
	b = append(b, `"entities":{"hashtags":[`...)
	n := 0
	for _, sp := range st.spans {
		if sp.kind != spanHashtag {
			continue
		}
		b = appendComma(b, n)
		n++
		b = append(b, `{"text":"`...)
		b = append(b, p.hashtags[sp.ref].bytes(st.asciiOnly)...)
		b = append(b, `","indices":`...)
		b = appendIndices(b, sp)
		b = append(b, '}')
	}
	b = append(b, `],"urls":[`...)
	n = 0
	for _, sp := range st.spans {
		if sp.kind != spanURL && sp.kind != spanQuoteURL {
			continue
		}
		b = appendComma(b, n)
		n++
		b = append(b, `{"url":"https:\/\/t.co\/`...)
		b = append(b, sp.token[:]...)
		b = append(b, `","expanded_url":"`...)
		if sp.kind == spanQuoteURL {
			b = appendStatusURL(b, st.quoted)
			b = append(b, `","display_url":"`...)
			b = appendDisplayStatusURL(b, st.quoted)
		} else {
			b = append(b, `https:\/\/`...)
			b = appendEscapedPath(b, domains[sp.ref])
			b = append(b, `\/`...)
			b = append(b, sp.token[:7]...)
			b = append(b, `","display_url":"`...)
			b = appendEscapedPath(b, domains[sp.ref])
			b = append(b, `\/`...)
			b = append(b, sp.token[:7]...)
		}
		b = append(b, `","indices":`...)
		b = appendIndices(b, sp)
		b = append(b, '}')
	}
	b = append(b, `],"user_mentions":[`...)
	n = 0
	for _, sp := range st.spans {
		if sp.kind != spanMention {
			continue
		}
		u := &p.users[sp.ref]
		b = appendComma(b, n)
		n++
		b = append(b, `{"screen_name":"`...)
		b = append(b, u.screenName...)
		b = append(b, `","name":"`...)
		b = append(b, u.name...)
		b = append(b, `","id":`...)
		b = strconv.AppendUint(b, u.id, 10)
		b = append(b, `,"id_str":"`...)
		b = strconv.AppendUint(b, u.id, 10)
		b = append(b, `","indices":`...)
		b = appendIndices(b, sp)
		b = append(b, '}')
	}
	return append(b, `],"symbols":[]}`...)
}

func appendComma(b []byte, n int) []byte {
	if n > 0 {
		b = append(b, ',')
	}
	return b
}

func appendIndices(b []byte, sp span) []byte {
	b = append(b, '[')
	b = strconv.AppendInt(b, int64(sp.start), 10)
	b = append(b, ',')
	b = strconv.AppendInt(b, int64(sp.end), 10)
	return append(b, ']')
}

func appendEscapedPath(b []byte, path string) []byte {
	for i := 0; i < len(path); i++ {
		if path[i] == '/' {
			b = append(b, '\\')
		}
		b = append(b, path[i])
	}
	return b
}

func appendStatusURL(b []byte, st *status) []byte {
	b = append(b, `https:\/\/twitter.com\/`...)
	b = append(b, st.user.screenName...)
	b = append(b, `\/status\/`...)
	return strconv.AppendUint(b, st.id, 10)
}

func appendDisplayStatusURL(b []byte, st *status) []byte {
	b = append(b, `twitter.com\/`...)
	b = append(b, st.user.screenName...)
	b = append(b, `\/status\/`...)
	// Display URLs are cut with an ellipsis after a few characters.
	n := len(b)
	return append(strconv.AppendUint(b, st.id, 10)[:n+5], `\u2026`...)
}
