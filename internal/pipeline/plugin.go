package pipeline

import (
	"fmt"
	"regexp"
	"strconv"
	"strings"

	"github.com/kappa-stream/kappa/internal/arena"
	"github.com/kappa-stream/kappa/internal/pluginclient"
	"github.com/kappa-stream/kappa/sdk"
	"gopkg.in/yaml.v3"
)

// Plugin is one of a pipeline's source, extractor and sink.
type Plugin struct {
	// Name is the `plugin:` value: a binary name or a path.
	Name string
	// Config is the `config:` block after interpolation, re-encoded as YAML
	// for sdk.Setup.Config; "{}\n" when the block is absent.
	Config []byte
	// Env names the variables of the runtime's environment that the plugin
	// process gets besides the minimal one every plugin gets (see
	// launch.Start): a plugin sees no other variable of the runtime's, so
	// that a secret meant for one plugin (the sink's DSN) is not readable
	// by the others.
	Env []string

	// Kept to turn the plugin's config problems into file positions.
	file, block string
	key         *yaml.Node // `source:`, `extractor:` or `sink:`
	configKey   *yaml.Node // `config:`; nil when absent
	config      *yaml.Node // the config mapping; nil when absent
}

// ConfigErrors positions a plugin's config problems in the pipeline file.
// Paths in errs are relative to the config block (`table`, `tls.ca`,
// `brokers[1]`); each becomes `file:line:col: sink.config.table: message`
// at that key, or at the nearest enclosing key that exists in the file
// (the `config:` key itself, or the block's key when there is no config).
// It returns Errors, or nil when errs is empty.
func (pl Plugin) ConfigErrors(errs sdk.ConfigErrors) error {
	var out Errors
	for _, ce := range errs {
		pos, val := pl.locate(ce.Path)
		e := &Error{File: pl.file, Path: pl.block + ".config", Message: ce.Message}
		if ce.Path != "" {
			e.Path += "." + ce.Path
		}
		if pos != nil {
			e.Line, e.Column = pos.Line, pos.Column
		}
		if secretKey.MatchString(ce.Path) {
			e.Message = redact(e.Message, val)
		}
		out = append(out, e)
	}
	return out.err()
}

// locate finds the node a config path points at: pos is where to report
// it (a key, or a list item), val its value when found.
func (pl Plugin) locate(path string) (pos, val *yaml.Node) {
	pos = pl.configKey
	if pos == nil {
		pos = pl.key
	}
	n := pl.config
	if n == nil || path == "" {
		return pos, nil
	}
	for _, part := range strings.Split(path, ".") {
		name, indexes, _ := strings.Cut(part, "[")
		if name != "" {
			key, v := lookup(n, name)
			if key == nil {
				return pos, nil
			}
			pos, n = key, v
		}
		if indexes == "" {
			continue
		}
		for _, ix := range strings.Split(strings.TrimSuffix(indexes, "]"), "][") {
			i, err := strconv.Atoi(ix)
			if err != nil || n.Kind != yaml.SequenceNode || i < 0 || i >= len(n.Content) {
				return pos, nil
			}
			pos, n = n.Content[i], n.Content[i]
		}
	}
	return pos, n
}

func lookup(m *yaml.Node, name string) (key, val *yaml.Node) {
	if m.Kind != yaml.MappingNode {
		return nil, nil
	}
	for i := 0; i+1 < len(m.Content); i += 2 {
		if m.Content[i].Value == name {
			return m.Content[i], m.Content[i+1]
		}
	}
	return nil, nil
}

// secretKey matches config paths whose values must never appear in an
// error: a DSN carries a password.
var secretKey = regexp.MustCompile(`(?i)password|passwd|secret|token|dsn|credential|private_?key|api_?key`)

// quotedSpan matches what yaml.v3 and fmt %q put around values they echo,
// which may be a truncated prefix of the value rather than all of it.
var quotedSpan = regexp.MustCompile("`[^`]*`|\"(?:[^\"\\\\]|\\\\.)*\"")

func redact(msg string, val *yaml.Node) string {
	if val != nil && val.Kind == yaml.ScalarNode && val.Value != "" {
		msg = strings.ReplaceAll(msg, val.Value, "[redacted]")
	}
	return quotedSpan.ReplaceAllString(msg, "[redacted]")
}

// envName is a variable name a plugin's `env:` may declare: what a POSIX
// shell accepts.
var envName = regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_]*$`)

// reservedEnv reports whether the runtime or go-plugin sets the variable
// name for every plugin process itself, so that a pipeline may not pass
// its own value.
func reservedEnv(name string) bool {
	return name == arena.Env || name == pluginclient.Handshake.MagicCookieKey || strings.HasPrefix(name, "PLUGIN_")
}

// envNames reads a plugin block's `env:`, a list of variable names.
func (l *loader) envNames(e entry) []string {
	if !l.usable(e) {
		return nil
	}
	if e.val.Kind != yaml.SequenceNode {
		l.errorf(e.key, e.path, "must be a list of environment variable names, not %s", kindOf(e.val))
		return nil
	}
	var names []string
	first := map[string]int{}
	for i, item := range e.val.Content {
		v := entry{key: item, val: item, path: fmt.Sprintf("%s[%d]", e.path, i)}
		if l.failed[item] || !l.scalar(v, "a variable name", "!!str") {
			continue
		}
		name := item.Value
		switch j, dup := first[name]; {
		case !envName.MatchString(name):
			l.errorf(item, v.path, "must be a variable name: letters, digits and _, not starting with a digit")
		case reservedEnv(name):
			l.errorf(item, v.path, "is set by the runtime for every plugin; a pipeline cannot pass it")
		case dup:
			l.errorf(item, v.path, "duplicate of %s[%d]", e.path, j)
		default:
			first[name] = i
			names = append(names, name)
		}
	}
	return names
}
