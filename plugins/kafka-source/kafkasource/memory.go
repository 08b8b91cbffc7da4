package kafkasource

import (
	"os"
	"runtime/debug"
)

const (
	// tunedGCPercent lets the heap grow to five times what is live before
	// a collection, instead of Go's twice: the source's garbage is mostly
	// decompressed fetches, dead by the next poll, and collecting it at
	// every doubling of a small live heap cost 11-24% of the plugin's CPU
	// in make bench.
	tunedGCPercent = 400
	// memoryLimitBase and memoryLimitPerFetch size the memory limit that
	// bounds that growth: a fixed part for the client, the batch being
	// built and the runtime, and room for the decompressed records of one
	// buffered and one pending fetch per broker (tweets grow 3-6x when
	// decoded).
	memoryLimitBase     = 40 << 20
	memoryLimitPerFetch = 10
)

// Option changes how a Source runs.
type Option func(*Source)

// TuneGC makes Open set this process's garbage collector for a source's
// memory use: GOGC 400 under a memory limit of Config.MemoryLimit, unless
// GOGC or GOMEMLIMIT is set in the environment. The plugin binary uses it;
// a Source embedded in another program leaves that program's settings
// alone.
func TuneGC() Option {
	return func(s *Source) { s.tuneGC = true }
}

// MemoryLimit is the Go memory limit TuneGC sets: 40 MiB plus ten times
// fetch_max_bytes for each seed broker (60 MiB at the defaults with one
// broker). The arena shared with the runtime and the binary's own pages
// come on top of it in the process's resident memory.
func (c Config) MemoryLimit() int64 {
	return memoryLimitBase + memoryLimitPerFetch*c.FetchMaxBytes*int64(max(len(c.BrokerList()), 1))
}

// tuneGC applies TuneGC for cfg and reports whether it changed anything.
func tuneGC(cfg Config) bool {
	if os.Getenv("GOGC") != "" || os.Getenv("GOMEMLIMIT") != "" {
		return false // the operator chose
	}
	debug.SetGCPercent(tunedGCPercent)
	debug.SetMemoryLimit(cfg.MemoryLimit())
	return true
}
