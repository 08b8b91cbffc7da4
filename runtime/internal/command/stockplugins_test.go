package command

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/kappa-stream/kappa/internal/binaries"
	"github.com/kappa-stream/kappa/internal/launch"
)

var (
	pluginsOnce sync.Once
	pluginsDir  string
	pluginsErr  error
)

// stockPlugins builds every plugin of binaries.txt (plugins/ and
// examples/) once and puts their folder on KAPPA_PLUGIN_PATH for the test.
func stockPlugins(t *testing.T) {
	t.Helper()
	if testing.Short() {
		t.Skip("builds plugin binaries; skipped with -short")
	}
	pluginsOnce.Do(func() {
		if pluginsDir, pluginsErr = os.MkdirTemp("", "kappa-validate-"); pluginsErr != nil {
			return
		}
		for _, b := range binaries.All() {
			pkg := b.Package
			if !strings.HasPrefix(pkg, "./plugins/") && !strings.HasPrefix(pkg, "./examples/") {
				continue
			}
			cmd := exec.Command("go", "build", "-o", filepath.Join(pluginsDir, filepath.Base(pkg)), pkg)
			cmd.Dir = "../../.."
			if out, err := cmd.CombinedOutput(); err != nil {
				pluginsErr = &buildError{pkg: pkg, out: string(out), err: err}
				return
			}
		}
	})
	if pluginsErr != nil {
		t.Fatal(pluginsErr)
	}
	t.Setenv("KAPPA_PLUGIN_PATH", pluginsDir)
}

type buildError struct {
	pkg, out string
	err      error
}

func (e *buildError) Error() string { return "go build " + e.pkg + ": " + e.err.Error() + "\n" + e.out }

func TestMain(m *testing.M) {
	code := m.Run()
	launch.StopAll() // as main does: removes the plugins' socket folder
	if pluginsDir != "" {
		os.RemoveAll(pluginsDir)
	}
	os.Exit(code)
}
