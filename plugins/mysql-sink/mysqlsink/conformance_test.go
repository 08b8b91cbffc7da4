package mysqlsink

import (
	"testing"

	"github.com/kappa-stream/kappa/internal/sinktest"
	"github.com/kappa-stream/kappa/internal/testenv"
	"github.com/kappa-stream/kappa/sdk"
)

// TestConformance runs the SDK's sink contract against MariaDB, without
// dimensions (the 2016 layout) and with two and dead letters.
func TestConformance(t *testing.T) {
	database, _ := testDatabase(t)
	sinktest.Conformance(t, func() sdk.Sink { return New() }, func(table, extra string) []byte {
		return []byte("dsn: '" + testenv.MySQLDSN(database) + "'\ntable: " + table + "\n" + extra)
	})
}
