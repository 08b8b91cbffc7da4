package command

import (
	"context"
	"encoding/json"
	"errors"
	"log/slog"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/kappa-stream/kappa/internal/engine"
	"github.com/kappa-stream/kappa/sdk"
)

// rolledBackSink is a sink whose generation 1 was retired by generation 2
// and is rolled back to live at its third look; look runs at each look,
// before the answer.
type rolledBackSink struct {
	sdk.Sink
	mu    sync.Mutex
	looks int
	look  func(n int)
}

func (s *rolledBackSink) Generations(ctx context.Context, req sdk.GenerationsRequest) (sdk.GenerationsResult, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if req.Op != sdk.GenerationList {
		return sdk.GenerationsResult{}, errors.New("standby must only list generations")
	}
	s.looks++
	s.look(s.looks)
	one, two := sdk.GenerationRetired, sdk.GenerationLive
	if s.looks >= 3 {
		one, two = sdk.GenerationLive, sdk.GenerationRetired
	}
	return sdk.GenerationsResult{Table: "db.twitter", Bound: 1, Generations: []sdk.Generation{
		{Number: 1, Pipeline: "twitter", State: one},
		{Number: 2, Pipeline: "twitter-by-lang", State: two, Previous: 1},
	}}, nil
}

// A run whose generation ended stands by: /status says so and names the
// live generation, /livez stays ok, /readyz is not ready; once a rollback
// makes its generation live again it returns errLiveAgain, for RunWith to
// run the pipeline again.
func TestStandByUntilLiveAgain(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	pid := 42
	m := testMonitor(&pid)
	m.StateChanged(engine.StateRunning)
	var statuses []statusJSON
	var livez, readyz []int
	get := func(path string) *httptest.ResponseRecorder {
		w := httptest.NewRecorder()
		m.handler().ServeHTTP(w, httptest.NewRequest("GET", path, nil))
		return w
	}
	sink := &rolledBackSink{look: func(n int) {
		if n != 2 {
			return
		}
		var s statusJSON
		if err := json.Unmarshal(get("/status").Body.Bytes(), &s); err != nil {
			t.Errorf("/status: %v", err)
		}
		statuses = append(statuses, s)
		livez = append(livez, get("/livez").Code)
		readyz = append(readyz, get("/readyz").Code)
	}}
	ended := sdk.GenerationEnded(errors.New("generation 1 of table db.twitter is frozen"))
	err := standBy(ctx, sink, ended, m, slog.New(slog.DiscardHandler))
	if !errors.Is(err, errLiveAgain) {
		t.Fatalf("standBy: %v, want errLiveAgain", err)
	}
	if sink.looks != 3 {
		t.Errorf("%d looks at the generations, want 3 (one per backoff)", sink.looks)
	}
	if len(statuses) != 1 {
		t.Fatalf("%d statuses", len(statuses))
	}
	s := statuses[0]
	want := `generation 1 of table db.twitter is retired; generation 2 (pipeline "twitter-by-lang") is live`
	if s.State != engine.StateStandby || s.Role != "standby" || s.Ready || s.Generation != want {
		t.Errorf("/status while standing by: state %q role %q ready %v generation_ended %q; want standby, standby, false, %q",
			s.State, s.Role, s.Ready, s.Generation, want)
	}
	if !strings.Contains(s.NotReady, "standing by") {
		t.Errorf("/status not_ready %q, want it to say standing by", s.NotReady)
	}
	if livez[0] != 200 || readyz[0] != 503 {
		t.Errorf("/livez %d /readyz %d while standing by, want 200 and 503", livez[0], readyz[0])
	}
}

// A stop while standing by ends the run without an error.
func TestStandByStops(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	sink := &rolledBackSink{look: func(n int) { cancel() }}
	ended := sdk.GenerationEnded(errors.New("generation 1 of table db.twitter is frozen"))
	if err := standBy(ctx, sink, ended, nil, slog.New(slog.DiscardHandler)); err != nil {
		t.Fatalf("standBy stopped: %v, want nil", err)
	}
}
