package binaries

import (
	"bytes"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

// devTools are main packages that are not released binaries: make bench
// runs kappa-bench with go run.
var devTools = []string{"kappa-bench"}

// root is the repository's root, two folders up.
const root = "../.."

// Every main package of the module is in the list (or a known development
// tool), under a name no other binary has.
func TestListHoldsEveryMainPackage(t *testing.T) {
	if testing.Short() {
		t.Skip("runs go list; skipped with -short")
	}
	cmd := exec.Command("go", "list", "-json=Name,ImportPath,Dir", "./...")
	cmd.Dir = root
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("go list: %v", err)
	}
	abs, _ := filepath.Abs(root)
	var mains []string
	for dec := json.NewDecoder(strings.NewReader(string(out))); dec.More(); {
		var p struct{ Name, ImportPath, Dir string }
		if err := dec.Decode(&p); err != nil {
			t.Fatal(err)
		}
		if p.Name != "main" {
			continue
		}
		rel, _ := filepath.Rel(abs, p.Dir)
		mains = append(mains, "./"+filepath.ToSlash(rel))
	}
	var listed []string
	seen := map[string]bool{}
	for _, b := range All() {
		listed = append(listed, b.Package)
		if seen[b.Name] {
			t.Errorf("two binaries named %s", b.Name)
		}
		seen[b.Name] = true
	}
	for _, m := range mains {
		if !slices.Contains(listed, m) && !slices.Contains(devTools, filepath.Base(m)) {
			t.Errorf("main package %s is not in binaries.txt", m)
		}
	}
	for _, l := range listed {
		if !slices.Contains(mains, l) {
			t.Errorf("binaries.txt lists %s, which is not a main package", l)
		}
	}
}

// go install names each binary after its folder: every binary of the list
// must come out under its own name, as make build names it.
func TestInstallNamesEveryBinary(t *testing.T) {
	if testing.Short() {
		t.Skip("builds every binary; skipped with -short")
	}
	gobin := t.TempDir()
	cmd := exec.Command("go", "install", "./...")
	cmd.Dir = root
	cmd.Env = append(os.Environ(), "GOBIN="+gobin)
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("GOBIN=%s go install ./...: %v\n%s", gobin, err, out)
	}
	entries, err := os.ReadDir(gobin)
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, e := range entries {
		got = append(got, e.Name())
	}
	want := slices.Clone(devTools)
	for _, b := range All() {
		want = append(want, b.Name)
	}
	slices.Sort(got)
	slices.Sort(want)
	if !slices.Equal(got, want) {
		t.Errorf("go install ./... left %v\nwant %v", got, want)
	}
	// A released binary holds no test-only hook: each is behind the build
	// tag kappa_faults, which only the end-to-end harness builds with.
	// (kappa-bench, a development tool, reads the tests' DSNs.)
	for _, bin := range All() {
		name := bin.Name
		b, err := os.ReadFile(filepath.Join(gobin, name))
		if err != nil {
			t.Fatal(err)
		}
		if i := bytes.Index(b, []byte(testHookPrefix)); i >= 0 {
			end := i + len(testHookPrefix)
			for end < len(b) && (b[end] == '_' || b[end] >= 'A' && b[end] <= 'Z') {
				end++
			}
			t.Errorf("the released %s holds the test-only hook %s: put it behind the build tag %s", name, b[i:end], testTag)
		}
	}
}

// The test-only hooks are named by environment variables that start with
// testHookPrefix and compiled in with the tag testTag only.
const (
	testHookPrefix = "KAPPA_TEST_"
	testTag        = "kappa_faults"
)

// testHooks are the hooks each binary gets with testTag: the sinks' kill
// at the commit boundary (internal/faulthook) and the runtime's kill after
// a cutover step. Built with the tag, each must hold its variable, or the
// release check above proves nothing and the chaos tests kill nothing.
var testHooks = map[string]string{
	"mysql-sink":    "KAPPA_TEST_SINK_FAULTS",
	"postgres-sink": "KAPPA_TEST_SINK_FAULTS",
	"kappa-runtime": "KAPPA_TEST_CUTOVER_KILL",
}

func TestTestHooksOnlyWithTheTag(t *testing.T) {
	if testing.Short() {
		t.Skip("builds binaries; skipped with -short")
	}
	var names []string
	for name := range testHooks {
		names = append(names, name)
	}
	slices.Sort(names)
	dir := t.TempDir()
	cmd := exec.Command("go", append([]string{"build", "-tags", testTag, "-o", dir + string(filepath.Separator)}, Packages(names...)...)...)
	cmd.Dir = root
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("go build -tags %s: %v\n%s", testTag, err, out)
	}
	for _, name := range names {
		b, err := os.ReadFile(filepath.Join(dir, name))
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Contains(b, []byte(testHooks[name])) {
			t.Errorf("%s built with -tags %s has no %s", name, testTag, testHooks[name])
		}
	}
}
