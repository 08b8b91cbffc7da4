package command

import (
	"context"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/kappa-stream/kappa/internal/pipeline"
	"github.com/kappa-stream/kappa/sdk"
	"github.com/kappa-stream/kappa/sdk/conformance"
	"gopkg.in/yaml.v3"
)

func TestPluginsListsKindsAndFields(t *testing.T) {
	stockPlugins(t)
	found, skipped := findAllPlugins(context.Background(), []string{pluginsDir})
	if len(skipped) > 0 {
		t.Errorf("skipped %v", skipped)
	}
	kinds := map[string]string{}
	for _, p := range found {
		kinds[p.Name] = p.Kind
		if p.Name == "kafka-source" {
			i := slices.IndexFunc(p.Fields, func(f sdk.Field) bool { return f.Name == "start" })
			if i < 0 || p.Fields[i].Default != "earliest" || p.Fields[i].Type != "string" {
				t.Errorf("kafka-source fields %+v, want start: string, default earliest", p.Fields)
			}
		}
	}
	want := map[string]string{"kafka-source": "source", "tweet-extractor": "extractor", "mysql-sink": "sink", "csv-sink": "sink"}
	for name, kind := range want {
		if kinds[name] != kind {
			t.Errorf("%s listed as %q, want %q (all: %v)", name, kinds[name], kind, kinds)
		}
	}
}

// received is a plugin as kappa-runtime plugins lists it: its schema is the
// one that crossed the process boundary.
type received struct{ info sdk.Info }

func (r received) Describe() sdk.Info { return r.info }

// What kappa-runtime plugins lists of each stock plugin is what its
// folder says: the README's config table, generated in the plugin's own
// process, has every key with the type and default the runtime received,
// and the sample pipeline sets every key (its READMEs say it does).
func TestPluginsAgreeWithTheirFolders(t *testing.T) {
	stockPlugins(t)
	found, _ := findAllPlugins(context.Background(), []string{pluginsDir})
	if len(found) < 7 {
		t.Fatalf("found %d plugins, want the 7 of plugins/ and examples/", len(found))
	}
	for _, p := range found {
		dir := filepath.Join("../../../plugins", p.Name)
		if _, err := os.Stat(dir); err != nil {
			dir = filepath.Join("../../../examples", p.Name)
		}
		if len(p.Fields) > 0 {
			if err := conformance.CheckREADME(received{p.Info}, filepath.Join(dir, "README.md")); err != nil {
				t.Errorf("%s: kappa-runtime plugins and the README disagree: %v", p.Name, err)
			}
		}
		sample, err := pipeline.Load(filepath.Join(dir, "pipeline.yaml"))
		if err != nil {
			t.Errorf("%s: %v", p.Name, err)
			continue
		}
		var config map[string]any
		for _, b := range blocks(sample) {
			if b.plugin.Name == p.Name {
				if err := yaml.Unmarshal(b.plugin.Config, &config); err != nil {
					t.Fatalf("%s: %v", p.Name, err)
				}
			}
		}
		for _, f := range p.Fields {
			if _, ok := lookupKey(config, f.Name); !ok {
				t.Errorf("%s/pipeline.yaml does not set %s, a key of %s", dir, f.Name, p.Name)
			}
		}
	}
}

// lookupKey finds a dotted key (tls.ca) in a decoded config block.
func lookupKey(config map[string]any, key string) (any, bool) {
	head, rest, nested := strings.Cut(key, ".")
	v, ok := config[head]
	if !ok || !nested {
		return v, ok
	}
	m, _ := v.(map[string]any)
	return lookupKey(m, rest)
}
