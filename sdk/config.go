package sdk

import (
	"errors"
	"fmt"
	"reflect"
	"slices"
	"sort"
	"strings"

	"gopkg.in/yaml.v3"
)

// ConfigError is one problem with a config block. Path is the dotted path
// of the offending key inside the block ("table", "tls.ca"); the runtime
// prefixes it and turns it into a file:line position.
type ConfigError struct {
	Path    string
	Message string
}

func (e ConfigError) Error() string {
	if e.Path == "" {
		return e.Message
	}
	return e.Path + ": " + e.Message
}

// ConfigErrors is every problem found in a config block at once.
type ConfigErrors []ConfigError

func (es ConfigErrors) Error() string {
	msgs := make([]string, len(es))
	for i, e := range es {
		msgs[i] = e.Error()
	}
	return strings.Join(msgs, "; ")
}

// Validator is implemented by config structs that check their values after
// decoding. Return ConfigErrors (or a single ConfigError) so that each
// problem points at its key.
type Validator interface {
	Validate() error
}

// DecodeConfig decodes a YAML config block into dst, a pointer to a struct
// whose fields carry yaml tags. Fields keep the values dst already holds
// when the block does not set them, so set defaults before calling. It
// reports at once, each at its key: unknown keys, values of the wrong type,
// keys tagged `required:"true"` that the block leaves out ("required
// (string)"), values outside an `enum:"a,b"` tag ("\"x\" is not one of a,
// b") and, if dst implements Validator and the block decoded, invalid
// values; a key the tags already reported is not reported again by
// Validate. These tags are the ones Describe lists, so the schema the
// runtime shows, what `kappa-runtime validate` checks and what Open
// accepts are one declaration.
func DecodeConfig(raw []byte, dst any) error {
	var doc yaml.Node
	if err := yaml.Unmarshal(raw, &doc); err != nil {
		return ConfigErrors{{Message: err.Error()}}
	}
	v := reflect.ValueOf(dst).Elem()
	var errs ConfigErrors
	if len(doc.Content) > 0 {
		decodeNode(doc.Content[0], v, "", &errs)
	}
	decoded := len(errs) == 0
	errs = append(errs, checkTags(&doc, v, errs)...)
	if validator, ok := dst.(Validator); ok && decoded {
		if err := validator.Validate(); err != nil {
			byTags := errs
			for _, e := range asConfigErrors(err) {
				if e.Path == "" || !byTags.reported(e.Path) {
					errs = append(errs, e)
				}
			}
		}
	}
	if len(errs) > 0 {
		return errs
	}
	return nil
}

// checkTags reports the keys of v that break their `required` or `enum`
// tag, except at paths found already reports.
func checkTags(doc *yaml.Node, v reflect.Value, found ConfigErrors) ConfigErrors {
	if v.Kind() != reflect.Struct {
		return nil
	}
	var out ConfigErrors
	walkFields(v, "", func(path string, sf reflect.StructField, fv reflect.Value) {
		if found.reported(path) {
			return
		}
		if sf.Tag.Get("required") == "true" && !hasKey(doc, path) {
			out = append(out, ConfigError{Path: path, Message: "required (" + schemaType(sf.Type) + ")"})
			return
		}
		if values := enumValues(sf); values != nil {
			if bad, ok := outsideEnum(fv, values); ok {
				out = append(out, ConfigError{Path: path, Message: fmt.Sprintf("%q is not one of %s", bad, strings.Join(values, ", "))})
			}
		}
	})
	return out
}

// outsideEnum returns the first value of v (a string, or a list of them)
// that values does not hold.
func outsideEnum(v reflect.Value, values []string) (string, bool) {
	switch {
	case v.Kind() == reflect.String:
		if !slices.Contains(values, v.String()) {
			return v.String(), true
		}
	case v.Kind() == reflect.Slice && v.Type().Elem().Kind() == reflect.String:
		for i := range v.Len() {
			if s := v.Index(i).String(); !slices.Contains(values, s) {
				return s, true
			}
		}
	}
	return "", false
}

// reported reports whether es holds a problem at path.
func (es ConfigErrors) reported(path string) bool {
	for _, e := range es {
		if e.Path == path {
			return true
		}
	}
	return false
}

