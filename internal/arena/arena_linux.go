package arena

import (
	"fmt"
	"os"

	"golang.org/x/sys/unix"
)

// Supported reports whether this system can share an arena.
const Supported = true

// create makes an anonymous memory file of size bytes, sealed against
// resizing (a plugin that shrank it would crash the others' reads), maps
// it read-only, and opens it a second time read-only, for the extractor.
//
// Writes cannot be sealed while the source maps the file writable, so the
// extractor's view is read-only by its descriptor instead: a mapping for
// writing, or a write, through an O_RDONLY descriptor fails. The file's
// mode becomes 0400 so that a plugin cannot reopen it for writing through
// /proc/PID/fd either (unless it runs as root, which bypasses modes).
func create(size int64) (file, readOnly *os.File, mem []byte, err error) {
	fd, err := unix.MemfdCreate("kappa-arena", unix.MFD_CLOEXEC|unix.MFD_ALLOW_SEALING)
	if err != nil {
		return nil, nil, nil, err
	}
	file = os.NewFile(uintptr(fd), "kappa-arena")
	defer func() {
		if err != nil {
			file.Close()
			if readOnly != nil {
				readOnly.Close()
			}
		}
	}()
	if err := file.Truncate(size); err != nil {
		return nil, nil, nil, err
	}
	if _, err := unix.FcntlInt(file.Fd(), unix.F_ADD_SEALS, unix.F_SEAL_SHRINK|unix.F_SEAL_GROW|unix.F_SEAL_SEAL); err != nil {
		return nil, nil, nil, err
	}
	// A new open file description of the same memory, read-only; a dup
	// would share the original's read-write one.
	if readOnly, err = os.OpenFile(fmt.Sprintf("/proc/self/fd/%d", fd), os.O_RDONLY|unix.O_CLOEXEC, 0); err != nil {
		return nil, nil, nil, fmt.Errorf("reopen read-only: %w", err)
	}
	if err := file.Chmod(0o400); err != nil {
		return nil, nil, nil, err
	}
	if mem, err = unix.Mmap(int(readOnly.Fd()), 0, int(size), unix.PROT_READ, unix.MAP_SHARED); err != nil {
		return nil, nil, nil, err
	}
	return file, readOnly, mem, nil
}

func mapFile(fd int, size int64, writable bool) ([]byte, error) {
	prot := unix.PROT_READ
	if writable {
		prot |= unix.PROT_WRITE
	}
	return unix.Mmap(fd, 0, int(size), prot, unix.MAP_SHARED)
}

func unmap(mem []byte) error {
	if mem == nil {
		return nil
	}
	return unix.Munmap(mem)
}
