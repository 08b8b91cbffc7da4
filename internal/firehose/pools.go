package firehose

import (
	"math/rand/v2"
	"strconv"
	"time"
	"unicode/utf8"
)

// language is one value of a tweet's `lang` field with the phrases its
// tweets are made of. Weights follow the rough mix of the 2016 sample
// stream: English first, Japanese a strong second, a long tail after.
type language struct {
	code    string
	weight  int
	phrases []string
}

var languages = []language{
	{"en", 34, []string{
		"Can't believe it's already Friday",
		"just finished my morning run and I feel amazing",
		"This is the best thing I've seen all week lol",
		"Who else is watching the game tonight?",
		"Breaking: officials confirm the bridge will stay closed until Monday",
		"me: I'll sleep early tonight\nalso me at 3am:",
		"new blog post is up, link below",
		"Happy birthday to my favorite person in the world",
		"\"Be yourself; everyone else is already taken.\" — Oscar Wilde",
		"traffic on the 405 is a nightmare right now",
		"coffee & code, the only way to start a Monday",
		"I'm not crying, you're crying",
		"RT if you remember this",
		"Thank you all for 10k followers!!",
		"prices up 3.5% since last quarter <sigh>",
		"tfw the wifi drops during a deploy",
	}},
	{"ja", 17, []string{
		"おはようございます！今日も一日頑張りましょう",
		"新しいアルバムが発売されました",
		"今日のランチはラーメンでした",
		"明日は雨らしいので傘を忘れずに",
		"フォローありがとうございます",
		"やっと週末だ〜",
		"このアニメ面白すぎる",
		"【定期】相互フォロー募集中です",
		"地震がありましたが大丈夫です",
		"東京は今日も暑い",
	}},
	{"es", 9, []string{
		"¡Buenos días a todos!",
		"No puedo creer lo que acaba de pasar en el partido",
		"¿Alguien sabe a qué hora empieza el concierto?",
		"Feliz cumpleaños, te quiero mucho",
		"Qué calor hace hoy en Madrid",
		"La vida es mejor con café",
		"Mañana empieza la temporada, ¡vamos!",
	}},
	{"pt", 7, []string{
		"Bom dia! Hoje vai ser um ótimo dia",
		"Não aguento mais essa semana",
		"Alguém mais assistindo o jogo?",
		"Saudade de você",
		"Que calor em São Paulo hoje",
		"Obrigado a todos pelo carinho",
	}},
	{"ar", 6, []string{
		"صباح الخير للجميع",
		"اللهم صل وسلم على نبينا محمد",
		"الحمد لله على كل حال",
		"جمعة مباركة",
		"سبحان الله وبحمده سبحان الله العظيم",
		"أهلا وسهلا بكم",
	}},
	{"und", 6, []string{
		"😂😂😂",
		"❤️",
		"👀",
		"🔥🔥🔥🔥",
		"...",
		"!!!",
		"🙏🏽",
		"💯",
	}},
	{"in", 4, []string{
		"Selamat pagi semuanya",
		"Lagi di jalan macet banget",
		"Terima kasih banyak ya",
		"Semangat hari Senin!",
	}},
	{"ko", 3, []string{
		"오늘 너무 행복해요",
		"생일 축하해요!",
		"새 앨범 대박이다",
		"좋은 아침입니다",
	}},
	{"th", 3, []string{
		"สวัสดีตอนเช้าครับ",
		"วันนี้อากาศร้อนมาก",
		"ขอบคุณมากนะคะ",
	}},
	{"tr", 2, []string{
		"Günaydın herkese",
		"Bugün hava çok güzel",
		"Maç başlıyor, hadi bakalım",
	}},
	{"fr", 2, []string{
		"Bonjour tout le monde !",
		"Je n'en peux plus de cette semaine",
		"Quelle belle journée à Paris",
		"Merci à tous pour vos messages ❤",
	}},
	{"ru", 2, []string{
		"Доброе утро!",
		"Сегодня отличный день",
		"Спасибо всем за поздравления",
	}},
	{"tl", 1, []string{
		"Magandang umaga po sa inyong lahat",
		"Salamat sa lahat ng bumati",
	}},
	{"de", 1, []string{
		"Guten Morgen aus Berlin",
		"Schönes Wochenende euch allen",
	}},
	{"it", 1, []string{
		"Buongiorno a tutti",
		"Che bella giornata oggi",
	}},
	{"hi", 1, []string{
		"सुप्रभात दोस्तों",
		"आज का दिन बहुत अच्छा है",
	}},
}

