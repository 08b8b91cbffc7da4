// Command mysql-sink is Kappa's MySQL sink plugin; kappa-runtime starts it.
package main

import (
	"github.com/kappa-stream/kappa/plugins/mysql-sink/mysqlsink"
	"github.com/kappa-stream/kappa/sdk"
)

func main() { sdk.ServeSink(mysqlsink.New()) }
