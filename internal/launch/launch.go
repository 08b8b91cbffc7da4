// Package launch finds plugin binaries and starts them as go-plugin
// processes speaking Kappa's gRPC protocol.
package launch

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"time"

	"github.com/hashicorp/go-hclog"
	"github.com/hashicorp/go-plugin"
	"github.com/kappa-stream/kappa/internal/arena"
	"github.com/kappa-stream/kappa/internal/grpcopts"
	"github.com/kappa-stream/kappa/internal/pluginclient"
	"github.com/kappa-stream/kappa/sdk"
)

// ErrPluginNotFound is wrapped by Find's error when no binary matches.
var ErrPluginNotFound = errors.New("plugin binary not found")

// SearchPath lists, in order, where Find looks for a plugin named without
// a path: the pipeline file's folder, the runtime binary's folder, then
// each folder of $KAPPA_PLUGIN_PATH.
func SearchPath(pipelineFile string) []string {
	dirs := []string{filepath.Dir(pipelineFile)}
	if exe, err := os.Executable(); err == nil {
		if resolved, err := filepath.EvalSymlinks(exe); err == nil {
			exe = resolved
		}
		dirs = append(dirs, filepath.Dir(exe))
	}
	for _, d := range filepath.SplitList(os.Getenv("KAPPA_PLUGIN_PATH")) {
		if d != "" {
			dirs = append(dirs, d)
		}
	}
	return dirs
}

// Find resolves a pipeline's `plugin:` value to an executable file and
// returns its absolute path. A value with a slash is a path relative to
// the pipeline file's folder; a bare name is looked up in dirs.
//
// The path is absolute so that the file checked here is the file Start
// executes: exec.Command looks a name without a slash up in $PATH, and
// filepath.Join(".", "mysql-sink") is such a name.
func Find(name, pipelineFile string, dirs []string) (string, error) {
	if strings.ContainsRune(name, '/') {
		path := name
		if !filepath.IsAbs(path) {
			path = filepath.Join(filepath.Dir(pipelineFile), name)
		}
		if err := checkExecutable(path); err != nil {
			return "", fmt.Errorf("plugin %q: %w", name, err)
		}
		return absolute(name, path)
	}
	for _, d := range dirs {
		path := filepath.Join(d, name)
		if checkExecutable(path) == nil {
			return absolute(name, path)
		}
	}
	return "", fmt.Errorf("plugin %q: %w (looked in %s; set KAPPA_PLUGIN_PATH or give a path)", name, ErrPluginNotFound, strings.Join(dirs, ", "))
}

// absolute returns path made absolute against the working directory.
func absolute(name, path string) (string, error) {
	abs, err := filepath.Abs(path)
	if err != nil {
		return "", fmt.Errorf("plugin %q: %s: %w", name, path, err)
	}
	return abs, nil
}

func checkExecutable(path string) error {
	info, err := os.Stat(path)
	if errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("%w: %s", ErrPluginNotFound, path)
	}
	if err != nil {
		return err
	}
	if info.IsDir() || info.Mode()&0o111 == 0 {
		return fmt.Errorf("%s is not an executable file", path)
	}
	return nil
}

// Process is a running plugin.
type Process struct {
	Kind   string
	Path   string
	client *plugin.Client
	impl   any
	// sockets is the folder of the process's socket (socketDir).
	sockets string
}

// Start launches the plugin binary at path and dispenses the interface of
// the given kind (sdk.KindSource, …). The plugin's stderr goes to logger.
// startTimeout bounds the handshake. shared, when not nil, is the arena a
// source or extractor process inherits (internal/arena). env names the
// variables of the runtime's environment the process gets besides the
// minimal environment of every plugin (pluginEnv): the plugin block's
// `env:`.
func Start(kind, path string, logger hclog.Logger, startTimeout time.Duration, shared *arena.Arena, env []string) (*Process, error) {
	if kind != sdk.KindSource && kind != sdk.KindExtractor {
		shared = nil // a sink has no use for it
	}
	// An absolute path, never a bare name that exec.Command would look up
	// in $PATH: the binary run is the one that was found and checked.
	abs, err := filepath.Abs(path)
	if err != nil {
		return nil, fmt.Errorf("start %s plugin %s: %w", kind, path, err)
	}
	cmd := exec.Command(abs)
	sockets, err := socketDir(kind)
	if err != nil {
		return nil, fmt.Errorf("start %s plugin %s: %w", kind, path, err)
	}
	set := []string{socketDirEnv(sockets)}
	if shared != nil {
		// The extractor only reads the values: it gets a read-only view.
		file := shared.File()
		if kind == sdk.KindExtractor {
			file = shared.ReadOnlyFile()
		}
		cmd.ExtraFiles = []*os.File{file}
		set = append(set, shared.Env())
	}
	cmd.Env = pluginEnv(env, set...)
	client := plugin.NewClient(&plugin.ClientConfig{
		HandshakeConfig:  pluginclient.Handshake,
		Plugins:          pluginclient.PluginSet(shared),
		Cmd:              cmd,
		AllowedProtocols: []plugin.Protocol{plugin.ProtocolGRPC},
		Logger:           logger.Named(kind),
		StartTimeout:     startTimeout,
		SyncStderr:       io.Discard, // plugin stderr arrives through Logger
		Managed:          true,
		SkipHostEnv:      true, // cmd.Env is the whole environment
		GRPCDialOptions:  grpcopts.Dial(),
	})
	proc := &Process{Kind: kind, Path: path, client: client, sockets: sockets}
	rpc, err := client.Client()
	if err != nil {
		proc.Stop()
		return nil, fmt.Errorf("start %s plugin %s: %w", kind, path, err)
	}
	if proc.impl, err = rpc.Dispense(kind); err != nil {
		proc.Stop()
		return nil, fmt.Errorf("start %s plugin %s: it does not serve a %s: %w", kind, path, kind, err)
	}
	return proc, nil
}

// Source returns the process's Source; it panics on another kind.
func (p *Process) Source() sdk.Source { return p.impl.(sdk.Source) }

// Extractor returns the process's Extractor; it panics on another kind.
func (p *Process) Extractor() sdk.Extractor { return p.impl.(sdk.Extractor) }

// Sink returns the process's Sink; it panics on another kind.
func (p *Process) Sink() sdk.Sink { return p.impl.(sdk.Sink) }

// Exited reports whether the plugin process has ended.
func (p *Process) Exited() bool { return p.client.Exited() }

// Stop ends the plugin process, gracefully if it answers, and removes its
// socket.
func (p *Process) Stop() {
	p.client.Kill() // returns once the process has exited
	os.RemoveAll(p.sockets)
}

// StopAll ends every plugin process this runtime started and removes the
// folder of their sockets; call it on exit.
func StopAll() {
	plugin.CleanupClients()
	removeSocketsDir()
}
