// Package pipeline loads pipeline files: which plugins a pipeline runs, with
// which config, and how the runtime batches and windows their records.
//
// Loading is strict: unknown keys, wrong types and invalid values are all
// reported at once, each as `file:line:col: path: message`. ${NAME} and
// ${NAME:-default} are expanded from the environment in every scalar value,
// after YAML parsing, so that an expanded value can never change the
// structure of the file nor shift its line numbers. An unquoted reference
// takes the type its value reads as (`port: ${PORT:-3306}` is a number, and
// a value of `null` is null); a quoted one, `"${PASSWORD}"`, stays a string.
// Inside flow collections (`[...]`, `{...}`) a reference must be quoted,
// since YAML reads its braces as structure.
package pipeline

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"math"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/kappa-stream/kappa/internal/engine"
	"github.com/kappa-stream/kappa/sdk"
	"gopkg.in/yaml.v3"
)

// supportedVersions lists the values of `version:` this package loads;
// errors name them.
var supportedVersions = []int{1}

// Pipeline is a loaded pipeline file with every default applied.
type Pipeline struct {
	// File is the path as given to Load or Parse.
	File    string
	Version int
	// Name keys the pipeline's committed positions in the sink; it defaults
	// to the file's base name without extension.
	Name                    string
	Source, Extractor, Sink Plugin
	// Window is the length of the tumbling, UTC-aligned event-time windows;
	// default 1m. It is a whole number of seconds that divides a day.
	Window time.Duration
	// Dimensions names the dimensions each fact carries, in order; default none.
	Dimensions []string
	// Aggregates names what each row holds: sdk.AggregateCount, always
	// first, then sdk.AggregateSum when declared; default [count].
	Aggregates []string
	Batch      Batch
	Timeouts   Timeouts
	// OnFenced is what the runtime does when another runtime committed
	// its partitions first: `on_fenced: retry` (the default) or `exit`.
	OnFenced engine.FencedPolicy
	// OnGenerationEnded is what the runtime does when another
	// generation replaced its generation of the output (kappa-runtime
	// reprocess): `on_generation_ended: exit` (the default) or `standby`.
	OnGenerationEnded GenerationEndedPolicy
	// GiveUpAfter is how long batches may keep failing (no commit, or
	// positions that cannot be read) before the runtime exits non-zero;
	// default 2m.
	GiveUpAfter time.Duration
	// Compaction is when settled history is rolled up (compaction.go).
	Compaction Compaction
}

// Batch bounds one Poll of the source.
type Batch struct {
	// Interval is how long a poll may wait for records; default 1s.
	Interval time.Duration
	// MaxRecords caps the records of one batch; default 50000.
	MaxRecords int
	// MaxBytes caps the record bytes of one batch; default 8MiB. Every
	// process holds a few batches at once (polled, in flight, decoded),
	// so this bounds memory; see BENCHMARKS.md.
	MaxBytes int64
}

// Timeouts are the deadlines of calls towards plugins, so that a hung
// plugin fails the batch instead of stalling the pipeline.
type Timeouts struct {
	Open time.Duration // default 30s
	// Poll is added to Batch.Interval, which the poll may spend waiting.
	Poll    time.Duration // default 30s
	Extract time.Duration // default 30s
	Commit  time.Duration // default 60s
}

// DefaultOpenTimeout is `timeouts.open:`'s default. The defaults of the
// keys that set the engine are the engine's (engine.DefaultWindow, …),
// declared once there.
const DefaultOpenTimeout = 30 * time.Second

// Load reads and parses the pipeline file at path, expanding variables from
// the process environment.
func Load(path string) (*Pipeline, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("load pipeline: %w", err)
	}
	return Parse(path, data, os.LookupEnv)
}

// Parse parses a pipeline file's contents. file is used in error messages
// and for the default name; env looks up variables (nil: none is set).
// Every problem is returned at once as Errors.
func Parse(file string, data []byte, env func(string) (string, bool)) (*Pipeline, error) {
	if env == nil {
		env = func(string) (string, bool) { return "", false }
	}
	l := &loader{file: file, failed: map[*yaml.Node]bool{}}
	root := l.parse(data)
	if root == nil {
		return nil, l.errs.err()
	}
	l.interpolate(root, root, "", env)
	p := l.pipeline(root)
	if err := l.errs.err(); err != nil {
		return nil, err
	}
	return p, nil
}

// loader collects every problem of one file.
type loader struct {
	file string
	errs Errors
	// failed marks values whose interpolation failed, so that they are not
	// reported a second time as, say, an invalid duration.
	failed map[*yaml.Node]bool
}