var emojis = []string{"😂", "❤️", "😍", "🔥", "😭", "🙏", "👍🏻", "✨", "💕", "🎉", "😊", "🤔", "👏👏", "🇧🇷", "🇯🇵", "☕"}

var hashtags = []string{
	"MondayMotivation", "TBT", "NowPlaying", "BTS", "GameOfThrones", "WorldCup",
	"Election2016", "MTVHottest", "NBA", "love", "news", "مصر", "拡散希望",
	"photography", "Brexit", "FelizDomingo", "BBMAs", "nofilter", "travel", "ThisIsUs",
}

var domains = []string{
	"nyti.ms", "bit.ly", "youtu.be", "instagram.com/p", "fb.me", "goo.gl",
	"ow.ly", "buff.ly", "bbc.in", "twitter.com/i/web/status",
}

// sources are the `source` anchors of popular clients, already escaped the
// way the v1.1 stream escapes them (\u003c for <, \/ for /).
var sources = []struct {
	weight int
	anchor string
}{
	{30, `\u003ca href=\"http:\/\/twitter.com\/download\/iphone\" rel=\"nofollow\"\u003eTwitter for iPhone\u003c\/a\u003e`},
	{28, `\u003ca href=\"http:\/\/twitter.com\/download\/android\" rel=\"nofollow\"\u003eTwitter for Android\u003c\/a\u003e`},
	{12, `\u003ca href=\"http:\/\/twitter.com\" rel=\"nofollow\"\u003eTwitter Web Client\u003c\/a\u003e`},
	{6, `\u003ca href=\"https:\/\/mobile.twitter.com\" rel=\"nofollow\"\u003eTwitter Lite\u003c\/a\u003e`},
	{5, `\u003ca href=\"http:\/\/twittbot.net\/\" rel=\"nofollow\"\u003etwittbot.net\u003c\/a\u003e`},
	{4, `\u003ca href=\"https:\/\/about.twitter.com\/products\/tweetdeck\" rel=\"nofollow\"\u003eTweetDeck\u003c\/a\u003e`},
	{4, `\u003ca href=\"http:\/\/instagram.com\" rel=\"nofollow\"\u003eInstagram\u003c\/a\u003e`},
	{3, `\u003ca href=\"https:\/\/ifttt.com\" rel=\"nofollow\"\u003eIFTTT\u003c\/a\u003e`},
	{3, `\u003ca href=\"http:\/\/www.hootsuite.com\" rel=\"nofollow\"\u003eHootsuite\u003c\/a\u003e`},
	{2, `\u003ca href=\"http:\/\/dlvr.it\" rel=\"nofollow\"\u003edlvr.it\u003c\/a\u003e`},
	{2, `\u003ca href=\"http:\/\/www.facebook.com\/twitter\" rel=\"nofollow\"\u003eFacebook\u003c\/a\u003e`},
	{1, `\u003ca href=\"https:\/\/buffer.com\" rel=\"nofollow\"\u003eBuffer\u003c\/a\u003e`},
}

var locations = []string{
	"", "", "", "Tokyo, Japan", "London", "Los Angeles, CA", "São Paulo, Brasil",
	"Jakarta", "Riyadh, Kingdom of Saudi Arabia", "México", "東京都", "Paris, France",
	"Seoul", "Istanbul", "NYC", "she/her", "🌍",
}

var timeZones = []struct {
	name   string
	offset int
}{
	{"", 0}, {"Pacific Time (US & Canada)", -28800}, {"Eastern Time (US & Canada)", -18000},
	{"Tokyo", 32400}, {"London", 0}, {"Brasilia", -10800}, {"Riyadh", 10800},
	{"Jakarta", 25200}, {"Madrid", 3600}, {"Seoul", 32400},
}

var profileColors = []string{"1DA1F2", "C0DEED", "F5F8FA", "000000", "FFFFFF", "ABB8C2", "0084B4", "DDEEF6", "333333", "E81C4F", "94D487"}

var nameParts = []string{
	"ka", "ri", "to", "mi", "sa", "na", "lu", "an", "jo", "el", "ma", "ru", "yu", "ki",
	"da", "ne", "so", "ha", "be", "li", "ta", "mo", "ra", "zu",
}

