package arena

import (
	"os"

	"golang.org/x/sys/unix"
)

// Supported reports whether this system can share an arena.
const Supported = true

// create makes an anonymous memory file of size bytes, sealed against
// resizing (a plugin that shrank it would crash the others' reads), and
// maps it read-only.
func create(size int64) (*os.File, []byte, error) {
	fd, err := unix.MemfdCreate("kappa-arena", unix.MFD_CLOEXEC|unix.MFD_ALLOW_SEALING)
	if err != nil {
		return nil, nil, err
	}
	file := os.NewFile(uintptr(fd), "kappa-arena")
	if err := file.Truncate(size); err != nil {
		file.Close()
		return nil, nil, err
	}
	if _, err := unix.FcntlInt(file.Fd(), unix.F_ADD_SEALS, unix.F_SEAL_SHRINK|unix.F_SEAL_GROW|unix.F_SEAL_SEAL); err != nil {
		file.Close()
		return nil, nil, err
	}
	mem, err := unix.Mmap(int(file.Fd()), 0, int(size), unix.PROT_READ, unix.MAP_SHARED)
	if err != nil {
		file.Close()
		return nil, nil, err
	}
	return file, mem, nil
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
