// Package supervise keeps a pipeline's plugin processes alive. Its Source,
// Extractor and Sink implement the SDK interfaces over a plugin process;
// when a call fails because the process died or stopped answering, the
// supervisor kills what is left of it and returns the error, so that the
// engine drops the batch in flight. The next call starts a new process,
// after a bounded exponential backoff, and opens it with the same setup;
// the engine's recovery then re-reads the committed positions and seeks
// the new source there. A plugin that dies MaxStarts times in a row
// without answering one call stops the run with an error wrapping
// sdk.ErrPermanent.
package supervise

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/hashicorp/go-hclog"

	"github.com/kappa-stream/kappa/internal/arena"
	"github.com/kappa-stream/kappa/internal/launch"
	"github.com/kappa-stream/kappa/internal/pluginclient"
	"github.com/kappa-stream/kappa/sdk"
)

// Config tunes a supervisor. Zero values take the defaults named on each
// field.
type Config struct {
	// MaxStarts is how many times in a row the plugin may die (or fail to
	// start) without answering a call before the run stops (default 5).
	MaxStarts int
	// MinBackoff and MaxBackoff bound the wait before each restart; it
	// doubles from one restart to the next (defaults 100ms and 10s).
	MinBackoff, MaxBackoff time.Duration
	// StartTimeout bounds the handshake of a new process and its Open
	// (default 30s).
	StartTimeout time.Duration
	// Logger receives every restart (default slog.Default()).
	Logger *slog.Logger
	// PluginLogger receives the plugin's own stderr (default: hclog's default).
	PluginLogger hclog.Logger
	// Arena, when not nil, is the shared memory every process of a source
	// or extractor inherits (launch.Start).
	Arena *arena.Arena
	// Env names the variables of the runtime's environment each process
	// gets besides the minimal one (launch.Start): the plugin's `env:`.
	Env []string
}

func (c *Config) setDefaults() {
	if c.MaxStarts <= 0 {
		c.MaxStarts = 5
	}
	if c.MinBackoff <= 0 {
		c.MinBackoff = 100 * time.Millisecond
	}
	if c.MaxBackoff < c.MinBackoff {
		c.MaxBackoff = max(10*time.Second, c.MinBackoff)
	}
	if c.StartTimeout <= 0 {
		c.StartTimeout = 30 * time.Second
	}
	if c.Logger == nil {
		c.Logger = slog.Default()
	}
	if c.PluginLogger == nil {
		c.PluginLogger = hclog.Default()
	}
}

// ErrGaveUp is wrapped, together with sdk.ErrPermanent, by the error of a
// call after the plugin died Config.MaxStarts times in a row.
var ErrGaveUp = errors.New("plugin keeps dying")

// errNotRunning is returned by calls made while the plugin is down and
// the caller's context ended before it could be started again.
var errNotRunning = errors.New("plugin process is not running")

// Plugin is one supervised plugin process of a given kind.
type Plugin struct {
	kind, path string
	cfg        Config

	mu   sync.Mutex
	proc *launch.Process // nil while down
	// open opens a new process with the setup of the first Open; nil
	// until that first Open succeeded.
	open func(ctx context.Context, proc *launch.Process) error
	// deaths counts deaths and failed starts since the last call that
	// the plugin answered.
	deaths   int
	restarts int
	// lastDeath says why and when the process last died or was killed
	// for not answering; empty before the first time.
	lastDeath     string
	lastDeathTime time.Time
}

// Start launches the plugin binary at path as a process serving kind
// (sdk.KindSource, …). A first start that fails is returned as is: it is
// a broken binary or install, which no restart cures.
func Start(kind, path string, cfg Config) (*Plugin, error) {
	cfg.setDefaults()
	proc, err := launch.Start(kind, path, cfg.PluginLogger, cfg.StartTimeout, cfg.Arena, cfg.Env)
	if err != nil {
		return nil, err
	}
	return &Plugin{kind: kind, path: path, cfg: cfg, proc: proc}, nil
}

// Restarts reports how many times the process was started again.
func (p *Plugin) Restarts() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.restarts
}

// LastDeath says why the process last died or was killed for not
// answering (the restart that followed is counted by Restarts), and when;
// "" before the first time.
func (p *Plugin) LastDeath() (reason string, at time.Time) {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.lastDeath, p.lastDeathTime
}

// Pid is the current process's id, 0 while it is down.
func (p *Plugin) Pid() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.proc == nil {
		return 0
	}
	return p.proc.Pid()
}

// Stop ends the process. The plugin is not used afterwards.
func (p *Plugin) Stop() {
	p.mu.Lock()
	proc := p.proc
	p.proc = nil
	p.mu.Unlock()
	if proc == nil {
		return
	}
	// A graceful stop asks the plugin over gRPC, which a hung plugin never
	// answers: give it a few seconds, then kill it.
	stopped := make(chan struct{})
	go func() {
		proc.Stop()
		close(stopped)
	}()
	select {
	case <-stopped:
	case <-time.After(stopTimeout):
		proc.Kill()
		<-stopped
	}
}

// stopTimeout bounds a graceful stop.
const stopTimeout = 5 * time.Second