// phrase is a piece of tweet text pre-escaped twice: as the v1.1 stream
// writes it (raw UTF-8, `\/` and HTML entities) and as JSON encoders that
// escape everything outside ASCII write it. runes counts code points, the
// unit of entity indices.
type phrase struct {
	raw, ascii []byte
	runes      int
}

func newPhrase(text string) phrase {
	return phrase{
		raw:   appendEscaped(nil, text, false),
		ascii: appendEscaped(nil, text, true),
		runes: utf8.RuneCountInString(text),
	}
}

func (p phrase) bytes(asciiOnly bool) []byte {
	if asciiOnly {
		return p.ascii
	}
	return p.raw
}

// appendEscaped writes s as the inside of a JSON string the way Twitter does:
// `/` becomes `\/`, the HTML specials become entities (&amp; &lt; &gt;, as in
// real tweet text), control characters are escaped, and with asciiOnly every
// rune outside ASCII becomes \uXXXX (a surrogate pair above the BMP).
func appendEscaped(dst []byte, s string, asciiOnly bool) []byte {
	const hex = "0123456789abcdef"
	for _, r := range s {
		switch {
		case r == '"':
			dst = append(dst, '\\', '"')
		case r == '\\':
			dst = append(dst, '\\', '\\')
		case r == '/':
			dst = append(dst, '\\', '/')
		case r == '&':
			dst = append(dst, "&amp;"...)
		case r == '<':
			dst = append(dst, "&lt;"...)
		case r == '>':
			dst = append(dst, "&gt;"...)
		case r == '\n':
			dst = append(dst, '\\', 'n')
		case r == '\t':
			dst = append(dst, '\\', 't')
		case r < 0x20:
			dst = append(dst, '\\', 'u', '0', '0', hex[r>>4], hex[r&0xf])
		case r < utf8.RuneSelf || !asciiOnly:
			dst = utf8.AppendRune(dst, r)
		default:
			units := []rune{r}
			if r > 0xffff {
				r -= 0x10000
				units = []rune{0xd800 + (r>>10)&0x3ff, 0xdc00 + r&0x3ff}
			}
			for _, u := range units {
				dst = append(dst, '\\', 'u', hex[u>>12&0xf], hex[u>>8&0xf], hex[u>>4&0xf], hex[u&0xf])
			}
		}
	}
	return dst
}

// pools holds everything pre-rendered once per generator, so the hot path
// only copies bytes and writes numbers.
type pools struct {
	langs       []langPool
	langWeights weighted
	emojis      []phrase
	hashtags    []phrase
	users       []user
	sources     []string
	srcWeights  weighted
}

type langPool struct {
	code    string
	phrases []phrase
}

// user is one account, its JSON object rendered once.
type user struct {
	id         uint64
	screenName string
	name       []byte // escaped
	json       []byte
}

// weighted picks an index with probability proportional to its weight.
type weighted struct {
	cumulative []int
}

func newWeighted(weights []int) weighted {
	w := weighted{cumulative: make([]int, len(weights))}
	sum := 0
	for i, x := range weights {
		sum += x
		w.cumulative[i] = sum
	}
	return w
}

func (w weighted) pick(rng *rand.Rand) int {
	x := rng.IntN(w.cumulative[len(w.cumulative)-1])
	for i, c := range w.cumulative {
		if x < c {
			return i
		}
	}
	return len(w.cumulative) - 1
}

// usersInPool bounds the accounts a stream cycles through: enough that
// repeated users look natural, few enough to render quickly at start.
const usersInPool = 4096

func newPools(rng *rand.Rand, start time.Time) *pools {
	p := &pools{}
	weights := make([]int, len(languages))
	for i, l := range languages {
		lp := langPool{code: l.code}
		for _, s := range l.phrases {
			lp.phrases = append(lp.phrases, newPhrase(s))
		}
		p.langs = append(p.langs, lp)
		weights[i] = l.weight
	}
	p.langWeights = newWeighted(weights)
	for _, e := range emojis {
		p.emojis = append(p.emojis, newPhrase(e))
	}
	for _, h := range hashtags {
		p.hashtags = append(p.hashtags, newPhrase(h))
	}
	weights = weights[:0]
	for _, s := range sources {
		p.sources = append(p.sources, s.anchor)
		weights = append(weights, s.weight)
	}
	p.srcWeights = newWeighted(weights)
	for range usersInPool {
		p.users = append(p.users, p.newUser(rng, start))
	}
	return p
}