func (l *loader) errorf(n *yaml.Node, path, format string, args ...any) {
	e := &Error{File: l.file, Path: path, Message: fmt.Sprintf(format, args...)}
	if n != nil {
		e.Line, e.Column = n.Line, n.Column
	}
	l.errs = append(l.errs, e)
}

// yamlLine reads the line out of a yaml.v3 syntax error, which has no typed
// form: "yaml: line 3: could not find expected ':'".
var yamlLine = regexp.MustCompile(`^yaml: line (\d+): (.*)$`)

// parse returns the document's root mapping, or nil after recording why
// there is none.
func (l *loader) parse(data []byte) *yaml.Node {
	dec := yaml.NewDecoder(bytes.NewReader(data))
	var doc yaml.Node
	if err := dec.Decode(&doc); err != nil {
		if errors.Is(err, io.EOF) {
			l.errorf(nil, "", "empty pipeline file")
			return nil
		}
		e := &Error{File: l.file, Message: "invalid YAML: " + strings.TrimPrefix(err.Error(), "yaml: ")}
		if m := yamlLine.FindStringSubmatch(err.Error()); m != nil {
			e.Line, _ = strconv.Atoi(m[1])
			e.Message = "invalid YAML: " + m[2]
		}
		l.errs = append(l.errs, e)
		return nil
	}
	var next yaml.Node
	if err := dec.Decode(&next); !errors.Is(err, io.EOF) {
		l.errorf(&next, "", "more than one YAML document; a pipeline file holds one")
	}
	if len(doc.Content) == 0 {
		l.errorf(nil, "", "empty pipeline file")
		return nil
	}
	root := doc.Content[0]
	if root.Kind != yaml.MappingNode {
		l.errorf(root, "", "a pipeline file must be a mapping, not %s", kindOf(root))
		return nil
	}
	return root
}

// interpolate expands variables in every scalar value at and below n, in
// place, reporting problems at pos, n's key. Keys are left alone: they are
// the schema, not data. It also reports duplicate keys, config blocks
// included, which yaml.v3 does not check on a yaml.Node.
func (l *loader) interpolate(pos, n *yaml.Node, path string, env func(string) (string, bool)) {
	switch n.Kind {
	case yaml.ScalarNode:
		l.interpolateScalar(pos, n, path, env)
	case yaml.MappingNode:
		seen := map[string]*yaml.Node{}
		for i := 0; i+1 < len(n.Content); i += 2 {
			key := n.Content[i]
			if first, dup := seen[key.Value]; dup {
				l.errorf(key, joinKey(path, key.Value), "duplicate key (first at line %d)", first.Line)
			} else {
				seen[key.Value] = key
			}
			l.interpolate(key, n.Content[i+1], joinKey(path, key.Value), env)
		}
	case yaml.SequenceNode:
		for i, item := range n.Content {
			l.interpolate(item, item, fmt.Sprintf("%s[%d]", path, i), env)
		}
	case yaml.AliasNode:
		// An alias shares its node with the anchor, which would be expanded
		// twice, and a config block re-encoded alone would lose the anchor.
		l.errorf(pos, path, "YAML aliases are not supported in pipeline files")
		l.failed[n] = true
	}
}

// interpolateScalar reports problems at pos, the key of a mapping value.
func (l *loader) interpolateScalar(pos, n *yaml.Node, path string, env func(string) (string, bool)) {
	val, problems := interpolate(n.Value, env)
	for _, p := range problems {
		l.errorf(pos, path, "%s", p)
	}
	if len(problems) > 0 {
		l.failed[n] = true
		return
	}
	if val == n.Value {
		return
	}
	n.Value = val
	// A plain scalar takes the type its expanded text reads as, so that
	// `port: ${PORT:-3306}` is a number; a quoted one stays a string.
	if n.Style&(yaml.TaggedStyle|yaml.DoubleQuotedStyle|yaml.SingleQuotedStyle|yaml.LiteralStyle|yaml.FoldedStyle) == 0 {
		n.Tag = ""
		n.Tag = n.ShortTag()
	}
}

func joinKey(path, key string) string {
	if path == "" {
		return key
	}
	return path + "." + key
}

// entry is one key of a mapping with a fixed set of keys; val is nil when
// the key is absent.
type entry struct {
	key, val *yaml.Node
	path     string
}

// set reports whether the key is present with a value: a null value counts
// as absent, so `window:` alone means the default.
func (e entry) set() bool {
	return e.val != nil && !(e.val.Kind == yaml.ScalarNode && e.val.ShortTag() == "!!null")
}

