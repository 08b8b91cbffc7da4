package kafkasource

import "github.com/kappa-stream/kappa/sdk"

// Describe implements sdk.Describer: the schema `kappa-runtime plugins`
// lists, `kappa-runtime validate` checks and the README's config table
// shows, from Config's tags and its defaults (one declaration per key).
func (*Source) Describe() sdk.Info {
	cfg := DefaultConfig()
	return sdk.Info{
		Description: "Reads every partition of a Kafka topic (franz-go), at the positions the sink committed.",
		Config:      &cfg,
	}
}
