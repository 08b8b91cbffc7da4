// Package firehose simulates the Twitter v1.1 sample stream for load and
// exactness tests: realistic tweets (retweets, quotes, unicode, ids beyond
// 2^53, varying key order), stream notices and malformed records, shuffled
// out of event-time order, together with the ground truth of tweets per UTC
// minute that an exact pipeline must reproduce.
//
// A Generator is deterministic: the same Config (seed included) yields the
// same records in the same order and the same truth.
package firehose

import (
	"errors"
	"fmt"
	"math"
	"math/rand/v2"
	"time"
)

// Config describes one simulated stream.
type Config struct {
	// Seed makes the stream reproducible.
	Seed uint64
	// Tweets is the number of valid tweets, the ones the truth counts.
	Tweets int
	// Start is the simulated wall clock when the first tweet is written.
	Start time.Time
	// PerMinute is how many tweets the stream carries per minute of
	// simulated time; it decides how many minutes Tweets span.
	PerMinute int
	// LateFrac is the fraction of tweets that arrive late: their event time
	// lies up to MaxLate before the simulated "now".
	LateFrac float64
	// MaxLate bounds how far behind "now" any tweet's event time lies.
	MaxLate time.Duration
	// NoticeFrac and MalformedFrac are fractions of Tweets produced in
	// addition to them: stream notices and records no reader can count.
	NoticeFrac    float64
	MalformedFrac float64
}

// DefaultConfig returns the defaults of kappa-dev tweets: a load like the
// original job's (~3,000 tweets a minute), 10% late by up to 3 h, 2% notices
// and 0.5% malformed records, starting a few hours before now.
func DefaultConfig(now time.Time) Config {
	return Config{
		Seed:          uint64(now.UnixNano()),
		Start:         now.UTC().Truncate(time.Minute).Add(-3 * time.Hour),
		PerMinute:     3000,
		LateFrac:      0.1,
		MaxLate:       3 * time.Hour,
		NoticeFrac:    0.02,
		MalformedFrac: 0.005,
	}
}

// ErrInvalidConfig is wrapped by every Config validation error.
var ErrInvalidConfig = errors.New("invalid firehose config")

func (c Config) validate() error {
	var errs []error
	bad := func(format string, args ...any) {
		errs = append(errs, fmt.Errorf("%w: "+format, append([]any{ErrInvalidConfig}, args...)...))
	}
	if c.Tweets < 0 {
		bad("tweets %d is negative", c.Tweets)
	}
	if c.Start.IsZero() {
		bad("start is not set")
	}
	if c.PerMinute <= 0 {
		bad("per-minute %d must be positive", c.PerMinute)
	}
	for _, f := range []struct {
		name string
		v    float64
	}{{"late-frac", c.LateFrac}, {"notice-frac", c.NoticeFrac}, {"malformed-frac", c.MalformedFrac}} {
		if !(f.v >= 0 && f.v <= 1) {
			bad("%s %v is outside [0, 1]", f.name, f.v)
		}
	}
	if c.MaxLate < 0 {
		bad("max-late %v is negative", c.MaxLate)
	}
	return errors.Join(errs...)
}

// Kind tells what a record is.
type Kind uint8

const (
	// KindTweet is a valid tweet; the truth counts it.
	KindTweet Kind = iota
	// KindNotice is a stream notice ({"delete":…}, {"limit":…}, …).
	KindNotice
	// KindMalformed is a record no reader can count.
	KindMalformed
)

func (k Kind) String() string {
	switch k {
	case KindTweet:
		return "tweet"
	case KindNotice:
		return "notice"
	case KindMalformed:
		return "malformed"
	}
	return fmt.Sprintf("Kind(%d)", uint8(k))
}

// Record is one generated Kafka record value and what it stands for.
type Record struct {
	Kind  Kind
	Value []byte
	// StreamTime is the simulated wall clock when the record was written.
	StreamTime time.Time
	// EventTime, Lang and Late describe a tweet; zero otherwise.
	EventTime time.Time
	Lang      string
	Late      bool
	// Notice names a notice's kind ("delete", "limit", …).
	Notice string
	// Malformation says how a malformed record is broken.
	Malformation Malformation
}

