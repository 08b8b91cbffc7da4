// Package faulthook is the test-only hook that lets the end-to-end chaos
// tests kill a sink process exactly at its commit boundary, which random
// kills from outside almost never hit. Only a sink's files built with the
// tag kappa_faults import it (mysql-sink's and postgres-sink's
// faults_hook.go), and only the end-to-end harness builds with that tag
// (e2e/harness_test.go): a released sink holds none of it. Even then it is
// off unless the environment variable KAPPA_TEST_SINK_FAULTS is set, e.g.
//
//	KAPPA_TEST_SINK_FAULTS=before_commit=0.02,after_commit=0.02,seed=7
//
// before_commit is the probability that the process kills itself with
// SIGKILL after the transaction's statements and right before COMMIT;
// after_commit that it does so right after COMMIT succeeded, before the
// runtime learns the outcome; after_rename that it does so right after a
// generation's RENAME TABLE, before the swap is recorded. seed seeds the draws (mixed with the pid, so
// that a restarted sink does not repeat its predecessor's draws).
package faulthook

import (
	"fmt"
	"math/rand/v2"
	"os"
	"strconv"
	"strings"
	"sync"
	"syscall"
)

// Env names the variable that turns the hook on.
const Env = "KAPPA_TEST_SINK_FAULTS"

// Point is a place on a sink's commit path.
type Point int

const (
	BeforeCommit Point = iota // after the statements, before COMMIT
	AfterCommit               // after COMMIT succeeded, before the reply
	AfterRename               // after a generation's RENAME TABLE, before it is recorded
)

// Hook kills the process at a Point with the probability set for it; a nil
// *Hook (the variable unset) never does.
type Hook struct {
	plugin                                 string
	mu                                     sync.Mutex
	rng                                    *rand.Rand
	beforeCommit, afterCommit, afterRename float64
}

// stderr is the process's stderr as it was before go-plugin's Serve
// replaced os.Stderr with a pipe that the runtime discards; the runtime
// logs what arrives on the original one.
var stderr = os.Stderr

// Load reads the hook's settings for the sink named plugin (for its
// messages); nil when the variable is unset. A malformed value is ignored
// with a message on stderr rather than failing a sink.
func Load(plugin string) *Hook {
	spec := os.Getenv(Env)
	if spec == "" {
		return nil
	}
	h := &Hook{plugin: plugin}
	seed := uint64(0)
	for _, kv := range strings.Split(spec, ",") {
		k, v, _ := strings.Cut(strings.TrimSpace(kv), "=")
		var err error
		switch k {
		case "before_commit":
			h.beforeCommit, err = strconv.ParseFloat(v, 64)
		case "after_commit":
			h.afterCommit, err = strconv.ParseFloat(v, 64)
		case "after_rename":
			h.afterRename, err = strconv.ParseFloat(v, 64)
		case "seed":
			seed, err = strconv.ParseUint(v, 10, 64)
		default:
			err = fmt.Errorf("unknown key %q", k)
		}
		if err != nil {
			fmt.Fprintf(stderr, "[ERROR] %s: %s=%q ignored: %v\n", plugin, Env, spec, err)
			return nil
		}
	}
	h.rng = rand.New(rand.NewPCG(seed, uint64(os.Getpid())))
	return h
}

// Lazy is the Hook of a sink, loaded when its first fault point is
// reached rather than at start-up.
type Lazy struct {
	plugin string
	once   sync.Once
	hook   *Hook
}

// OnFirstUse returns the hook of the sink named plugin, loaded (Load) when
// At is first called.
func OnFirstUse(plugin string) *Lazy { return &Lazy{plugin: plugin} }

// At kills the process with the probability set for p.
func (l *Lazy) At(p Point) {
	l.once.Do(func() { l.hook = Load(l.plugin) })
	l.hook.At(p)
}

// At kills the process with the probability set for p.
func (h *Hook) At(p Point) {
	if h == nil {
		return
	}
	switch p {
	case BeforeCommit:
		h.maybeDie(h.beforeCommit, "before COMMIT")
	case AfterCommit:
		h.maybeDie(h.afterCommit, "after COMMIT")
	case AfterRename:
		h.maybeDie(h.afterRename, "after RENAME TABLE")
	}
}

func (h *Hook) maybeDie(p float64, where string) {
	if p <= 0 {
		return
	}
	h.mu.Lock()
	die := h.rng.Float64() < p
	h.mu.Unlock()
	if die {
		// The prefix gives the line a level in the runtime's log.
		fmt.Fprintf(stderr, "[WARN] %s: test fault hook: SIGKILL %s\n", h.plugin, where)
		syscall.Kill(os.Getpid(), syscall.SIGKILL)
		select {} // the signal is on its way
	}
}