// twitterEpoch is the snowflake epoch in Unix milliseconds.
const twitterEpoch = 1288834974657

// snowflake builds an id the way Twitter did after 2010: milliseconds since
// the Twitter epoch, then worker and sequence bits. Recent ids exceed 2^53,
// so a JSON reader that decodes them as float64 loses digits.
func snowflake(ms int64, worker, seq uint64) uint64 {
	return uint64(ms-twitterEpoch)<<22 | (worker&0x3ff)<<12 | seq&0xfff
}

func (p *pools) newUser(rng *rand.Rand, start time.Time) user {
	// Accounts are created between 2007 and a month before the stream.
	first := time.Date(2007, 3, 1, 0, 0, 0, 0, time.UTC).UnixMilli()
	last := start.Add(-30 * 24 * time.Hour).UnixMilli()
	created := first + rng.Int64N(max(last-first, 1))
	var id uint64
	if created < time.Date(2015, 1, 1, 0, 0, 0, 0, time.UTC).UnixMilli() {
		// Before 2015 user ids were sequential 32-bit-ish numbers.
		id = uint64(1_000_000 + (created-first)/80)
	} else {
		id = snowflake(created, rng.Uint64(), rng.Uint64())
	}
	lang := p.langs[p.langWeights.pick(rng)]
	var screen []byte
	for range 2 + rng.IntN(3) {
		screen = append(screen, nameParts[rng.IntN(len(nameParts))]...)
	}
	if rng.IntN(3) == 0 {
		screen = strconv.AppendInt(screen, int64(rng.IntN(2000)), 10)
	}
	screenName := string(screen)
	name := []byte(screenName)
	if rng.IntN(4) == 0 {
		name = append(name, ' ')
		name = append(name, p.emojis[rng.IntN(len(p.emojis))].raw...)
	}
	desc := lang.phrases[rng.IntN(len(lang.phrases))].raw
	tz := timeZones[rng.IntN(len(timeZones))]
	loc := appendEscaped(nil, locations[rng.IntN(len(locations))], false)
	color := func() string { return profileColors[rng.IntN(len(profileColors))] }
	// Profile images are uploaded some time within the two years before the
	// stream, after the account exists.
	recent := start.UnixMilli() - rng.Int64N(2*365*24*3600*1000)
	imageID := snowflake(max(created, recent), rng.Uint64(), rng.Uint64())

	b := make([]byte, 0, 1600)
	b = append(b, `{"id":`...)
	b = strconv.AppendUint(b, id, 10)
	b = append(b, `,"id_str":"`...)
	b = strconv.AppendUint(b, id, 10)
	b = append(b, `","name":"`...)
	b = append(b, name...)
	b = append(b, `","screen_name":"`...)
	b = append(b, screenName...)
	b = append(b, `","location":`...)
	if len(loc) == 0 {
		b = append(b, "null"...)
	} else {
		b = append(b, '"')
		b = append(b, loc...)
		b = append(b, '"')
	}
	if rng.IntN(3) == 0 {
		b = append(b, `,"url":"https:\/\/t.co\/`...)
		b = appendToken(b, rng, 10)
		b = append(b, '"')
	} else {
		b = append(b, `,"url":null`...)
	}
	b = append(b, `,"description":"`...)
	b = append(b, desc...)
	b = append(b, `","translator_type":"none","protected":false,"verified":`...)
	b = strconv.AppendBool(b, rng.IntN(50) == 0)
	b = append(b, `,"followers_count":`...)
	b = strconv.AppendInt(b, int64(rng.ExpFloat64()*800), 10)
	b = append(b, `,"friends_count":`...)
	b = strconv.AppendInt(b, int64(rng.ExpFloat64()*400), 10)
	b = append(b, `,"listed_count":`...)
	b = strconv.AppendInt(b, int64(rng.IntN(40)), 10)
	b = append(b, `,"favourites_count":`...)
	b = strconv.AppendInt(b, int64(rng.ExpFloat64()*3000), 10)
	b = append(b, `,"statuses_count":`...)
	b = strconv.AppendInt(b, int64(rng.ExpFloat64()*9000)+1, 10)
	b = append(b, `,"created_at":"`...)
	b = appendCreatedAt(b, created)
	b = append(b, `","utc_offset":`...)
	if tz.name == "" {
		b = append(b, `null,"time_zone":null`...)
	} else {
		b = strconv.AppendInt(b, int64(tz.offset), 10)
		b = append(b, `,"time_zone":"`...)
		b = append(b, tz.name...)
		b = append(b, '"')
	}
	b = append(b, `,"geo_enabled":`...)
	b = strconv.AppendBool(b, rng.IntN(4) == 0)
	b = append(b, `,"lang":"`...)
	b = append(b, lang.code...)
	b = append(b, `","contributors_enabled":false,"is_translator":false,"profile_background_color":"`...)
	b = append(b, color()...)
	defaultProfile := rng.IntN(2) == 0
	if defaultProfile {
		// Accounts that never customised their profile have no background.
		b = append(b, `","profile_background_image_url":null,"profile_background_image_url_https":null,"profile_background_tile":false,"profile_link_color":"`...)
	} else {
		b = append(b, `","profile_background_image_url":"http:\/\/abs.twimg.com\/images\/themes\/theme1\/bg.png","profile_background_image_url_https":"https:\/\/abs.twimg.com\/images\/themes\/theme1\/bg.png","profile_background_tile":false,"profile_link_color":"`...)
	}
	b = append(b, color()...)
	b = append(b, `","profile_sidebar_border_color":"`...)
	b = append(b, color()...)
	b = append(b, `","profile_sidebar_fill_color":"`...)
	b = append(b, color()...)
	b = append(b, `","profile_text_color":"333333","profile_use_background_image":true,"profile_image_url":"http:\/\/pbs.twimg.com\/profile_images\/`...)
	b = strconv.AppendUint(b, imageID, 10)
	img := appendToken(nil, rng, 8)
	b = append(b, '\\', '/')
	b = append(b, img...)
	b = append(b, `_normal.jpg","profile_image_url_https":"https:\/\/pbs.twimg.com\/profile_images\/`...)
	b = strconv.AppendUint(b, imageID, 10)
	b = append(b, '\\', '/')
	b = append(b, img...)
	b = append(b, `_normal.jpg","profile_banner_url":"https:\/\/pbs.twimg.com\/profile_banners\/`...)
	b = strconv.AppendUint(b, id, 10)
	b = append(b, '\\', '/')
	b = strconv.AppendInt(b, created/1000+rng.Int64N(1<<26), 10)
	b = append(b, `","default_profile":`...)
	b = strconv.AppendBool(b, defaultProfile)
	b = append(b, `,"default_profile_image":false,"following":null,"follow_request_sent":null,"notifications":null}`...)
	return user{id: id, screenName: screenName, name: name, json: b}
}

