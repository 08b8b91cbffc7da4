package kafkasource

import (
	"fmt"
	"testing"

	"github.com/kappa-stream/kappa/sdk"
	"github.com/kappa-stream/kappa/sdk/conformance"
)

// TestConformance runs the SDK's source contract against an in-process
// broker holding 4 partitions of 25 records each.
func TestConformance(t *testing.T) {
	_, brokers := newBroker(t, 4)
	produce(t, newProducer(t, brokers), numbered(4, 0, 25)...)
	conformance.TestSource(t, conformance.SourceFixture{
		New:     func() sdk.Source { return New() },
		Setup:   sdk.Setup{Config: []byte(fmt.Sprintf("brokers: %s\ntopic: %s\ndial_timeout: 5s\n", brokers, testTopic))},
		Records: 100,
	})
}