// current returns the live process, or nil when the plugin is down.
func (p *Plugin) current() *launch.Process {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.proc != nil && p.proc.Exited() {
		p.cfg.Logger.Warn("plugin process exited", p.attrs(p.proc)...)
		p.lastDeath, p.lastDeathTime = "died: the process exited between calls", time.Now()
		p.proc.Kill()
		p.proc = nil
		p.deaths++
	}
	return p.proc
}

// acquire returns a live, opened process, starting and opening a new one
// when the plugin is down.
func (p *Plugin) acquire(ctx context.Context) (*launch.Process, error) {
	if proc := p.current(); proc != nil {
		return proc, nil
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	for p.proc == nil {
		if p.open == nil {
			return nil, fmt.Errorf("%s plugin %s: %w (it died before it was opened)", p.kind, p.path, errNotRunning)
		}
		if p.deaths >= p.cfg.MaxStarts {
			return nil, sdk.Permanent(fmt.Errorf("%s plugin %s died or failed to start %d times in a row: %w",
				p.kind, p.path, p.deaths, ErrGaveUp))
		}
		wait := p.backoff()
		p.cfg.Logger.Info("restarting plugin", "plugin", p.kind, "path", p.path, "attempt", p.deaths, "backoff", wait)
		if !sleep(ctx, wait) {
			return nil, fmt.Errorf("%s plugin %s: %w: %w", p.kind, p.path, errNotRunning, ctx.Err())
		}
		if err := p.restart(ctx); err != nil {
			if ctx.Err() != nil {
				return nil, fmt.Errorf("%s plugin %s: %w: %w", p.kind, p.path, errNotRunning, err)
			}
			if !errors.Is(err, errDied) {
				// A live plugin refused to open (say, its database is
				// down): an ordinary failure that the engine retries.
				return nil, err
			}
			p.deaths++
			p.cfg.Logger.Error("plugin restart failed", "plugin", p.kind, "path", p.path, "failures", p.deaths, "err", err)
		}
	}
	return p.proc, nil
}

// errDied marks a restart that failed because the process did not come up
// or died while being opened.
var errDied = errors.New("process died")

// restart starts a process and opens it; p.mu is held.
func (p *Plugin) restart(ctx context.Context) error {
	started := time.Now()
	proc, err := launch.Start(p.kind, p.path, p.cfg.PluginLogger, p.cfg.StartTimeout, p.cfg.Arena, p.cfg.Env)
	if err != nil {
		return fmt.Errorf("%w: %w", errDied, err)
	}
	openCtx, cancel := context.WithTimeout(ctx, p.cfg.StartTimeout)
	err = p.open(openCtx, proc)
	cancel()
	if err != nil {
		died := dead(proc, err)
		proc.Kill()
		if died {
			return fmt.Errorf("%w: reopen %s plugin: %w", errDied, p.kind, err)
		}
		return fmt.Errorf("reopen %s plugin %s: %w", p.kind, p.path, err)
	}
	p.proc = proc
	p.restarts++
	p.cfg.Logger.Info("plugin restarted", append(p.attrs(proc), "restarts", p.restarts,
		"ms", time.Since(started).Milliseconds())...)
	return nil
}

// backoff is the wait before the next restart; p.mu is held.
func (p *Plugin) backoff() time.Duration {
	wait := p.cfg.MinBackoff
	for range p.deaths {
		wait *= 2
		if wait >= p.cfg.MaxBackoff {
			return p.cfg.MaxBackoff
		}
	}
	return wait
}

// done judges the outcome of a call that proc served. A process that died
// or stopped answering is killed, so that the next call starts a new one.
// err is returned unchanged: the engine drops the batch and recovers.
func (p *Plugin) done(ctx context.Context, proc *launch.Process, err error) error {
	if err == nil {
		p.mu.Lock()
		p.deaths = 0
		p.mu.Unlock()
		return nil
	}
	if errors.Is(ctx.Err(), context.Canceled) || !dead(proc, err) {
		return err
	}
	p.mu.Lock()
	if p.proc == proc {
		p.proc = nil
		p.deaths++
		reason := "died"
		if !proc.Exited() && errors.Is(err, context.DeadlineExceeded) {
			reason = "stopped answering"
		}
		p.lastDeath, p.lastDeathTime = fmt.Sprintf("%s: %v", reason, err), time.Now()
		p.cfg.Logger.Error("plugin "+reason+"; killing it, the batch in flight is dropped",
			append(p.attrs(proc), "err", err)...)
	}
	p.mu.Unlock()
	// Not Stop: a process that stopped answering would not answer the
	// request to exit either.
	proc.Kill()
	return err
}

// dead tells whether err means that proc died or stopped answering, as
// opposed to an error the plugin returned.
func dead(proc *launch.Process, err error) bool {
	return proc.Exited() || errors.Is(err, pluginclient.ErrPluginUnavailable) || errors.Is(err, context.DeadlineExceeded)
}

func (p *Plugin) attrs(proc *launch.Process) []any {
	return []any{"plugin", p.kind, "path", p.path, "pid", proc.Pid()}
}

func sleep(ctx context.Context, d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return false
	case <-t.C:
		return true
	}
}
