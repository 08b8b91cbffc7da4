package launch

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"

	"github.com/hashicorp/go-plugin"
)

// Plugin sockets. A go-plugin plugin process listens on a unix socket it
// makes in $PLUGIN_UNIX_SOCKET_DIR, else in $TMPDIR, and removes it only
// when it closes its listener: a plugin killed, or one that exits because
// the runtime's connection ended, leaves its socket behind. So the sockets
// of one runtime live in a folder of their own in $TMPDIR, one subfolder
// per plugin process:
//
//	kappa-sockets-PID/   the runtime's, locked (flock) while it lives
//	  source-1/          one plugin process's, removed once it has exited
//	    pluginNNN        its socket
//
// StopAll removes the runtime's folder when it exits; the folder of a
// runtime killed with SIGKILL is removed by the next runtime that starts
// a plugin, once its lock is free and its PID no longer lives.

// socketsPrefix begins the name of a runtime's socket folder; the
// runtime's PID follows.
const socketsPrefix = "kappa-sockets-"

// maxSocketPath is the longest path a unix socket can have on Linux
// (sun_path is 108 bytes with its NUL).
const maxSocketPath = 107

// sockets is this runtime's socket folder.
var sockets struct {
	mu   sync.Mutex
	dir  string   // "" until the first plugin starts
	lock *os.File // dir, open and locked
	n    int      // plugin folders made in dir
}

// socketDir makes the folder of one new plugin process's socket.
func socketDir(kind string) (string, error) {
	sockets.mu.Lock()
	defer sockets.mu.Unlock()
	if sockets.dir == "" {
		tmp := os.TempDir()
		removeStaleSocketDirs(tmp)
		dir, lock, err := makeSocketsDir(tmp)
		if err != nil {
			return "", fmt.Errorf("make the folder of the plugins' sockets in %s (set TMPDIR to a writable folder): %w", tmp, err)
		}
		sockets.dir, sockets.lock = dir, lock
	}
	sockets.n++
	dir := filepath.Join(sockets.dir, fmt.Sprintf("%s-%d", kind, sockets.n))
	// go-plugin names the socket "plugin" and up to 10 digits.
	if n := len(dir) + len("/plugin0123456789"); n > maxSocketPath {
		return "", fmt.Errorf("the plugins' sockets in %s would have paths of %d bytes, more than the %d a unix socket may have: set TMPDIR to a shorter folder", sockets.dir, n, maxSocketPath)
	}
	if err := os.Mkdir(dir, 0o700); err != nil {
		return "", fmt.Errorf("make the folder of a plugin's socket: %w", err)
	}
	return dir, nil
}

// makeSocketsDir makes this runtime's socket folder in tmp and locks it
// for as long as the process lives: the kernel releases the lock when the
// process ends, however it ends.
func makeSocketsDir(tmp string) (string, *os.File, error) {
	dir := filepath.Join(tmp, socketsPrefix+strconv.Itoa(os.Getpid()))
	err := os.Mkdir(dir, 0o700)
	if errors.Is(err, os.ErrExist) {
		// A live runtime of another PID namespace sharing tmp.
		dir, err = os.MkdirTemp(tmp, socketsPrefix+strconv.Itoa(os.Getpid())+"-")
	}
	if err != nil {
		return "", nil, err
	}
	lock, err := os.Open(dir)
	if err == nil {
		// Blocks only while another runtime's removeStaleSocketDirs holds
		// it for a moment; it sees that this PID lives and leaves it.
		err = syscall.Flock(int(lock.Fd()), syscall.LOCK_EX)
	}
	if err != nil {
		if lock != nil {
			lock.Close()
		}
		os.RemoveAll(dir)
		return "", nil, err
	}
	return dir, lock, nil
}

// removeStaleSocketDirs removes the socket folders in tmp of runtimes that
// ended without removing theirs (SIGKILL). A folder is stale when nobody
// holds its lock and no process has the PID its name carries; a folder
// being made is not locked yet, but its runtime lives.
func removeStaleSocketDirs(tmp string) {
	entries, err := os.ReadDir(tmp)
	if err != nil {
		return
	}
	for _, e := range entries {
		pid, ok := socketsDirPid(e.Name())
		if !ok || !e.IsDir() {
			continue
		}
		dir := filepath.Join(tmp, e.Name())
		f, err := os.Open(dir)
		if err != nil {
			continue
		}
		if syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB) == nil && !processLives(pid) {
			os.RemoveAll(dir)
		}
		f.Close()
	}
}

// socketsDirPid reads the PID out of a socket folder's name:
// kappa-sockets-PID or kappa-sockets-PID-NNN.
func socketsDirPid(name string) (int, bool) {
	rest, ok := strings.CutPrefix(name, socketsPrefix)
	if !ok {
		return 0, false
	}
	rest, _, _ = strings.Cut(rest, "-")
	pid, err := strconv.Atoi(rest)
	return pid, err == nil && pid > 0
}

func processLives(pid int) bool {
	err := syscall.Kill(pid, 0)
	return err == nil || errors.Is(err, syscall.EPERM)
}

// removeSocketsDir removes this runtime's socket folder; every plugin
// process has ended.
func removeSocketsDir() {
	sockets.mu.Lock()
	defer sockets.mu.Unlock()
	if sockets.dir == "" {
		return
	}
	os.RemoveAll(sockets.dir)
	sockets.lock.Close()
	sockets.dir, sockets.lock = "", nil
}

// socketDirEnv tells a plugin process where to make its socket.
func socketDirEnv(dir string) string { return plugin.EnvUnixSocketDir + "=" + dir }
