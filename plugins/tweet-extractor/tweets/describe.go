package tweets

import "github.com/kappa-stream/kappa/sdk"

// Describe implements sdk.Describer: the schema `kappa-runtime plugins`
// lists and `kappa-runtime validate` checks.
func (*Extractor) Describe() sdk.Info {
	return sdk.Info{
		Description: "Turns Twitter API v1.1/v2 payloads into event-time facts; notices are skipped, bad input rejected. Dimensions: lang, source.",
		Config:      &Config{},
	}
}
