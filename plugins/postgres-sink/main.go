// Command postgres-sink is Kappa's PostgreSQL sink plugin; kappa-runtime starts it.
package main

import (
	"github.com/kappa-stream/kappa/plugins/postgres-sink/pgsink"
	"github.com/kappa-stream/kappa/sdk"
)

func main() { sdk.ServeSink(pgsink.New()) }
