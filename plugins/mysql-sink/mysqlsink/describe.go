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
			"dsn":           "go-sql-driver/mysql DSN naming the database, e.g. root@tcp(127.0.0.1:3306)/aggregates; the database is created when missing",
			"table":         "the aggregate table: the 2016 layout plus one column per dimension",
			"offsets_table": "each partition's committed position, the single source of truth for progress",
			"batches_table": "one row per committed range, for audits",
			"tables_table":  "the pipeline owning each aggregate table; another pipeline is refused",
		},
	}
}
