// Command tweet-extractor is Kappa's tweet extractor plugin; kappa-runtime starts it.
package main

import (
	"github.com/kappa-stream/kappa/plugins/tweet-extractor/tweets"
	"github.com/kappa-stream/kappa/sdk"
)

func main() { sdk.ServeExtractor(tweets.New(), sdk.ConcurrentExtract()) }
