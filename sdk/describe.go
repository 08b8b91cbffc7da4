package sdk

import (
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"runtime/debug"
	"strings"
	"time"

	"github.com/kappa-stream/kappa/internal/rpc"
	"gopkg.in/yaml.v3"
)

// Info describes a plugin to `kappa-runtime plugins` and lets
// `kappa-runtime validate` check a pipeline's config block without opening
// the plugin. A plugin describes itself by implementing Describer:
//
//	func (*Files) Describe() sdk.Info {
//		return sdk.Info{
//			Version:     "1.0.0",
//			Description: "reads JSON-lines files",
//			Config:      &Config{Stream: "jsonl"}, // the defaults
//		}
//	}
//
// The config schema is derived from Config, the same struct Open decodes
// with DecodeConfig, and declared once, in its tags: one field per yaml
// key, its type, its default (the value Config holds), a description from
// the field's `doc:"…"` tag, `required:"true"` and the values an `enum:"a,b"`
// tag allows. DecodeConfig enforces the same tags.
type Info struct {
	// Name defaults to the binary's file name.
	Name string `json:"name"`
	// Kind is set by the SDK: source, extractor or sink.
	Kind string `json:"kind"`
	// Version defaults to the module version the binary was built from
	// (or its VCS revision).
	Version     string `json:"version"`
	Description string `json:"description,omitempty"`
	// Config points to a config struct holding the defaults. It stays in
	// the plugin process; the runtime receives Fields.
	Config any `json:"-"`
	// Fields is the schema derived from Config; filled in by the SDK.
	Fields []Field `json:"config"`
	// ConfigDescribed is false for a plugin that gives no Config: its
	// config cannot be listed or checked without opening it.
	ConfigDescribed bool `json:"config_described"`
	// FactLimits is what a sink can store of a fact; the runtime rejects
	// records with facts outside them. Zero for no limits, and for other
	// kinds of plugins.
	FactLimits FactLimits `json:"fact_limits,omitzero"`
}

// Field is one key of a plugin's config block.
type Field struct {
	// Name is the key's dotted path inside the config block.
	Name     string `json:"name"`
	Type     string `json:"type"`
	Default  string `json:"default,omitempty"` // empty when the zero value
	Required bool   `json:"required"`
	// Enum is the values the key allows, from an `enum:"a,b"` tag; empty
	// for any value of its type.
	Enum        []string `json:"enum,omitempty"`
	Description string   `json:"description,omitempty"`
}

// Describer is implemented by plugins that describe themselves.
type Describer interface {
	Describe() Info
}

// describe completes what impl says about itself.
func describe(kind string, impl any) Info {
	var info Info
	if d, ok := impl.(Describer); ok {
		info = d.Describe()
	}
	info.Kind = kind
	if info.Name == "" {
		info.Name = filepath.Base(os.Args[0])
	}
	if info.Version == "" {
		info.Version = buildVersion()
	}
	if info.Config != nil {
		info.ConfigDescribed = true
		info.Fields = Fields(info)
	}
	return info
}

// Fields is the config schema the runtime lists and checks for info:
// ConfigFields of info.Config. A plugin's README config table is generated
// from it (conformance.TestREADME).
func Fields(info Info) []Field {
	if info.Config == nil {
		return nil
	}
	return ConfigFields(info.Config)
}

func buildVersion() string {
	bi, ok := debug.ReadBuildInfo()
	if !ok {
		return "unknown"
	}
	if v := bi.Main.Version; v != "" && v != "(devel)" {
		return v
	}
	var rev, dirty string
	for _, s := range bi.Settings {
		switch s.Key {
		case "vcs.revision":
			rev = s.Value
		case "vcs.modified":
			if s.Value == "true" {
				dirty = "-dirty"
			}
		}
	}
	if len(rev) > 12 {
		rev = rev[:12]
	}
	if rev == "" {
		return "(devel)"
	}
	return "(devel) " + rev + dirty
}

// ConfigFields derives the schema of a config struct; defaults is the
// struct, or a pointer to it, holding the default values.
func ConfigFields(defaults any) []Field {
	v := reflect.ValueOf(defaults)
	for v.Kind() == reflect.Pointer {
		v = v.Elem()
	}
	if v.Kind() != reflect.Struct {
		return nil
	}
	addressable := reflect.New(v.Type()).Elem() // for the Unmarshaler check
	addressable.Set(v)
	var fields []Field
	appendFields(&fields, addressable, "")
	return fields
}

func appendFields(fields *[]Field, v reflect.Value, prefix string) {
	walkFields(v, prefix, func(path string, sf reflect.StructField, fv reflect.Value) {
		*fields = append(*fields, Field{
			Name:        path,
			Type:        schemaType(sf.Type),
			Default:     defaultText(fv),
			Required:    sf.Tag.Get("required") == "true",
			Enum:        enumValues(sf),
			Description: sf.Tag.Get("doc"),
		})
	})
}