// Counts are what a generator has emitted so far.
type Counts struct {
	Tweets, Notices, Malformed, Late int
}

// Records is the number of records of all kinds.
func (c Counts) Records() int { return c.Tweets + c.Notices + c.Malformed }

// Generator produces the records of one simulated stream. It is not safe
// for concurrent use.
type Generator struct {
	cfg   Config
	rng   *rand.Rand
	pools *pools
	truth *Truth

	planned, emitted Counts

	startMs    int64
	msPerTweet float64
	maxLateMs  int64
	jitterMs   int64
	seq        uint64

	// Scratch reused for every tweet so the hot path does not allocate.
	top, inner status
	order      []field
	innerOrder []field
	shuffled   bool
}

// New validates cfg and prepares a generator. Rendering the account pool
// takes a few milliseconds.
func New(cfg Config) (*Generator, error) {
	if err := cfg.validate(); err != nil {
		return nil, err
	}
	rng := rand.New(rand.NewPCG(cfg.Seed, cfg.Seed^0x9e3779b97f4a7c15))
	g := &Generator{
		cfg:   cfg,
		rng:   rng,
		pools: newPools(rng, cfg.Start),
		truth: newTruth(),
		planned: Counts{
			Tweets:    cfg.Tweets,
			Notices:   int(math.Round(float64(cfg.Tweets) * cfg.NoticeFrac)),
			Malformed: int(math.Round(float64(cfg.Tweets) * cfg.MalformedFrac)),
		},
		startMs:    cfg.Start.UnixMilli(),
		msPerTweet: 60_000 / float64(cfg.PerMinute),
		maxLateMs:  cfg.MaxLate.Milliseconds(),
		order:      make([]field, 0, numFields),
		innerOrder: make([]field, 0, numFields),
	}
	// On-time tweets still trail "now" by a little network and queueing
	// delay, which already puts neighbouring records out of order.
	g.jitterMs = min(2000, g.maxLateMs)
	return g, nil
}

// Planned returns how many records of each kind the stream holds in total.
func (g *Generator) Planned() Counts { return g.planned }

// Emitted returns how many records of each kind Next has returned.
func (g *Generator) Emitted() Counts { return g.emitted }

// Truth returns the per-minute tweet counts of the records emitted so far;
// after the last record it is the ground truth of the whole stream.
func (g *Generator) Truth() *Truth { return g.truth }

// Next appends the next record's value to dst[:0] and returns it, or false
// when the stream is exhausted. Notices and malformed records are spread
// uniformly among the tweets.
func (g *Generator) Next(dst []byte) (Record, bool) {
	left := g.planned.Records() - g.emitted.Records()
	if left == 0 {
		return Record{}, false
	}
	noticesLeft := g.planned.Notices - g.emitted.Notices
	malformedLeft := g.planned.Malformed - g.emitted.Malformed
	now := g.now()
	dst = dst[:0]
	switch x := g.rng.IntN(left); {
	case x < noticesLeft:
		g.emitted.Notices++
		return g.notice(dst, now), true
	case x < noticesLeft+malformedLeft:
		g.emitted.Malformed++
		return g.malformed(dst, now), true
	}
	return g.tweet(dst, now), true
}

// now is the simulated wall clock: it advances one tick per valid tweet.
func (g *Generator) now() int64 {
	return g.startMs + int64(float64(g.emitted.Tweets)*g.msPerTweet)
}

func (g *Generator) tweet(dst []byte, now int64) Record {
	event := now - g.rng.Int64N(g.jitterMs+1)
	late := g.maxLateMs > 0 && g.rng.Float64() < g.cfg.LateFrac
	if late {
		event = now - 1 - g.rng.Int64N(g.maxLateMs)
	}
	st := g.newTweet(event)
	dst = g.appendTweet(dst, st, false)
	g.emitted.Tweets++
	if late {
		g.emitted.Late++
	}
	g.truth.add(event, st.lang)
	return Record{
		Kind:       KindTweet,
		Value:      dst,
		StreamTime: time.UnixMilli(now).UTC(),
		EventTime:  time.UnixMilli(event).UTC(),
		Lang:       st.lang,
		Late:       late,
	}
}
