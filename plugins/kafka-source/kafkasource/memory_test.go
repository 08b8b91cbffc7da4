package kafkasource

import (
	"runtime/debug"
	"testing"
)

func TestMemoryLimitGrowsWithFetchSizeAndBrokers(t *testing.T) {
	cfg := DefaultConfig()
	cfg.Brokers = "a:9092"
	if got, want := cfg.MemoryLimit(), int64(60<<20); got != want {
		t.Errorf("defaults, one broker: %d, want %d", got, want)
	}
	cfg.Brokers = "a:9092, b:9092,c:9092"
	cfg.FetchMaxBytes = 4 << 20
	if got, want := cfg.MemoryLimit(), int64(40<<20+3*10*4<<20); got != want {
		t.Errorf("4 MiB fetches, three brokers: %d, want %d", got, want)
	}
}

func TestTuneGCLeavesAnOperatorsChoice(t *testing.T) {
	// Tests of this package share the process: restore what was there.
	prevPercent := debug.SetGCPercent(100)
	prevLimit := debug.SetMemoryLimit(-1)
	t.Cleanup(func() {
		debug.SetGCPercent(prevPercent)
		debug.SetMemoryLimit(prevLimit)
	})
	cfg := DefaultConfig()
	cfg.Brokers = "a:9092"

	for _, env := range []string{"GOGC", "GOMEMLIMIT"} {
		t.Run(env, func(t *testing.T) {
			t.Setenv(env, "100")
			debug.SetMemoryLimit(1 << 40)
			if tuneGC(cfg) {
				t.Fatalf("tuned with %s set", env)
			}
			if got := debug.SetMemoryLimit(-1); got != 1<<40 {
				t.Errorf("memory limit %d, want it untouched", got)
			}
		})
	}

	t.Run("neither", func(t *testing.T) {
		t.Setenv("GOGC", "")
		t.Setenv("GOMEMLIMIT", "")
		if !tuneGC(cfg) {
			t.Fatal("not tuned with neither GOGC nor GOMEMLIMIT set")
		}
		if got := debug.SetMemoryLimit(-1); got != 60<<20 {
			t.Errorf("memory limit %d, want %d", got, 60<<20)
		}
		if got := debug.SetGCPercent(100); got != tunedGCPercent {
			t.Errorf("GOGC %d, want %d", got, tunedGCPercent)
		}
	})
}
