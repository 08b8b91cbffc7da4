package sdk

import (
	"context"
	"time"
)

// WindowReader is implemented by a sink that can tell the totals of the
// windows it committed most recently, for the runtime's status page. It is
// optional: without it the page shows no aggregate chart. The runtime calls
// it at most once a second, never concurrently with another call.
type WindowReader interface {
	// RecentWindows returns the sums of the counts of the last n windows
	// the pipeline's aggregate holds, newest first. It only reads.
	RecentWindows(ctx context.Context, n int) ([]WindowTotal, error)
}

// WindowTotal is the sum of the counts of one window, over every partition
// and dimension.
type WindowTotal struct {
	Window time.Time
	Count  int64
}
