package launch

import (
	"os"
	"path/filepath"
	"testing"
)

// A pipeline file named from its own folder (`kappa-runtime p.yaml`) has
// "." as its folder: Find must still return an absolute path, or
// exec.Command would look the bare name up in $PATH and run another binary
// than the one Find checked.
func TestFindReturnsAnAbsolutePath(t *testing.T) {
	dir := t.TempDir()
	for _, f := range []string{"mysql-sink", "bin/csv-sink"} {
		path := filepath.Join(dir, f)
		if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(path, []byte("#!/bin/sh\n"), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	t.Chdir(dir)
	for _, tc := range []struct{ name, want string }{
		{"mysql-sink", filepath.Join(dir, "mysql-sink")},
		{"./mysql-sink", filepath.Join(dir, "mysql-sink")},
		{"bin/csv-sink", filepath.Join(dir, "bin", "csv-sink")},
	} {
		got, err := Find(tc.name, "p.yaml", SearchPath("p.yaml"))
		if err != nil {
			t.Errorf("Find(%q): %v", tc.name, err)
			continue
		}
		if got != tc.want {
			t.Errorf("Find(%q) = %q, want %q", tc.name, got, tc.want)
		}
	}
}
