package command

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"sync/atomic"
	"time"

	"github.com/kappa-stream/kappa/internal/engine"
	"github.com/kappa-stream/kappa/internal/pluginclient"
	"github.com/kappa-stream/kappa/sdk"
)

// Standing by after the generation ended (`on_generation_ended: standby`):
// once a reprocess froze or retired the generation a run commits, the run
// stops its engine, so that nothing is polled or committed, and asks the
// sink, backing off, whether its generation is live again. /livez,
// /readyz and /status keep answering, /status naming the live generation.
// When a rollback made its generation live again, run returns
// errLiveAgain and RunWith runs the pipeline again on the same listener:
// the sink binds to the live generation and the engine reads its
// positions, exactly as a restart would.

// errLiveAgain is what run returns when it stood by and its generation is
// live again.
var errLiveAgain = errors.New("this pipeline's generation is live again")

// Standby's backoff between looks at the generations: like a fenced
// engine's, it grows from the first to the longest.
const (
	standbyFirst   = 200 * time.Millisecond
	standbyLongest = 5 * time.Second
)

// standBy waits, committing nothing, until the generation gens is bound to
// is live again (errLiveAgain) or ctx ends (nil). ended is the error that
// ended the generation; m, when not nil, shows the standby.
func standBy(ctx context.Context, gens sdk.Generations, ended error, m *monitor, logger *slog.Logger) error {
	say := func(msg string) {
		if m != nil {
			m.generationEnded(msg)
		}
	}
	say(ended.Error())
	logger.Info("generation ended: nothing more is committed; standing by until a rollback makes this generation live again (on_generation_ended: standby)",
		"reason", ended)
	wait := standbyFirst
	for sleepCtx(ctx, wait) {
		wait = min(2*wait, standbyLongest)
		res, err := gens.Generations(ctx, sdk.GenerationsRequest{Op: sdk.GenerationList})
		if errors.Is(err, pluginclient.ErrGenerationsUnsupported) {
			return ended
		}
		if err != nil {
			say(fmt.Sprintf("%s (the generations could not be read: %v)", ended, err))
			continue
		}
		cur := bound(res)
		if cur == nil {
			say(ended.Error())
			continue
		}
		if cur.State == sdk.GenerationLive {
			logger.Info("generation live again: resuming from its committed positions", "generation", cur.Number, "table", res.Table)
			return errLiveAgain
		}
		say(endedMessage(res, cur))
	}
	return nil
}

// endedMessage says that cur, the bound generation of res, ended, and
// which generation replaces it or is live.
func endedMessage(res sdk.GenerationsResult, cur *sdk.Generation) string {
	msg := fmt.Sprintf("generation %d of table %s is %s", cur.Number, res.Table, cur.State)
	for _, g := range res.Generations {
		if g.Previous == cur.Number && g.Number > cur.Number || g.State == sdk.GenerationLive {
			msg += fmt.Sprintf("; generation %d (pipeline %q) is %s", g.Number, g.Pipeline, g.State)
			break
		}
	}
	return msg
}

// generationEnded shows the standby: the engine has stopped, and what
// /status says of the generations is msg.
func (m *monitor) generationEnded(msg string) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.state, m.generation, m.turned = engine.StateStandby, msg, time.Now()
	m.setStateGauge(engine.StateStandby)
}

// handlerSwitch serves what the current run's monitor serves: RunWith
// listens once, and a run that resumes after standing by replaces the
// monitor without closing the listener. Until the first run sets one it
// answers 503.
type handlerSwitch struct{ h atomic.Pointer[http.Handler] }

func (s *handlerSwitch) set(h http.Handler) { s.h.Store(&h) }

func (s *handlerSwitch) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if h := s.h.Load(); h != nil {
		(*h).ServeHTTP(w, r)
		return
	}
	http.Error(w, "starting", http.StatusServiceUnavailable)
}