// walkFields calls fn for each key of the config struct v, depth first,
// with its dotted path: the keys DecodeConfig decodes, the fields
// ConfigFields lists.
func walkFields(v reflect.Value, prefix string, fn func(path string, sf reflect.StructField, fv reflect.Value)) {
	t := v.Type()
	for i := range t.NumField() {
		sf := t.Field(i)
		if inline(sf) {
			walkFields(v.Field(i), prefix, fn)
			continue
		}
		if !sf.IsExported() {
			continue
		}
		name, _, _ := strings.Cut(sf.Tag.Get("yaml"), ",")
		if name == "-" {
			continue
		}
		if name == "" {
			name = strings.ToLower(sf.Name)
		}
		path := joinPath(prefix, name)
		fv := v.Field(i)
		if fv.Kind() == reflect.Struct && !implementsUnmarshaler(fv) && sf.Type != reflect.TypeFor[time.Time]() {
			walkFields(fv, path, fn)
			continue
		}
		fn(path, sf, fv)
	}
}

// enumValues returns the values an `enum:"a,b"` tag allows; nil without one.
func enumValues(sf reflect.StructField) []string {
	tag, ok := sf.Tag.Lookup("enum")
	if !ok {
		return nil
	}
	var values []string
	for _, v := range strings.Split(tag, ",") {
		values = append(values, strings.TrimSpace(v))
	}
	return values
}

func schemaType(t reflect.Type) string {
	switch {
	case t == reflect.TypeFor[time.Duration]():
		return "duration"
	case t.Kind() == reflect.Bool:
		return "bool"
	case t.Kind() >= reflect.Int && t.Kind() <= reflect.Uint64:
		return "int"
	case t.Kind() == reflect.Float32 || t.Kind() == reflect.Float64:
		return "number"
	case t.Kind() == reflect.String:
		return "string"
	case t.Kind() == reflect.Slice:
		return "list of " + schemaType(t.Elem())
	case t.Kind() == reflect.Map:
		return "map of " + schemaType(t.Elem())
	case t.Kind() == reflect.Pointer:
		return schemaType(t.Elem())
	}
	return t.String()
}

// defaultText renders a default as it would be written in YAML; empty for
// a zero value.
func defaultText(v reflect.Value) string {
	if v.IsZero() {
		return ""
	}
	if d, ok := v.Interface().(time.Duration); ok {
		return d.String()
	}
	out, err := yaml.Marshal(v.Interface())
	if err != nil {
		return fmt.Sprint(v.Interface())
	}
	text := strings.TrimSpace(string(out))
	if v.Kind() == reflect.Slice || v.Kind() == reflect.Map {
		// Flow style reads better on one line.
		var n yaml.Node
		if yaml.Unmarshal(out, &n) == nil && len(n.Content) > 0 {
			n.Content[0].Style = yaml.FlowStyle
			if flow, err := yaml.Marshal(n.Content[0]); err == nil {
				text = strings.TrimSpace(string(flow))
			}
		}
	}
	return text
}

// validateConfig checks raw against info's schema the way Open decodes
// it: into a copy of the defaults, with DecodeConfig (its tags and the
// struct's Validator). It reads and writes nothing outside the process.
func validateConfig(info Info, raw []byte) error {
	if info.Config == nil {
		return rpc.ErrNotDescribed
	}
	def := reflect.ValueOf(info.Config)
	if def.Kind() != reflect.Pointer || def.Elem().Kind() != reflect.Struct {
		return fmt.Errorf("%w: Info.Config must point to a struct, is %T", rpc.ErrNotDescribed, info.Config)
	}
	cfg := reflect.New(def.Elem().Type())
	cfg.Elem().Set(def.Elem())
	return DecodeConfig(raw, cfg.Interface())
}

// hasKey reports whether the dotted path names a non-null value in doc.
func hasKey(doc *yaml.Node, path string) bool {
	n := doc
	if n.Kind == yaml.DocumentNode {
		if len(n.Content) == 0 {
			return false
		}
		n = n.Content[0]
	}
	for _, part := range strings.Split(path, ".") {
		if n.Kind != yaml.MappingNode {
			return false
		}
		var next *yaml.Node
		for i := 0; i+1 < len(n.Content); i += 2 {
			if n.Content[i].Value == part {
				next = n.Content[i+1]
			}
		}
		if next == nil {
			return false
		}
		n = next
	}
	return !(n.Kind == yaml.ScalarNode && n.ShortTag() == "!!null")
}
