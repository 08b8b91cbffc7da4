package mysqlsink_test

import (
	"fmt"

	"github.com/kappa-stream/kappa/plugins/mysql-sink/mysqlsink"
)

// The sink's block in a pipeline file, with the defaults it fills in.
func ExampleParseConfig() {
	cfg, err := mysqlsink.ParseConfig([]byte(`
dsn: root@tcp(127.0.0.1:3306)/aggregates
table: twitter
`))
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Println(cfg.Table, cfg.OffsetsTable, cfg.BatchesTable)

	_, err = mysqlsink.ParseConfig([]byte(`
dsn: root:secret@tcp(127.0.0.1:3306)/
table: twitter-2016
`))
	fmt.Println(err)
	// Output:
	// twitter kappa_offsets kappa_batches
	// dsn: must name a database, e.g. root@tcp(127.0.0.1:3306)/aggregates; table: "twitter-2016" is not a valid name (letters, digits, _ and $, not starting with a digit, at most 64 characters)
}
