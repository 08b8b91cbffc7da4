package kafkasource

import "github.com/kappa-stream/kappa/sdk"

// Describe implements sdk.Describer: the schema `kappa-runtime plugins`
// lists and `kappa-runtime validate` checks, from Config and its defaults.
func (*Source) Describe() sdk.Info {
	cfg := DefaultConfig()
	return sdk.Info{
		Description: "Reads every partition of a Kafka topic (franz-go), at the positions the sink committed.",
		Config:      &cfg,
		Required:    []string{"brokers", "topic"},
		Docs: map[string]string{
			"brokers":         "comma-separated host:port seed brokers",
			"topic":           "the topic read; every partition of it",
			"start":           "where a partition without a committed position begins: earliest or latest",
			"isolation":       "read_committed (records of aborted transactions never count) or read_uncommitted",
			"client_id":       "names this client in the brokers' logs and quotas",
			"on_out_of_range": "fail (default) or skip: continue at the log start, recording the deleted offsets as lost",
			"dial_timeout":    "bounds connecting to a broker, and Open as a whole",
			"fetch_max_bytes": "how much one fetch response may carry (compressed bytes)",
		},
	}
}
