package launch

import (
	"os"
	"strings"

	"github.com/kappa-stream/kappa/internal/profile"
)

// baseEnv names the variables of the runtime's environment every plugin
// process gets: what a program needs to find programs, files and its
// locale, and nothing that could be a secret. Names ending in "_" are
// prefixes (LC_ALL, LC_TIME, …).
var baseEnv = []string{"PATH", "HOME", "TMPDIR", "USER", "TZ", "LANG", "LANGUAGE", "LC_", profile.EnvDir}

// pluginEnv is the environment a plugin process starts with: the
// variables of baseEnv and those the pipeline declared for the plugin
// (its `env:`), each as the runtime's environment has it, then set, the
// entries the runtime sets itself. go-plugin appends its own
// (the handshake cookie, PLUGIN_*). The runtime's other variables, such
// as KAPPA_MYSQL_DSN with its password, are not passed: every plugin could
// read them from /proc/PID/environ.
func pluginEnv(declared []string, set ...string) []string {
	var env []string
	seen := map[string]bool{}
	for _, kv := range os.Environ() {
		name, _, _ := strings.Cut(kv, "=")
		if !seen[name] && passed(name, declared) {
			seen[name] = true
			env = append(env, kv)
		}
	}
	return append(env, set...)
}

func passed(name string, declared []string) bool {
	for _, n := range declared {
		if n == name {
			return true
		}
	}
	for _, n := range baseEnv {
		if n == name || (strings.HasSuffix(n, "_") && strings.HasPrefix(name, n)) {
			return true
		}
	}
	return false
}
