// Package arena is the shared memory through which records' bytes go from
// the source plugin to the extractor plugin. The runtime creates it and
// hands it to both processes as an inherited file; for each Poll it lends
// the source one slot, the source copies the batch's values there, and the
// extractor reads them in place. Only the values' sizes and places cross
// the sockets, and the runtime never touches the bytes at all. The
// extractor gets a read-only descriptor (ReadOnlyFile): it cannot change
// the values it reads, nor those of a batch being polled.
//
// A slot is lent to one batch at a time: from the Poll that fills it until
// the runtime has the extractor's answer for that batch.
package arena

import (
	"errors"
	"fmt"
	"os"
	"strconv"
	"strings"
	"sync"
)

// Env names the variable through which a plugin process learns of the
// arena: "FD:SIZE", the inherited file descriptor and its size in bytes.
const Env = "KAPPA_ARENA"

// fd is the descriptor the arena has in a plugin process: the first file
// passed in exec.Cmd.ExtraFiles.
const fd = 3

// Span is a region of the arena.
type Span struct{ Offset, Length int64 }

// Arena is a mapping of the shared memory, with the runtime's slots.
type Arena struct {
	file *os.File // nil in a plugin process
	// readOnly is the same memory opened read-only; nil in a plugin process.
	readOnly *os.File
	mem      []byte
	// free holds the slots not lent; nil in a plugin process.
	free     chan Span
	slotSize int64
	// held are lent slots kept out of circulation (Hold).
	mu   sync.Mutex
	held []Span
}

// New creates an arena of slots slots of slotSize bytes each and maps it
// read-only: the runtime lends slots and never reads or writes them.
func New(slots int, slotSize int64) (*Arena, error) {
	if slots <= 0 || slotSize <= 0 {
		return nil, fmt.Errorf("arena of %d slots of %d bytes", slots, slotSize)
	}
	size := int64(slots) * slotSize
	file, readOnly, mem, err := create(size)
	if err != nil {
		return nil, fmt.Errorf("create shared memory of %d bytes: %w", size, err)
	}
	a := &Arena{file: file, readOnly: readOnly, mem: mem, free: make(chan Span, slots), slotSize: slotSize}
	for i := range int64(slots) {
		a.free <- Span{Offset: i * slotSize, Length: slotSize}
	}
	return a, nil
}

// Env is the environment entry that tells a plugin process started with
// File as its first extra file where the arena is.
func (a *Arena) Env() string { return fmt.Sprintf("%s=%d:%d", Env, fd, len(a.mem)) }

// File is the shared memory, to pass to the source process, which writes
// there, as its first extra file (exec.Cmd.ExtraFiles[0]).
func (a *Arena) File() *os.File { return a.file }

// ReadOnlyFile is the shared memory opened read-only, to pass to the
// extractor process, which only reads, as its first extra file.
func (a *Arena) ReadOnlyFile() *os.File { return a.readOnly }

// Bytes is the mapped memory.
func (a *Arena) Bytes() []byte {
	if a == nil {
		return nil
	}
	return a.mem
}

// Acquire lends a free slot; ok is false when every slot is lent.
func (a *Arena) Acquire() (s Span, ok bool) {
	select {
	case s = <-a.free:
		return s, true
	default:
		return Span{}, false
	}
}

// Release returns a slot that Acquire lent. Each lent slot is released
// once.
func (a *Arena) Release(s Span) { a.free <- s }

// Hold keeps a lent slot out of circulation until ReleaseHeld, instead of
// releasing it: the slot of a poll the runtime gave up on, which the
// source process may still be writing.
func (a *Arena) Hold(s Span) {
	a.mu.Lock()
	defer a.mu.Unlock()
	a.held = append(a.held, s)
}

// ReleaseHeld releases the held slots. Call it once no source process can
// still be writing into them.
func (a *Arena) ReleaseHeld() {
	a.mu.Lock()
	defer a.mu.Unlock()
	for _, s := range a.held {
		a.Release(s)
	}
	a.held = nil
}

// Close unmaps the memory and closes the file. Plugin processes keep their
// own mappings until they end.
func (a *Arena) Close() error {
	if a == nil {
		return nil
	}
	err := unmap(a.mem)
	a.mem = nil
	if a.file != nil {
		err = errors.Join(err, a.file.Close(), a.readOnly.Close())
	}
	return err
}

// FromEnv maps the arena the runtime passed to this plugin process, for
// writing when writable; it returns nil when the runtime passed none.
func FromEnv(writable bool) (*Arena, error) {
	v, ok := os.LookupEnv(Env)
	if !ok {
		return nil, nil
	}
	fdText, sizeText, _ := strings.Cut(v, ":")
	fd, err1 := strconv.Atoi(fdText)
	size, err2 := strconv.ParseInt(sizeText, 10, 64)
	if err := errors.Join(err1, err2); err != nil || fd < 0 || size <= 0 {
		return nil, fmt.Errorf("%s=%q: want FD:SIZE", Env, v)
	}
	mem, err := mapFile(fd, size, writable)
	if err != nil {
		return nil, fmt.Errorf("map the runtime's shared memory (%s=%s): %w", Env, v, err)
	}
	return &Arena{mem: mem}, nil
}