// fields splits a mapping into its known keys, reporting unknown ones;
// yaml.v3 applies KnownFields only when decoding into a struct, and not at
// all in Node.Decode, hence by hand.
func (l *loader) fields(n *yaml.Node, path string, known ...string) map[string]entry {
	m := make(map[string]entry, len(known))
	for i := 0; i+1 < len(n.Content); i += 2 {
		key, val := n.Content[i], n.Content[i+1]
		p := joinKey(path, key.Value)
		if key.Value == "<<" && key.ShortTag() == "!!merge" {
			l.errorf(key, p, "YAML merge keys are not supported in pipeline files")
			continue
		}
		if !slices.Contains(known, key.Value) {
			l.errorf(key, p, "unknown key (known: %s)", strings.Join(slices.Sorted(slices.Values(known)), ", "))
			continue
		}
		if _, dup := m[key.Value]; dup {
			continue // reported by interpolate
		}
		m[key.Value] = entry{key: key, val: val, path: p}
	}
	return m
}

// mapping returns the fields of e's value, or nil after reporting that it
// is not a mapping. An absent or null value is an empty mapping.
func (l *loader) mapping(e entry, known ...string) map[string]entry {
	if !e.set() {
		return map[string]entry{}
	}
	if l.failed[e.val] {
		return nil
	}
	if e.val.Kind != yaml.MappingNode {
		l.errorf(e.key, e.path, "must be a mapping, not %s", kindOf(e.val))
		return nil
	}
	return l.fields(e.val, e.path, known...)
}

func (l *loader) pipeline(root *yaml.Node) *Pipeline {
	top := l.fields(root, "", "version", "name", "source", "extractor", "sink",
		"window", "dimensions", "aggregates", "batch", "timeouts", "on_fenced", "on_generation_ended", "give_up_after", "compaction")
	p := &Pipeline{
		File:       l.file,
		Version:    l.version(top["version"], root),
		Name:       l.name(top["name"]),
		Source:     l.plugin(top["source"], "source", root),
		Extractor:  l.plugin(top["extractor"], "extractor", root),
		Sink:       l.plugin(top["sink"], "sink", root),
		Window:     l.window(top["window"]),
		Dimensions: l.dimensions(top["dimensions"]),
		Aggregates: l.aggregates(top["aggregates"]),
		OnFenced:   l.onFenced(top["on_fenced"]),
		Compaction: l.compaction(top["compaction"]),
	}
	p.OnGenerationEnded = l.onGenerationEnded(top["on_generation_ended"])
	p.GiveUpAfter = l.duration(top["give_up_after"], engine.DefaultRetryFor)
	batch := l.mapping(top["batch"], "interval", "max_records", "max_bytes")
	p.Batch = Batch{
		Interval:   l.duration(batch["interval"], engine.DefaultMaxWait),
		MaxRecords: l.maxRecords(batch["max_records"]),
		MaxBytes:   l.size(batch["max_bytes"], engine.DefaultMaxBytes),
	}
	timeouts := l.mapping(top["timeouts"], "open", "poll", "extract", "commit")
	p.Timeouts = Timeouts{
		Open:    l.duration(timeouts["open"], DefaultOpenTimeout),
		Poll:    l.duration(timeouts["poll"], engine.DefaultPollTimeout),
		Extract: l.duration(timeouts["extract"], engine.DefaultExtractTimeout),
		Commit:  l.duration(timeouts["commit"], engine.DefaultCommitTimeout),
	}
	return p
}

// usable reports whether e holds a value worth checking: present, and not
// already reported as a failed interpolation.
func (l *loader) usable(e entry) bool {
	return e.set() && !l.failed[e.val]
}

// scalar reports whether e is a scalar of one of the given tags, and
// otherwise what it is instead, with want describing what was expected.
func (l *loader) scalar(e entry, want string, tags ...string) bool {
	if e.val.Kind == yaml.ScalarNode && slices.Contains(tags, e.val.ShortTag()) {
		return true
	}
	l.errorf(e.key, e.path, "must be %s, not %s", want, kindOf(e.val))
	return false
}

func (l *loader) version(e entry, root *yaml.Node) int {
	versions := make([]string, len(supportedVersions))
	for i, v := range supportedVersions {
		versions[i] = strconv.Itoa(v)
	}
	supported := strings.Join(versions, ", ")
	if !e.set() {
		l.errorf(root, "version", "required (supported: %s)", supported)
		return 0
	}
	if !l.usable(e) || !l.scalar(e, "an integer", "!!int") {
		return 0
	}
	v, err := strconv.Atoi(e.val.Value)
	if err != nil || !slices.Contains(supportedVersions, v) {
		l.errorf(e.key, e.path, "unsupported version (supported: %s)", supported)
		return 0
	}
	return v
}

