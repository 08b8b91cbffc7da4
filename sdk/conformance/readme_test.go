package conformance

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/kappa-stream/kappa/sdk"
)

type tableConfig struct {
	Dir   string `yaml:"dir" required:"true" doc:"where the files go"`
	Table string `yaml:"table" doc:"base name | of the files"`
	Every int    `yaml:"every"`
}

type described struct{ cfg tableConfig }

func (d described) Describe() sdk.Info { return sdk.Info{Config: &d.cfg} }

func TestREADMETableIsCheckedAndUpdated(t *testing.T) {
	d := described{tableConfig{Table: "t"}}
	want := "| key | type | default | meaning |\n|---|---|---|---|\n" +
		"| `dir` | string | required | where the files go |\n" +
		"| `table` | string | `t` | base name \\| of the files |\n" +
		"| `every` | int |  |  |\n"
	if got := ConfigTable(d.Describe()); got != want {
		t.Fatalf("table:\n%s\nwant:\n%s", got, want)
	}
	path := filepath.Join(t.TempDir(), "README.md")
	stale := "# x\n\n" + tableBegin + "\n| key |\n" + tableEnd + "\n\nmore\n"
	os.WriteFile(path, []byte(stale), 0o644)
	if err := CheckREADME(d, path); err == nil || !strings.Contains(err.Error(), "not what Describe gives") {
		t.Fatalf("a stale table: %v, want an error", err)
	}
	if err := writeREADME(d, path); err != nil {
		t.Fatal(err)
	}
	if err := CheckREADME(d, path); err != nil {
		t.Fatalf("after the update: %v", err)
	}
	b, _ := os.ReadFile(path)
	if !strings.HasPrefix(string(b), "# x\n\n") || !strings.HasSuffix(string(b), tableEnd+"\n\nmore\n") {
		t.Errorf("the update touched more than the table:\n%s", b)
	}
	os.WriteFile(path, []byte("# no table\n"), 0o644)
	if err := CheckREADME(d, path); err == nil {
		t.Error("a README without the table's lines passed")
	}
}
