package conformance

import (
	"fmt"
	"os"
	"strings"
	"testing"

	"github.com/kappa-stream/kappa/sdk"
)

// The config table of a plugin's README lies between these two lines; the
// first says how it is made.
const (
	tableBegin = "<!-- config table: generated from Describe by conformance.TestREADME; KAPPA_UPDATE_README=1 go test updates it -->"
	tableEnd   = "<!-- end of config table -->"
)

// ConfigTable renders the config schema of info as the Markdown table of a
// README: one row per key, as `kappa-runtime plugins` lists it. The schema
// is derived from info.Config in the plugin's process, or is info.Fields
// as the runtime received it from a plugin.
func ConfigTable(info sdk.Info) string {
	var b strings.Builder
	b.WriteString("| key | type | default | meaning |\n|---|---|---|---|\n")
	fields := info.Fields
	if info.Config != nil {
		fields = sdk.Fields(info)
	}
	for _, f := range fields {
		def := ""
		switch {
		case f.Required:
			def = "required"
		case f.Default != "":
			def = "`" + f.Default + "`"
		}
		typ := f.Type
		if len(f.Enum) > 0 {
			typ = "one of `" + strings.Join(f.Enum, "`, `") + "`"
		}
		desc := strings.ReplaceAll(f.Description, "|", `\|`)
		fmt.Fprintf(&b, "| `%s` | %s | %s | %s |\n", f.Name, typ, def, desc)
	}
	return b.String()
}

// TestREADME fails when the config table in the README at path is not the
// one d's Describe gives, so that a README cannot drift from the schema the
// runtime checks. With KAPPA_UPDATE_README=1 in the environment it writes
// the table instead. The README marks the table's place with two lines:
//
//	<!-- config table: generated from Describe by conformance.TestREADME; KAPPA_UPDATE_README=1 go test updates it -->
//	<!-- end of config table -->
func TestREADME(t *testing.T, d sdk.Describer, path string) {
	t.Helper()
	if os.Getenv("KAPPA_UPDATE_README") == "1" {
		if err := writeREADME(d, path); err != nil {
			t.Fatal(err)
		}
		return
	}
	if err := CheckREADME(d, path); err != nil {
		t.Error(err)
	}
}

// CheckREADME is TestREADME's check: an error when the README at path has
// no config table, or another one than d's Describe gives.
func CheckREADME(d sdk.Describer, path string) error {
	have, want, _, err := readmeTable(d, path)
	if err != nil {
		return err
	}
	if have != want {
		return fmt.Errorf("%s: the config table is not what Describe gives (KAPPA_UPDATE_README=1 go test updates it)\nhave:\n%s\nwant:\n%s", path, have, want)
	}
	return nil
}

func writeREADME(d sdk.Describer, path string) error {
	_, want, splice, err := readmeTable(d, path)
	if err != nil {
		return err
	}
	return os.WriteFile(path, []byte(splice(want)), 0o644)
}

// readmeTable returns the README's table, the one d gives, and the README
// with a table put in its place.
func readmeTable(d sdk.Describer, path string) (have, want string, splice func(string) string, err error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return "", "", nil, fmt.Errorf("README: %w", err)
	}
	text := string(data)
	begin := strings.Index(text, tableBegin)
	end := strings.Index(text, tableEnd)
	if begin < 0 || end < begin {
		return "", "", nil, fmt.Errorf("%s has no config table between the lines\n%s\n%s", path, tableBegin, tableEnd)
	}
	head := text[:begin+len(tableBegin)] + "\n"
	have = strings.TrimPrefix(text[begin+len(tableBegin):end], "\n")
	return have, ConfigTable(d.Describe()), func(table string) string { return head + table + text[end:] }, nil
}
