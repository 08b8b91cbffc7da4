package binaries

import (
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
}
