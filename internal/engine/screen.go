package engine

import "github.com/kappa-stream/kappa/sdk"

// screen rejects every record of e.out that has a fact the sink cannot
// store: an event time outside sdk.CheckEventTime's range (an extractor
// plugin's SDK rejected those already; an extractor running in this
// process did not), or a fact outside the limits the sink published. Such
// a record is counted as rejected, with its reason, and its offsets
// advance; left in, it would fail every commit of its batch and block
// every partition.
func (e *Engine) screen() {
	limits, window, dims := e.cfg.FactLimits, e.cfg.Window, e.cfg.Dimensions
	e.out.RejectFacts(func(f sdk.Fact) string {
		if err := sdk.CheckEventTime(f.Time); err != nil {
			return err.Error()
		}
		return limits.Check(f, windowStart(f.Time, window), dims)
	})
}
