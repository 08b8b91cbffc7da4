package main

import (
	"bufio"
	"bytes"
	"context"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"
)

// clockTicks is USER_HZ, the unit of utime and stime in /proc/PID/stat;
// it is 100 on every Linux architecture Go supports.
const clockTicks = 100

// ProcStats is what one process used over a measured run.
type ProcStats struct {
	Name       string  `json:"name"`
	PID        int     `json:"pid"`
	CPUSeconds float64 `json:"cpu_seconds"`
	PeakRSSMB  float64 `json:"peak_rss_mb"`
}

// procSample is one reading of /proc for one process.
type procSample struct {
	name  string
	ppid  int
	ticks int64 // utime + stime
	hwmKB int64 // VmHWM
}

// readProc reads a process's name, parent, CPU ticks and peak RSS.
func readProc(pid int) (procSample, bool) {
	stat, err := os.ReadFile(filepath.Join("/proc", strconv.Itoa(pid), "stat"))
	if err != nil {
		return procSample{}, false
	}
	// comm is in parentheses and may hold spaces; fields follow the last ')'.
	open, closing := bytes.IndexByte(stat, '('), bytes.LastIndexByte(stat, ')')
	if open < 0 || closing < open {
		return procSample{}, false
	}
	fields := strings.Fields(string(stat[closing+1:]))
	if len(fields) < 13 {
		return procSample{}, false
	}
	// fields[0] is state (field 3); ppid is field 4, utime 14, stime 15.
	ppid, _ := strconv.Atoi(fields[1])
	utime, _ := strconv.ParseInt(fields[11], 10, 64)
	stime, _ := strconv.ParseInt(fields[12], 10, 64)
	s := procSample{name: string(stat[open+1 : closing]), ppid: ppid, ticks: utime + stime}
	s.hwmKB = statusKB(pid, "VmHWM:")
	return s, true
}

// statusKB reads one "Name:   N kB" line of /proc/PID/status.
func statusKB(pid int, key string) int64 {
	f, err := os.Open(filepath.Join("/proc", strconv.Itoa(pid), "status"))
	if err != nil {
		return 0
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if rest, ok := strings.CutPrefix(sc.Text(), key); ok {
			kb, _ := strconv.ParseInt(strings.TrimSuffix(strings.TrimSpace(rest), " kB"), 10, 64)
			return kb
		}
	}
	return 0
}

// resetPeakRSS makes VmHWM of this process start again from its current
// RSS, so that one phase's peak is not another's.
func resetPeakRSS() { resetPeakRSSOf(os.Getpid()) }

// resetPeakRSSOf does the same for another process of this user.
func resetPeakRSSOf(pid int) {
	os.WriteFile(filepath.Join("/proc", strconv.Itoa(pid), "clear_refs"), []byte("5"), 0)
}

// selfStats is this process's CPU time and peak RSS so far.
func selfStats() (cpu time.Duration, hwmKB int64) {
	var ru syscall.Rusage
	syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	cpu = time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
	return cpu, statusKB(os.Getpid(), "VmHWM:")
}

// treeWatcher samples a process and its children (the plugins of a
// runtime) until stopped. A child's last sample before it exits is its
// total: plugins exit at the end of a run, so CPU may be short by at most
// one interval.
type treeWatcher struct {
	root     int
	interval time.Duration

	mu    sync.Mutex
	seen  map[int]procSample
	first map[int]int64 // ticks at first sight, for processes older than the watch
}

func watchTree(ctx context.Context, root int, interval time.Duration) (*treeWatcher, func()) {
	w := &treeWatcher{root: root, interval: interval, seen: map[int]procSample{}, first: map[int]int64{}}
	ctx, cancel := context.WithCancel(ctx)
	done := make(chan struct{})
	go func() {
		defer close(done)
		t := time.NewTicker(interval)
		defer t.Stop()
		for {
			w.sample()
			select {
			case <-ctx.Done():
				return
			case <-t.C:
			}
		}
	}()
	return w, func() { cancel(); <-done }
}

func (w *treeWatcher) sample() {
	pids := []int{w.root}
	if entries, err := os.ReadDir("/proc"); err == nil {
		for _, e := range entries {
			pid, err := strconv.Atoi(e.Name())
			if err != nil || pid == w.root {
				continue
			}
			if s, ok := readProc(pid); ok && s.ppid == w.root {
				pids = append(pids, pid)
			}
		}
	}
	w.mu.Lock()
	defer w.mu.Unlock()
	for _, pid := range pids {
		s, ok := readProc(pid)
		if !ok {
			continue
		}
		if _, ok := w.first[pid]; !ok {
			w.first[pid] = s.ticks
		}
		// An exiting process (a zombie) reads as zero: keep the highest.
		if prev, ok := w.seen[pid]; ok {
			s.ticks, s.hwmKB = max(s.ticks, prev.ticks), max(s.hwmKB, prev.hwmKB)
		}
		w.seen[pid] = s
	}
}

// stats returns one entry per process seen; CPU counts from the first
// sample when fromStart is false (a process that was already busy).
func (w *treeWatcher) stats(fromStart bool) []ProcStats {
	w.mu.Lock()
	defer w.mu.Unlock()
	var out []ProcStats
	for pid, s := range w.seen {
		ticks := s.ticks
		if !fromStart {
			ticks -= w.first[pid]
		}
		out = append(out, ProcStats{Name: s.name, PID: pid, CPUSeconds: float64(ticks) / clockTicks, PeakRSSMB: float64(s.hwmKB) / 1024})
	}
	return out
}
