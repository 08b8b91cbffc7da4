// Command kafka-source is Kappa's Kafka source plugin; kappa-runtime starts it.
package main

import (
	"github.com/kappa-stream/kappa/plugins/kafka-source/kafkasource"
	"github.com/kappa-stream/kappa/sdk"
)

func main() { sdk.ServeSource(kafkasource.New(kafkasource.TuneGC())) }
