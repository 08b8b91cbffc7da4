package main

import (
	"os"
	"testing"
)

func TestPercentiles(t *testing.T) {
	xs := make([]float64, 0, 200)
	for i := 200; i >= 1; i-- {
		xs = append(xs, float64(i))
	}
	p := percentiles(xs)
	if p.N != 200 || p.P50 != 101 || p.P99 != 199 || p.Max != 200 {
		t.Errorf("percentiles = %+v, want n 200, p50 101, p99 199, max 200", p)
	}
	if percentiles(nil) != nil {
		t.Error("percentiles of nothing should be nil")
	}
}

// readProc parses this very process: its parent, a positive peak RSS, and
// CPU ticks that grow with work.
func TestReadProcReadsThisProcess(t *testing.T) {
	before, ok := readProc(os.Getpid())
	if !ok {
		t.Fatal("cannot read /proc for this process")
	}
	if before.ppid != os.Getppid() || before.hwmKB <= 0 {
		t.Errorf("sample %+v: want ppid %d and a positive VmHWM", before, os.Getppid())
	}
	x := 0
	for i := range 300_000_000 {
		x += i % 7
	}
	after, _ := readProc(os.Getpid())
	if after.ticks <= before.ticks {
		t.Errorf("CPU ticks %d then %d after busy work (%d)", before.ticks, after.ticks, x)
	}
}
