//go:build linux

package arena

import (
	"fmt"
	"strings"
	"testing"
)

// mapLikeAPlugin maps a's file through the environment, as a plugin
// process does with the descriptor it inherits.
func mapLikeAPlugin(t *testing.T, a *Arena, writable bool) *Arena {
	t.Helper()
	t.Setenv(Env, fmt.Sprintf("%d:%d", a.File().Fd(), len(a.Bytes())))
	m, err := FromEnv(writable)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { m.Close() })
	return m
}

func TestWritesOfOneMappingAreSeenByTheOthers(t *testing.T) {
	a, err := New(3, 4096)
	if err != nil {
		t.Fatal(err)
	}
	defer a.Close()
	if len(a.Bytes()) != 3*4096 || a.Env() != fmt.Sprintf("%s=3:%d", Env, 3*4096) {
		t.Fatalf("%d bytes, env %q", len(a.Bytes()), a.Env())
	}
	source, extractor := mapLikeAPlugin(t, a, true), mapLikeAPlugin(t, a, false)
	copy(source.Bytes()[4096:], "tweet")
	if string(extractor.Bytes()[4096:4101]) != "tweet" || string(a.Bytes()[4096:4101]) != "tweet" {
		t.Error("a write through the source's mapping is not seen through the others")
	}
	if err := a.File().Truncate(1); err == nil {
		t.Error("the arena could be shrunk under the plugins' mappings")
	}
}

func TestSlotsAreLentOnceAtATime(t *testing.T) {
	a, err := New(2, 100)
	if err != nil {
		t.Fatal(err)
	}
	defer a.Close()
	s1, ok1 := a.Acquire()
	s2, ok2 := a.Acquire()
	_, ok3 := a.Acquire()
	if !ok1 || !ok2 || ok3 || s1 == s2 || s1.Length != 100 || s2.Length != 100 {
		t.Fatalf("lent %v %v %v, %v %v", ok1, ok2, ok3, s1, s2)
	}
	a.Release(s2)
	if s, ok := a.Acquire(); !ok || s != s2 {
		t.Errorf("after a release: %v %v", s, ok)
	}
	a.Hold(s1)
	a.Hold(s2)
	if _, ok := a.Acquire(); ok {
		t.Error("a held slot was lent")
	}
	a.ReleaseHeld()
	_, ok1 = a.Acquire()
	_, ok2 = a.Acquire()
	if !ok1 || !ok2 {
		t.Error("held slots were not released")
	}
}

func TestFromEnv(t *testing.T) {
	t.Setenv(Env, "")
	if _, err := FromEnv(false); err == nil || !strings.Contains(err.Error(), "want FD:SIZE") {
		t.Errorf("empty %s: %v", Env, err)
	}
	t.Setenv(Env, "99:4096")
	if _, err := FromEnv(false); err == nil || !strings.Contains(err.Error(), "map the runtime's shared memory") {
		t.Errorf("a descriptor that is not open: %v", err)
	}
}
