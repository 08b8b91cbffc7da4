package e2e

import (
	"bytes"
	"os"
	"path/filepath"
	"testing"
)

// The sinks' fault hook kills the process at the commit boundary; it must
// exist in the harness's builds, which the chaos tests drive. That released
// builds hold no test hook is checked for every binary by internal/binaries.
func TestFaultHookOnlyInTestBuilds(t *testing.T) {
	const marker = "KAPPA_TEST_SINK_FAULTS"
	for _, sink := range []string{"mysql-sink", "postgres-sink"} {
		testBuild, err := os.ReadFile(filepath.Join(bins(t), sink))
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Contains(testBuild, []byte(marker)) {
			t.Errorf("the harness's %s (built with -tags %s) has no %s: the chaos tests cannot kill it around COMMIT", sink, testBuildTags, marker)
		}
	}
}