var pipelineName = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$`)

func (l *loader) name(e entry) string {
	if !e.set() {
		base := filepath.Base(l.file)
		name := strings.TrimSuffix(base, filepath.Ext(base))
		if !pipelineName.MatchString(name) {
			l.errorf(nil, "name", "required: the file name gives no valid pipeline name (letters, digits, _ . -; at most 64)")
		}
		return name
	}
	if !l.usable(e) || !l.scalar(e, "a string", "!!str") {
		return ""
	}
	if !pipelineName.MatchString(e.val.Value) {
		l.errorf(e.key, e.path, "must be letters, digits, _ . - (starting with a letter or digit), at most 64")
	}
	return e.val.Value
}

// plugin decodes `source:`, `extractor:` or `sink:`.
func (l *loader) plugin(e entry, block string, root *yaml.Node) Plugin {
	pl := Plugin{file: l.file, block: block, key: e.key}
	if !e.set() {
		l.errorf(root, block, "required: a mapping with plugin: and optionally config:")
		pl.Config = []byte("{}\n")
		return pl
	}
	m := l.mapping(e, "plugin", "config", "env")
	if m == nil {
		return pl
	}
	pl.Env = l.envNames(m["env"])
	switch name := m["plugin"]; {
	case !name.set():
		l.errorf(e.key, block+".plugin", "required: a plugin binary name or path")
	case l.usable(name) && l.scalar(name, "a string", "!!str"):
		pl.Name = name.val.Value
		if strings.TrimSpace(pl.Name) == "" {
			l.errorf(name.key, name.path, "must not be empty")
		}
	}
	cfg := m["config"]
	pl.configKey = cfg.key
	switch {
	case !cfg.set():
		pl.Config = []byte("{}\n")
	case l.failed[cfg.val]:
	case cfg.val.Kind != yaml.MappingNode:
		l.errorf(cfg.key, cfg.path, "must be a mapping, not %s", kindOf(cfg.val))
	default:
		pl.config = cfg.val
		var buf bytes.Buffer
		enc := yaml.NewEncoder(&buf)
		enc.SetIndent(2)
		if err := enc.Encode(cfg.val); err != nil {
			l.errorf(cfg.key, cfg.path, "re-encode after interpolation: %v", err)
		}
		_ = enc.Close()
		pl.Config = buf.Bytes()
	}
	return pl
}

// durationText checks that e is a duration with a unit and returns it.
func (l *loader) durationText(e entry) (time.Duration, bool) {
	const want = "a duration such as 30s, 1m or 1h30m"
	if !l.scalar(e, want, "!!str") {
		return 0, false
	}
	d, err := time.ParseDuration(e.val.Value)
	if err != nil {
		l.errorf(e.key, e.path, "must be %s", want)
		return 0, false
	}
	if d <= 0 {
		l.errorf(e.key, e.path, "must be positive")
		return 0, false
	}
	return d, true
}

func (l *loader) duration(e entry, def time.Duration) time.Duration {
	if !l.usable(e) {
		return def
	}
	d, _ := l.durationText(e)
	return d
}

// window also requires whole seconds, the precision of the sink's DATETIME
// column, and a divisor of a day, so that windows line up with UTC days.
func (l *loader) window(e entry) time.Duration {
	if !l.usable(e) {
		return engine.DefaultWindow
	}
	d, ok := l.durationText(e)
	switch {
	case !ok:
	case d < time.Second || d%time.Second != 0:
		l.errorf(e.key, e.path, "must be a whole number of seconds, at least 1s")
	case (24*time.Hour)%d != 0:
		l.errorf(e.key, e.path, "must divide a day evenly, such as 1m, 5m, 15m, 1h or 24h")
	}
	return d
}

var identifier = regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_]{0,63}$`)

// aggregateColumns are the columns every aggregate table has; a dimension
// of the same name would collide with one of them in the sink.
var aggregateColumns = []string{"partition_id", "start_offset", "end_offset", "timestamp", "count"}

