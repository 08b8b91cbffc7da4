// Package binaries is the one list of Kappa's binaries (binaries.txt), for
// the tests that build them; the Makefile reads the same file.
package binaries

import (
	_ "embed"
	"path"
	"strings"
)

//go:embed binaries.txt
var list string

// Binary is one binary and the package it is built from.
type Binary struct {
	Name    string // the folder's name: kappa-runtime, mysql-sink, …
	Package string // relative to the repository's root: ./plugins/mysql-sink
}

// All returns every binary of binaries.txt, in its order.
func All() []Binary {
	var out []Binary
	for _, line := range strings.Split(list, "\n") {
		line = strings.TrimSpace(line)
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		out = append(out, Binary{Name: path.Base(line), Package: line})
	}
	return out
}

// Packages returns the package paths of the binaries named, in the order
// given; it panics on a name that is not in the list, which is a mistake in
// the test calling it.
func Packages(names ...string) []string {
	all := All()
	out := make([]string, 0, len(names))
	for _, name := range names {
		i := 0
		for i < len(all) && all[i].Name != name {
			i++
		}
		if i == len(all) {
			panic("binaries: no binary named " + name + " in binaries.txt")
		}
		out = append(out, all[i].Package)
	}
	return out
}