func asConfigErrors(err error) ConfigErrors {
	var many ConfigErrors
	if errors.As(err, &many) {
		return many
	}
	var one ConfigError
	if errors.As(err, &one) {
		return ConfigErrors{one}
	}
	return ConfigErrors{{Message: err.Error()}}
}

// decodeNode walks mappings into structs itself, because yaml.v3 does not
// apply KnownFields to Node.Decode, and so that every error carries a path.
func decodeNode(n *yaml.Node, v reflect.Value, path string, errs *ConfigErrors) {
	if n.Kind == yaml.AliasNode {
		n = n.Alias
	}
	if v.Kind() == reflect.Struct && !implementsUnmarshaler(v) {
		if n.Kind == yaml.ScalarNode && n.Tag == "!!null" {
			return
		}
		if n.Kind != yaml.MappingNode {
			*errs = append(*errs, ConfigError{Path: path, Message: "must be a mapping, not " + nodeKind(n)})
			return
		}
		fields := yamlFields(v.Type())
		for i := 0; i+1 < len(n.Content); i += 2 {
			key, val := n.Content[i], n.Content[i+1]
			p := joinPath(path, key.Value)
			idx, ok := fields[key.Value]
			if !ok {
				*errs = append(*errs, ConfigError{Path: p, Message: "unknown key (known: " + knownKeys(fields) + ")"})
				continue
			}
			decodeNode(val, v.FieldByIndex(idx), p, errs)
		}
		return
	}
	if err := n.Decode(v.Addr().Interface()); err != nil {
		// yaml.v3's own message quotes the value, which may be a secret
		// (a DSN with its password): say what was expected instead.
		*errs = append(*errs, ConfigError{Path: path, Message: fmt.Sprintf("must be %s, not %s", typeName(v.Type()), nodeKind(n))})
	}
}

func typeName(t reflect.Type) string {
	switch {
	case t.String() == "time.Duration":
		return "a duration such as 1s or 5m"
	case t.Kind() == reflect.Bool:
		return "true or false"
	case t.Kind() >= reflect.Int && t.Kind() <= reflect.Uint64:
		return "an integer"
	case t.Kind() == reflect.Float32 || t.Kind() == reflect.Float64:
		return "a number"
	case t.Kind() == reflect.String:
		return "a string"
	case t.Kind() == reflect.Slice:
		return "a sequence"
	case t.Kind() == reflect.Map:
		return "a mapping"
	}
	return "a " + t.String()
}

func nodeKind(n *yaml.Node) string {
	switch n.Kind {
	case yaml.SequenceNode:
		return "a sequence"
	case yaml.MappingNode:
		return "a mapping"
	}
	switch n.ShortTag() {
	case "!!int":
		return "an integer"
	case "!!float":
		return "a number"
	case "!!bool":
		return "a boolean"
	case "!!null":
		return "null"
	}
	return "a string of this form"
}

func implementsUnmarshaler(v reflect.Value) bool {
	_, ok := v.Addr().Interface().(yaml.Unmarshaler)
	return ok
}

func yamlFields(t reflect.Type) map[string][]int {
	fields := map[string][]int{}
	for i := 0; i < t.NumField(); i++ {
		f := t.Field(i)
		if inline(f) {
			for name, idx := range yamlFields(f.Type) {
				fields[name] = append([]int{i}, idx...)
			}
			continue
		}
		if !f.IsExported() {
			continue
		}
		name, _, _ := strings.Cut(f.Tag.Get("yaml"), ",")
		if name == "-" {
			continue
		}
		if name == "" {
			name = strings.ToLower(f.Name)
		}
		fields[name] = f.Index
	}
	return fields
}

// inline reports an embedded struct tagged `yaml:",inline"`, whose keys
// are its container's own, as yaml.v3 reads them: config fields several
// plugins share (internal/sinkconfig) are declared once that way.
func inline(f reflect.StructField) bool {
	_, opts, _ := strings.Cut(f.Tag.Get("yaml"), ",")
	return f.Anonymous && f.Type.Kind() == reflect.Struct && slices.Contains(strings.Split(opts, ","), "inline")
}

func knownKeys(fields map[string][]int) string {
	names := make([]string, 0, len(fields))
	for name := range fields {
		names = append(names, name)
	}
	sort.Strings(names)
	return strings.Join(names, ", ")
}

func joinPath(parent, key string) string {
	if parent == "" {
		return key
	}
	return parent + "." + key
}
