package profile

import (
	"os"
	"path/filepath"
	"testing"
)

func TestStartWritesCPUAndAllocationProfiles(t *testing.T) {
	dir := t.TempDir()
	t.Setenv(EnvDir, dir)
	stop := Start("unit")
	sink := make([][]byte, 0, 1000)
	for range 1000 {
		sink = append(sink, make([]byte, 4096))
	}
	stop()
	stop() // a second call must be harmless
	for _, kind := range []string{"cpu", "allocs"} {
		matches, _ := filepath.Glob(filepath.Join(dir, "unit-*."+kind+".pprof"))
		if len(matches) != 1 {
			t.Fatalf("%s profiles: %v, want one", kind, matches)
		}
		data, err := os.ReadFile(matches[0])
		if err != nil {
			t.Fatal(err)
		}
		// pprof files are gzipped protobuf.
		if len(data) < 2 || data[0] != 0x1f || data[1] != 0x8b {
			t.Errorf("%s: %d bytes, not a gzipped profile", matches[0], len(data))
		}
	}
	_ = sink
}

func TestStartWithoutDirDoesNothing(t *testing.T) {
	t.Setenv(EnvDir, "")
	wd, _ := os.Getwd()
	before, _ := os.ReadDir(wd)
	Start("unit")()
	after, _ := os.ReadDir(wd)
	if len(after) != len(before) {
		t.Errorf("files in %s: %d before, %d after", wd, len(before), len(after))
	}
}
