package sdk

import (
	"context"
	"errors"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/hashicorp/go-plugin"
	"github.com/kappa-stream/kappa/internal/rpc"
	"google.golang.org/grpc"
)

type tlsConfig struct {
	CA string `yaml:"ca" doc:"PEM file of the CA"`
}

type describedConfig struct {
	Brokers []string      `yaml:"brokers" required:"true" doc:"seed brokers, host:port"`
	Topic   string        `yaml:"topic" required:"true" doc:"what to read"`
	Start   string        `yaml:"start" enum:"earliest, latest" doc:"where to begin"`
	Timeout time.Duration `yaml:"timeout" doc:"dial timeout"`
	Retries int           `yaml:"retries"`
	TLS     tlsConfig     `yaml:"tls"`
	skipped int
}

func (c *describedConfig) Validate() error {
	if c.Retries < 0 {
		return ConfigError{Path: "retries", Message: "must not be negative"}
	}
	return nil
}

// describedSource is echoSource with a schema.
type describedSource struct{ echoSource }

func (*describedSource) Describe() Info {
	return Info{
		Version:     "1.2.3",
		Description: "a test source",
		Config:      &describedConfig{Start: "earliest", Timeout: 5 * time.Second},
	}
}

func TestConfigFieldsFromTheStruct(t *testing.T) {
	got := ConfigFields(describedConfig{Brokers: []string{"a:1", "b:2"}, Start: "latest", Timeout: time.Second, Retries: 3})
	want := []Field{
		{Name: "brokers", Type: "list of string", Default: "['a:1', 'b:2']", Required: true, Description: "seed brokers, host:port"},
		{Name: "topic", Type: "string", Required: true, Description: "what to read"},
		{Name: "start", Type: "string", Default: "latest", Enum: []string{"earliest", "latest"}, Description: "where to begin"},
		{Name: "timeout", Type: "duration", Default: "1s", Description: "dial timeout"},
		{Name: "retries", Type: "int", Default: "3"},
		{Name: "tls.ca", Type: "string", Description: "PEM file of the CA"},
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("ConfigFields =\n%+v\nwant\n%+v", got, want)
	}
}

func TestDescribeAndValidateCrossTheBoundary(t *testing.T) {
	ctx := context.Background()
	src := dispense(t, KindSource, &sourcePlugin{impl: &describedSource{}}).(inspector)
	info, err := src.Describe(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if info.Kind != KindSource || info.Version != "1.2.3" || !info.ConfigDescribed || len(info.Fields) != 6 {
		t.Fatalf("info %+v", info)
	}
	if f := info.Fields[1]; f.Name != "topic" || !f.Required || f.Description != "what to read" {
		t.Errorf("topic field %+v, want required with the description from its tag", f)
	}
	if f := info.Fields[2]; f.Name != "start" || !reflect.DeepEqual(f.Enum, []string{"earliest", "latest"}) || f.Default != "earliest" {
		t.Errorf("start field %+v, want the enum of its tag and its default", f)
	}

	if err := src.Validate(ctx, Setup{Config: []byte("topic: t\nbrokers: [x:1]\n")}); err != nil {
		t.Errorf("valid config: %v", err)
	}
	err = src.Validate(ctx, Setup{Config: []byte("brokers: 7\ntopics: t\nretries: -1\ntimeout: soon\nstart: middle\n")})
	var problems ConfigErrors
	if !errors.As(err, &problems) {
		t.Fatalf("Validate = %v, want ConfigErrors", err)
	}
	paths := map[string]bool{}
	for _, p := range problems {
		paths[p.Path] = true
	}
	// Wrong types, an unknown key and a missing required key at once; the
	// struct's own Validate runs only once decoding succeeded.
	for _, p := range []string{"brokers", "topics", "timeout", "topic", "start"} {
		if !paths[p] {
			t.Errorf("no problem at %s in %v", p, problems)
		}
	}
	err = src.Validate(ctx, Setup{Config: []byte("topic: t\nbrokers: [x:1]\nretries: -1\n")})
	if !errors.As(err, &problems) || len(problems) != 1 || problems[0].Path != "retries" {
		t.Errorf("Validate with retries -1 = %v, want the struct's own check", err)
	}
}

func TestUndescribedPluginSaysSo(t *testing.T) {
	ctx := context.Background()
	src := dispense(t, KindSource, &sourcePlugin{impl: &echoSource{}}).(inspector)
	info, err := src.Describe(ctx)
	if err != nil || info.ConfigDescribed || info.Kind != KindSource || info.Name == "" {
		t.Errorf("Describe = %+v, %v; want a name and kind, no config", info, err)
	}
	if err := src.Validate(ctx, Setup{Config: []byte("x: 1")}); !errors.Is(err, rpc.ErrNotDescribed) {
		t.Errorf("Validate = %v, want rpc.ErrNotDescribed", err)
	}
}

// clientOnly dispenses a kind's client without serving it: the process
// on the other end serves another kind.
type clientOnly struct{ sourcePlugin }

func (clientOnly) GRPCServer(*plugin.GRPCBroker, *grpc.Server) error { return nil }

func TestDescribeOnTheWrongKindIsNotDescribed(t *testing.T) {
	// A source client talking to an extractor process finds no service,
	// which is how the runtime's listing finds out a binary's kind.
	client, _ := plugin.TestPluginGRPCConn(t, false, map[string]plugin.Plugin{
		KindExtractor: &extractorPlugin{impl: lengthExtractor{}},
		KindSource:    &clientOnly{},
	})
	t.Cleanup(func() { client.Close() })
	raw, err := client.Dispense(KindSource)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := raw.(inspector).Describe(context.Background()); !errors.Is(err, rpc.ErrNotDescribed) {
		t.Errorf("Describe across kinds = %v, want rpc.ErrNotDescribed", err)
	}
}

type sharedTables struct {
	Table string `yaml:"table" required:"true" doc:"the table"`
	Keep  int    `yaml:"keep" doc:"how many to keep"`
}

type inlinedConfig struct {
	DSN          string `yaml:"dsn" doc:"where"`
	sharedTables `yaml:",inline"`
	After        bool `yaml:"after"`
}

// An embedded struct tagged inline lends its keys to its container, in its
// place, as if declared there.
func TestInlinedFieldsAreTheContainersOwn(t *testing.T) {
	got := ConfigFields(inlinedConfig{sharedTables: sharedTables{Keep: 3}})
	want := []Field{
		{Name: "dsn", Type: "string", Description: "where"},
		{Name: "table", Type: "string", Required: true, Description: "the table"},
		{Name: "keep", Type: "int", Default: "3", Description: "how many to keep"},
		{Name: "after", Type: "bool"},
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("ConfigFields =\n%+v\nwant\n%+v", got, want)
	}
	var c inlinedConfig
	if err := DecodeConfig([]byte("dsn: x\ntable: t\nkeep: 5\nafter: true\n"), &c); err != nil || c.Table != "t" || c.Keep != 5 || !c.After {
		t.Errorf("decoded %+v, %v", c, err)
	}
	err := DecodeConfig([]byte("dsn: x\nsharedtables: {}\n"), &c)
	if err == nil || !strings.Contains(err.Error(), "table: required (string)") || !strings.Contains(err.Error(), "sharedtables: unknown key (known: after, dsn, keep, table)") {
		t.Errorf("decoding a config without table and with the embedded type's name: %v", err)
	}
}