const tokenChars = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789"

// appendToken writes n random URL-safe characters, like a t.co path.
func appendToken(dst []byte, rng *rand.Rand, n int) []byte {
	x := rng.Uint64()
	for i := range n {
		if i%10 == 9 {
			x = rng.Uint64()
		}
		dst = append(dst, tokenChars[x%uint64(len(tokenChars))])
		x /= uint64(len(tokenChars))
	}
	return dst
}

var (
	weekdayNames = [7]string{"Sun", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat"}
	monthNames   = [12]string{"Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"}
)

// appendCreatedAt writes ms in v1.1 form, "Wed Jun 01 19:36:00 +0000 2016",
// truncated to the second as Twitter does.
func appendCreatedAt(dst []byte, ms int64) []byte {
	t := time.UnixMilli(ms).UTC()
	year, month, day := t.Date()
	hour, minute, sec := t.Clock()
	dst = append(dst, weekdayNames[t.Weekday()]...)
	dst = append(dst, ' ')
	dst = append(dst, monthNames[month-1]...)
	dst = append(dst, ' ')
	dst = append2(dst, day)
	dst = append(dst, ' ')
	dst = append2(dst, hour)
	dst = append(dst, ':')
	dst = append2(dst, minute)
	dst = append(dst, ':')
	dst = append2(dst, sec)
	dst = append(dst, " +0000 "...)
	return strconv.AppendInt(dst, int64(year), 10)
}

func append2(dst []byte, n int) []byte {
	return append(dst, byte('0'+n/10), byte('0'+n%10))
}
