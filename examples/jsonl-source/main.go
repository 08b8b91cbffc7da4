// Command jsonl-source is a Kappa source that reads JSON-lines files: each
// file is a partition and each line a record whose offset is its line
// number, counted from 0.
package main

import "github.com/kappa-stream/kappa/sdk"

func main() { sdk.ServeSource(&Files{}) }
