//go:build linux

package arena

import (
	"fmt"
	"strings"
	"testing"

	"golang.org/x/sys/unix"
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

// The extractor's view of the arena is read-only: its descriptor is
// O_RDONLY, so it can neither map the memory for writing nor write to
// it, and the memory's mode keeps anyone but root from reopening it for
// writing through /proc.
func TestExtractorViewIsReadOnly(t *testing.T) {
	a, err := New(2, 4096)
	if err != nil {
		t.Fatal(err)
	}
	defer a.Close()
	ro := a.ReadOnlyFile()
	if ro == nil {
		t.Fatal("no read-only file")
	}
	flags, err := unix.FcntlInt(ro.Fd(), unix.F_GETFL, 0)
	if err != nil {
		t.Fatal(err)
	}
	if mode := flags & unix.O_ACCMODE; mode != unix.O_RDONLY {
		t.Errorf("the extractor's descriptor has access mode %#o, want O_RDONLY", mode)
	}
	if m, err := unix.Mmap(int(ro.Fd()), 0, 4096, unix.PROT_READ|unix.PROT_WRITE, unix.MAP_SHARED); err == nil {
		unix.Munmap(m)
		t.Error("the read-only descriptor was mapped for writing")
	}
	if _, err := ro.WriteAt([]byte("x"), 0); err == nil {
		t.Error("a write through the read-only descriptor succeeded")
	}
	if info, err := ro.Stat(); err != nil || info.Mode().Perm() != 0o400 {
		t.Errorf("mode %v (%v), want 0400", info.Mode().Perm(), err)
	}
	// The extractor still reads what the source writes.
	t.Setenv(Env, fmt.Sprintf("%d:%d", ro.Fd(), len(a.Bytes())))
	x, err := FromEnv(false)
	if err != nil {
		t.Fatal(err)
	}
	defer x.Close()
	source := mapLikeAPlugin(t, a, true)
	copy(source.Bytes()[4096:], "tweet")
	if string(x.Bytes()[4096:4101]) != "tweet" {
		t.Error("the extractor does not see the source's writes")
	}
	t.Setenv(Env, fmt.Sprintf("%d:%d", ro.Fd(), len(a.Bytes())))
	if _, err := FromEnv(true); err == nil {
		t.Error("the read-only descriptor was mapped writable through FromEnv")
	}
}
