// Command csv-sink is a Kappa sink that appends aggregate rows to a CSV
// file and keeps the committed positions beside it, swapped atomically with
// the file's committed length, so that exactly-once holds without a
// database.
package main

import "github.com/kappa-stream/kappa/sdk"

func main() { sdk.ServeSink(&CSV{}) }
