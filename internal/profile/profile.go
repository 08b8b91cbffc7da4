// Package profile writes CPU and allocation profiles of a Kappa process
// when KAPPA_PROFILE_DIR names a directory, so that the runtime and every
// plugin process of a pipeline run can be profiled without a code change:
//
//	KAPPA_PROFILE_DIR=/tmp/prof kappa-runtime --drain pipelines/twitter.yaml
//	go tool pprof -top bin/kappa-runtime /tmp/prof/kappa-runtime-*.cpu.pprof
//
// The runtime passes the variable on to its plugins. Each process writes
// NAME-PID.cpu.pprof and NAME-PID.allocs.pprof when it stops.
package profile

import (
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"runtime/pprof"
	"sync"
)

// EnvDir is the environment variable naming the directory profiles go to.
const EnvDir = "KAPPA_PROFILE_DIR"

// Start begins a CPU profile when EnvDir is set and returns the function
// that ends it and writes the allocation profile. The returned function is
// safe to call more than once and from any goroutine (a plugin ends from a
// gRPC stats callback); without EnvDir both are no-ops. Problems are
// reported on stderr, never fatal: profiling must not stop a pipeline.
func Start(name string) (stop func()) {
	dir := os.Getenv(EnvDir)
	if dir == "" {
		return func() {}
	}
	base := filepath.Join(dir, fmt.Sprintf("%s-%d", name, os.Getpid()))
	if err := os.MkdirAll(dir, 0o755); err != nil {
		fmt.Fprintf(os.Stderr, "profile: %v\n", err)
		return func() {}
	}
	cpu, err := os.Create(base + ".cpu.pprof")
	if err != nil {
		fmt.Fprintf(os.Stderr, "profile: %v\n", err)
		return func() {}
	}
	if err := pprof.StartCPUProfile(cpu); err != nil {
		fmt.Fprintf(os.Stderr, "profile: start CPU profile: %v\n", err)
		cpu.Close()
		return func() {}
	}
	var once sync.Once
	return func() {
		once.Do(func() {
			pprof.StopCPUProfile()
			cpu.Close()
			writeAllocs(base + ".allocs.pprof")
		})
	}
}

func writeAllocs(path string) {
	f, err := os.Create(path)
	if err != nil {
		fmt.Fprintf(os.Stderr, "profile: %v\n", err)
		return
	}
	defer f.Close()
	runtime.GC() // so the in-use figures are current
	if err := pprof.Lookup("allocs").WriteTo(f, 0); err != nil {
		fmt.Fprintf(os.Stderr, "profile: write %s: %v\n", path, err)
	}
}
