package command

import (
	"context"
	"slices"
	"testing"

	"github.com/kappa-stream/kappa/sdk"
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
