package e2e

import (
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
)

// The sink's fault hook kills the process at the commit boundary; it must
// exist in the harness's build, which the chaos test drives, and nowhere in
// the mysql-sink that users build.
func TestFaultHookOnlyInTestBuilds(t *testing.T) {
	const marker = "KAPPA_TEST_SINK_FAULTS"
	testBuild, err := os.ReadFile(filepath.Join(bins(t), "mysql-sink"))
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Contains(testBuild, []byte(marker)) {
		t.Errorf("the harness's mysql-sink (built with -tags %s) has no %s: the chaos test cannot kill it around COMMIT", testBuildTags, marker)
	}

	release := filepath.Join(t.TempDir(), "mysql-sink")
	cmd := exec.Command("go", "build", "-o", release, "./plugins/mysql-sink")
	cmd.Dir = repoRoot()
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("go build ./plugins/mysql-sink: %v\n%s", err, out)
	}
	b, err := os.ReadFile(release)
	if err != nil {
		t.Fatal(err)
	}
	if bytes.Contains(b, []byte(marker)) {
		t.Errorf("the released mysql-sink (go build ./plugins/mysql-sink) holds the test-only fault hook %s: put it behind the build tag %s", marker, testBuildTags)
	}
}
