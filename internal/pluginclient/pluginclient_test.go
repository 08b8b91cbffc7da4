package pluginclient

import (
	"testing"

	"github.com/hashicorp/go-plugin"

	"github.com/kappa-stream/kappa/sdk"
)

// The client halves live in package sdk, which cannot name these
// interfaces (it would import this package, which imports it): every
// client the runtime dispenses must still be an Inspector, and an
// extractor's a BatchExtractor, or validate, plugins and the zero-copy
// relay of batches would silently lose them.
func TestDispensedClientsAreTheRuntimesViews(t *testing.T) {
	client, _ := plugin.TestPluginGRPCConn(t, false, PluginSet(nil))
	defer client.Close()
	for _, kind := range []string{sdk.KindSource, sdk.KindExtractor, sdk.KindSink} {
		raw, err := client.Dispense(kind)
		if err != nil {
			t.Fatalf("dispense %s: %v", kind, err)
		}
		if _, ok := raw.(Inspector); !ok {
			t.Errorf("the %s client (%T) is not an Inspector", kind, raw)
		}
		if kind == sdk.KindExtractor {
			if _, ok := raw.(BatchExtractor); !ok {
				t.Errorf("the extractor client (%T) is not a BatchExtractor", raw)
			}
		}
	}
}
