package mysqlsink

import "github.com/kappa-stream/kappa/sdk"

// Describe implements sdk.Describer: the schema `kappa-runtime plugins`
// lists, `kappa-runtime validate` checks and the README's config table
// shows, from Config's tags and its defaults (one declaration per key).
func (*Sink) Describe() sdk.Info {
	cfg := DefaultConfig()
	return sdk.Info{
		Description: "Commits aggregates and offsets to MySQL/MariaDB in one transaction per batch.",
		Config:      &cfg,
		FactLimits:  FactLimits,
	}
}

// FactLimits is what the aggregate table can store of a fact: dimension
// columns of dimensionLength utf8mb4 characters whose PAD SPACE collation
// holds "en" and "en " as one key, a DATETIME of whole seconds for the
// window, and a DOUBLE sum that must be a number. The
// runtime rejects records with facts outside them; checkCommit still refuses
// a row outside them, as a permanent error.
var FactLimits = sdk.FactLimits{
	MaxDimensionChars: dimensionLength,
	DimensionsUTF8:    true,
	NoTrailingSpace:   true,
	EarliestWindow:    minDatetime,
	LatestWindow:      maxDatetime,
	FiniteValues:      true,
}