func (l *loader) dimensions(e entry) []string {
	if !l.usable(e) {
		return nil
	}
	if e.val.Kind != yaml.SequenceNode {
		l.errorf(e.key, e.path, "must be a list of dimension names, not %s", kindOf(e.val))
		return nil
	}
	dims := make([]string, 0, len(e.val.Content))
	first := map[string]int{}
	for i, item := range e.val.Content {
		d := entry{key: item, val: item, path: fmt.Sprintf("%s[%d]", e.path, i)}
		if l.failed[item] || !l.scalar(d, "a string", "!!str") {
			continue
		}
		name := item.Value
		lower := strings.ToLower(name)
		switch j, dup := first[lower]; {
		case !identifier.MatchString(name):
			l.errorf(item, d.path, "must be an identifier: letters, digits and _, not starting with a digit, at most 64")
		case slices.Contains(aggregateColumns, lower):
			l.errorf(item, d.path, "is a column of every aggregate table (%s); choose another name", strings.Join(aggregateColumns, ", "))
		case dup:
			l.errorf(item, d.path, "duplicate of %s[%d] (names are case-insensitive in the sink)", e.path, j)
		default:
			first[lower] = i
			dims = append(dims, name)
		}
	}
	return dims
}

// aggregates reads the list of aggregates. Every row counts its facts, so
// count is always there; sum adds the sum of the facts' values.
func (l *loader) aggregates(e entry) []string {
	out := []string{sdk.AggregateCount}
	if !l.usable(e) {
		return out
	}
	if e.val.Kind != yaml.SequenceNode {
		l.errorf(e.key, e.path, "must be a list of aggregates (count, sum), not %s", kindOf(e.val))
		return out
	}
	for i, item := range e.val.Content {
		a := entry{key: item, val: item, path: fmt.Sprintf("%s[%d]", e.path, i)}
		if l.failed[item] || !l.scalar(a, "a string", "!!str") {
			continue
		}
		switch item.Value {
		case sdk.AggregateCount:
		case sdk.AggregateSum:
			if !slices.Contains(out, sdk.AggregateSum) {
				out = append(out, sdk.AggregateSum)
			}
		default:
			l.errorf(item, a.path, "unknown aggregate; the aggregates are count (always kept) and sum")
		}
	}
	return out
}

func (l *loader) maxRecords(e entry) int {
	if !l.usable(e) {
		return engine.DefaultMaxRecords
	}
	if !l.scalar(e, "an integer", "!!int") {
		return 0
	}
	var n int
	if err := e.val.Decode(&n); err != nil {
		l.errorf(e.key, e.path, "must be an integer that fits in %d bits", strconv.IntSize)
		return 0
	}
	if n <= 0 {
		l.errorf(e.key, e.path, "must be positive")
	}
	return n
}

var sizeText = regexp.MustCompile(`^([0-9]+) ?(B|KB|MB|GB|KiB|MiB|GiB)$`)

var sizeUnits = map[string]int64{
	"B": 1, "KB": 1e3, "MB": 1e6, "GB": 1e9, "KiB": 1 << 10, "MiB": 1 << 20, "GiB": 1 << 30,
}

// size accepts a number of bytes or a size with a unit: 64MiB, 500 KB.
func (l *loader) size(e entry, def int64) int64 {
	const want = "a positive size in bytes, such as 1048576 or 64MiB (units B, KB, MB, GB, KiB, MiB, GiB)"
	if !l.usable(e) {
		return def
	}
	if !l.scalar(e, want, "!!int", "!!str") {
		return 0
	}
	var n int64
	if e.val.ShortTag() == "!!int" {
		if err := e.val.Decode(&n); err != nil {
			n = -1
		}
	} else if m := sizeText.FindStringSubmatch(e.val.Value); m != nil {
		v, err := strconv.ParseInt(m[1], 10, 64)
		if unit := sizeUnits[m[2]]; err == nil && v <= math.MaxInt64/unit {
			n = v * unit
		} else {
			n = -1
		}
	} else {
		n = -1
	}
	if n <= 0 {
		l.errorf(e.key, e.path, "must be %s", want)
	}
	return n
}

// kindOf names what a node is without quoting its value, which may be a
// secret.
func kindOf(n *yaml.Node) string {
	switch n.Kind {
	case yaml.MappingNode:
		return "a mapping"
	case yaml.SequenceNode:
		return "a list"
	case yaml.AliasNode:
		return "an alias"
	}
	switch n.ShortTag() {
	case "!!str":
		return "a string"
	case "!!int":
		return "an integer"
	case "!!float":
		return "a number"
	case "!!bool":
		return "a boolean"
	case "!!null":
		return "empty"
	default:
		return "a " + strings.TrimPrefix(n.ShortTag(), "!!") + " value"
	}
}
