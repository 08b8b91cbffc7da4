package engine

import "time"

// The defaults of Config, and of the pipeline file's keys that set it
// (internal/pipeline applies these same values when a key is absent).
const (
	DefaultWindow         = time.Minute      // Config.Window, `window:`
	DefaultMaxRecords     = 50_000           // Limits.MaxRecords, `batch.max_records:`
	DefaultMaxBytes       = 8 << 20          // Limits.MaxBytes, `batch.max_bytes:`
	DefaultMaxWait        = time.Second      // Limits.MaxWait, `batch.interval:`
	DefaultPollTimeout    = 30 * time.Second // `timeouts.poll:`
	DefaultExtractTimeout = 30 * time.Second // `timeouts.extract:`
	DefaultCommitTimeout  = time.Minute      // `timeouts.commit:`
	DefaultRetryFor       = 2 * time.Minute  // `give_up_after:`
)
