package command

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"os"
	"sync"
	"time"

	"github.com/kappa-stream/kappa/internal/engine"
	"github.com/schollz/progressbar/v3"
	"golang.org/x/term"
)

// A drain on a terminal shows a progress bar on stderr: records per
// second, the lag left to the ends the logs had at start, and an ETA. It
// is drawn from what the engine reports (engine.Observer), and only when
// stderr is a terminal: logs written to a file or a pipe stay as they
// are. While it shows, the per-batch "batch committed" lines are left out
// (the bar says the same); every other line still prints, above the bar.

// stderrIsTerminal reports whether the bar may be drawn.
func stderrIsTerminal() bool { return term.IsTerminal(int(os.Stderr.Fd())) }

// progress is the drain's progress bar; an engine.Observer.
type progress struct {
	w   io.Writer
	bar *progressbar.ProgressBar
	now func() time.Time

	mu sync.Mutex
	// target is each partition's log end when first reported (resume
	// reads them: a drain stops there); committed its committed position.
	target, committed map[int32]int64
	records           int64 // records committed by this run
	started           time.Time
}

func newProgress(w io.Writer) *progress {
	return &progress{
		w: w,
		bar: progressbar.NewOptions64(1,
			progressbar.OptionSetWriter(w),
			progressbar.OptionSetWidth(30),
			progressbar.OptionSetPredictTime(false),
			progressbar.OptionSetElapsedTime(false),
			progressbar.OptionShowDescriptionAtLineEnd(),
			progressbar.OptionSetRenderBlankState(false),
		),
		now:    time.Now,
		target: map[int32]int64{}, committed: map[int32]int64{},
	}
}

// progressText is what the bar says beside it.
func progressText(records int64, elapsed time.Duration, lag int64) string {
	rate := 0.0
	if elapsed > 0 {
		rate = float64(records) / elapsed.Seconds()
	}
	eta := "ETA --"
	switch {
	case lag == 0:
		eta = "ETA 0s"
	case rate > 0:
		eta = "ETA " + (time.Duration(float64(lag) / rate * float64(time.Second))).Round(time.Second).String()
	}
	return fmt.Sprintf("%.0f records/s, lag %d, %s", rate, lag, eta)
}

// lag is the records left to the drain's ends; call with mu held.
func (p *progress) lag() int64 {
	var left int64
	for part, end := range p.target {
		left += max(0, end-p.committed[part])
	}
	return left
}

// redraw updates the bar; call with mu held.
func (p *progress) redraw() {
	if p.started.IsZero() {
		return
	}
	// Done and left: the bar's 100% is what this run committed and
	// what is left, whichever of positions and log ends came first.
	lag := p.lag()
	p.bar.ChangeMax64(max(p.records+lag, 1))
	p.bar.Describe(progressText(p.records, p.now().Sub(p.started), lag))
	p.bar.Set64(p.records)
}

func (p *progress) Positions(committed map[int32]int64) {
	p.mu.Lock()
	defer p.mu.Unlock()
	for part, at := range committed {
		p.committed[part] = at
	}
	p.redraw()
}

func (p *progress) HighWatermarks(ends map[int32]int64) {
	p.mu.Lock()
	defer p.mu.Unlock()
	for part, end := range ends {
		if _, ok := p.target[part]; !ok {
			p.target[part] = end
		}
	}
	if p.started.IsZero() {
		p.started = p.now()
	}
	p.redraw()
}

func (p *progress) Committed(b engine.BatchReport) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.records += b.Records
	p.redraw()
}

func (p *progress) StateChanged(engine.State)  {}
func (p *progress) Failed(engine.Cause, error) {}
func (p *progress) Idle()                      {}

// done draws the bar's last state below the run's last lines and ends
// its line.
func (p *progress) done() {
	p.mu.Lock()
	defer p.mu.Unlock()
	if !p.started.IsZero() {
		p.redraw()
		p.bar.Exit()
		fmt.Fprintln(p.w)
	}
}

// handler wraps the runtime's log handler: it leaves the per-batch lines
// out and clears the bar before any other line.
func (p *progress) handler(h slog.Handler) slog.Handler { return progressHandler{h, p} }

type progressHandler struct {
	slog.Handler
	p *progress
}

func (h progressHandler) Handle(ctx context.Context, r slog.Record) error {
	if r.Message == "batch committed" && r.Level == slog.LevelInfo {
		return nil
	}
	h.p.mu.Lock()
	defer h.p.mu.Unlock()
	if !h.p.started.IsZero() {
		h.p.bar.Clear()
	}
	return h.Handler.Handle(ctx, r)
}

func (h progressHandler) WithAttrs(as []slog.Attr) slog.Handler {
	return progressHandler{h.Handler.WithAttrs(as), h.p}
}

func (h progressHandler) WithGroup(name string) slog.Handler {
	return progressHandler{h.Handler.WithGroup(name), h.p}
}

// observers is several engine.Observers as one.
type observers []engine.Observer

func (os observers) StateChanged(s engine.State) {
	for _, o := range os {
		o.StateChanged(s)
	}
}
func (os observers) Positions(c map[int32]int64) {
	for _, o := range os {
		o.Positions(c)
	}
}
func (os observers) HighWatermarks(e map[int32]int64) {
	for _, o := range os {
		o.HighWatermarks(e)
	}
}
func (os observers) Committed(b engine.BatchReport) {
	for _, o := range os {
		o.Committed(b)
	}
}
func (os observers) Failed(c engine.Cause, err error) {
	for _, o := range os {
		o.Failed(c, err)
	}
}
func (os observers) Owned(partitions []int32) {
	for _, o := range os {
		if owner, ok := o.(engine.OwnershipObserver); ok {
			owner.Owned(partitions)
		}
	}
}
func (os observers) Idle() {
	for _, o := range os {
		o.Idle()
	}
}
