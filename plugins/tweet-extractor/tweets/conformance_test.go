package tweets

import (
	"testing"
	"time"

	"github.com/kappa-stream/kappa/sdk"
	"github.com/kappa-stream/kappa/sdk/conformance"
)

// TestConformance runs the SDK's extractor contract over every real
// payload (tweets, notices, rejects), without dimensions and with both.
func TestConformance(t *testing.T) {
	var records []sdk.Record
	for _, name := range realFiles {
		for _, line := range realLines(t, name) {
			records = append(records, sdk.Record{Offset: int64(len(records)), Value: line, Time: time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)})
		}
	}
	for name, dims := range map[string][]string{"NoDimensions": nil, "LangAndSource": bothDims} {
		t.Run(name, func(t *testing.T) {
			conformance.TestExtractor(t, conformance.ExtractorFixture{
				New:     func() sdk.Extractor { return New() },
				Setup:   sdk.Setup{Dimensions: dims},
				Records: records,
			})
		})
	}
}
