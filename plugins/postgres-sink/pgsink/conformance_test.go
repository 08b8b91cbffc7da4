package pgsink

import (
	"strings"
	"testing"

	"github.com/kappa-stream/kappa/internal/testenv"
	"github.com/kappa-stream/kappa/sdk"
	"github.com/kappa-stream/kappa/sdk/conformance"
)

// TestConformance runs the SDK's sink contract against PostgreSQL, without
// dimensions (the 2016 layout) and with two and dead letters.
func TestConformance(t *testing.T) {
	database, _ := testDatabase(t)
	for name, dims := range map[string][]string{"NoDimensions": nil, "TwoDimensions": {"lang", "source"}} {
		extra := ""
		if dims != nil {
			extra = "dead_letters: kappa_dead_letters\ndead_letters_max_bytes: 64\n"
		}
		t.Run(name, func(t *testing.T) {
			conformance.TestSink(t, conformance.SinkFixture{
				New:   func() sdk.Sink { return New() },
				Setup: sdk.Setup{Config: []byte("dsn: '" + testenv.PostgresDSN(database) + "'\ntable: t_" + strings.ToLower(name) + "\n" + extra), Dimensions: dims},
			})
		})
	}
}
