package pgsink

import (
	"testing"

	"github.com/kappa-stream/kappa/sdk/conformance"
)

// The README's config table is the schema Describe gives, generated
// (KAPPA_UPDATE_README=1 go test updates it), so that it cannot drift from
// what kappa-runtime plugins lists and validate checks.
func TestREADMEConfigTable(t *testing.T) {
	conformance.TestREADME(t, &Sink{}, "../README.md")
}
