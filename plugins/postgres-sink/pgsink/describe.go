package pgsink

import (
	"time"

	"github.com/kappa-stream/kappa/sdk"
)

// Describe implements sdk.Describer: the schema `kappa-runtime plugins`
// lists, `kappa-runtime validate` checks and the README's config table
// shows, from Config's tags and its defaults (one declaration per key).
func (*Sink) Describe() sdk.Info {
	cfg := DefaultConfig()
	return sdk.Info{
		Description: "Commits aggregates and offsets to PostgreSQL in one transaction per batch.",
		Config:      &cfg,
		FactLimits:  FactLimits,
	}
}

// Bounds of the windows the sink stores: those of mysql-sink's DATETIME,
// though PostgreSQL's timestamp holds more, so that a pipeline rejects
// the same records whichever of the two sinks it writes to.
var (
	minWindow = time.Date(1000, 1, 1, 0, 0, 0, 0, time.UTC)
	maxWindow = time.Date(9999, 12, 31, 23, 59, 59, 0, time.UTC)
)

// FactLimits is what the aggregate table can store of a fact: dimension
// columns of dimensionLength characters of UTF-8, a window within
// [minWindow, maxWindow] of whole seconds, and a sum that is a number.
// varchar keeps trailing spaces, so "en" and "en " are distinct keys here;
// text cannot hold a NUL character, so a value with one is refused.
// The runtime rejects records with facts outside them; checkCommit still
// refuses a row outside them, as a permanent error.
var FactLimits = sdk.FactLimits{
	MaxDimensionChars: dimensionLength,
	DimensionsUTF8:    true,
	NoNUL:             true,
	EarliestWindow:    minWindow,
	LatestWindow:      maxWindow,
	FiniteValues:      true,
}
