package mysqlsink

import "github.com/kappa-stream/kappa/sdk"

// Describe implements sdk.Describer: the schema `kappa-runtime plugins`
// lists and `kappa-runtime validate` checks, from Config and its defaults.
func (*Sink) Describe() sdk.Info {
	cfg := DefaultConfig()
	return sdk.Info{
		Description: "Commits aggregates and offsets to MySQL/MariaDB in one transaction per batch.",
		Config:      &cfg,
		Required:    []string{"dsn", "table"},
		Docs: map[string]string{
			"dsn":           "go-sql-driver/mysql DSN naming the database, e.g. root@tcp(127.0.0.1:3306)/aggregates; the database is created when missing; a charset or collation other than utf8mb4 is refused",
			"table":         "the aggregate table: the 2016 layout plus one column per dimension",
			"offsets_table": "each partition's committed position, the single source of truth for progress",
			"batches_table": "one row per committed range, for audits",
			"tables_table":  "the pipeline owning each aggregate table; another pipeline is refused",
		},
		FactLimits: FactLimits,
	}
}

// FactLimits is what the aggregate table can store of a fact: dimension
// columns of dimensionLength utf8mb4 characters whose PAD SPACE collation
// holds "en" and "en " as one key, a DATETIME of whole seconds for the
// window, and a DOUBLE sum that must be a number. The
// runtime rejects records with facts outside them; checkRow still refuses
// a row outside them, as a permanent error.
var FactLimits = sdk.FactLimits{
	MaxDimensionChars: dimensionLength,
	DimensionsUTF8:    true,
	NoTrailingSpace:   true,
	EarliestWindow:    minDatetime,
	LatestWindow:      maxDatetime,
	FiniteValues:      true,
}
