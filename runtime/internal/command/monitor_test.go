package command

import (
	"errors"
	"fmt"
	"net/http/httptest"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/kappa-stream/kappa/internal/engine"
	"github.com/kappa-stream/kappa/sdk"
	"github.com/prometheus/client_golang/prometheus/testutil"
	"github.com/prometheus/client_golang/prometheus/testutil/promlint"
)

func testMonitor(pid *int) *monitor {
	plugins := []pluginView{{kind: "source", binary: "kafka-source", restarts: func() int { return 2 }, pid: func() int { return *pid }}}
	return newMonitor("tweets", "tweets.yaml", time.Second, time.Minute, plugins, map[string]any{"sink": map[string]any{"dsn": "[redacted]"}})
}

func scrape(t *testing.T, m *monitor) string {
	t.Helper()
	w := httptest.NewRecorder()
	m.handler().ServeHTTP(w, httptest.NewRequest("GET", "/metrics", nil))
	if w.Code != 200 {
		t.Fatalf("/metrics: %d %s", w.Code, w.Body)
	}
	return w.Body.String()
}

func TestMetricsAfterBatches(t *testing.T) {
	pid := 42
	m := testMonitor(&pid)
	m.StateChanged(engine.StateRunning)
	m.Positions(map[int32]int64{0: 10, 1: 20})
	m.HighWatermarks(map[int32]int64{0: 15, 1: 20})
	now := time.Now()
	m.Polled(map[int32]engine.RecordAt{0: {Offset: 10, Time: now.Add(-time.Minute)}})
	m.Committed(engine.BatchReport{Records: 10, Facts: 12, Skipped: 2, Rejected: 3, Rows: 4,
		Reasons: map[string]int{"no event time": 1, "event time 3000-01-01T00:00:00Z outside 1678–2261": 1, "something new": 1},
		Ranges:  []sdk.RangeStats{{OffsetRange: sdk.OffsetRange{Partition: 0, Start: 5, End: 10}}},
		Oldest:  now.Add(-2 * time.Minute),
		Started: now.Add(-time.Second), Ended: now, Commit: 100 * time.Millisecond})
	m.Failed(engine.CauseOf(fmt.Errorf("commit: %w", sdk.ErrFenced)), errors.New("fenced"))

	out := scrape(t, m)
	for _, want := range []string{
		`kappa_records_total{outcome="extracted",pipeline="tweets"} 5`,
		`kappa_records_total{outcome="skipped",pipeline="tweets"} 2`,
		`kappa_records_total{outcome="rejected",pipeline="tweets"} 3`,
		`kappa_rejected_records_total{pipeline="tweets",reason="event_time"} 2`,
		`kappa_rejected_records_total{pipeline="tweets",reason="other"} 1`,
		`kappa_facts_total{pipeline="tweets"} 12`,
		`kappa_rows_written_total{pipeline="tweets"} 4`,
		`kappa_batches_total{pipeline="tweets"} 1`,
		`kappa_batch_failures_total{cause="fenced",pipeline="tweets"} 1`,
		`kappa_batch_failures_total{cause="sink",pipeline="tweets"} 0`,
		`kappa_partition_committed_offset{partition="0",pipeline="tweets"} 10`,
		`kappa_partition_high_watermark{partition="0",pipeline="tweets"} 15`,
		`kappa_partition_lag_records{partition="0",pipeline="tweets"} 5`,
		`kappa_partition_lag_records{partition="1",pipeline="tweets"} 0`,
		`kappa_partition_lag_seconds{partition="1",pipeline="tweets"} 0`,
		`kappa_plugin_restarts_total{kind="source",pipeline="tweets"} 2`,
		`kappa_plugin_up{kind="source",pipeline="tweets"} 1`,
		`kappa_pipeline_state{pipeline="tweets",state="running"} 1`,
		`kappa_pipeline_state{pipeline="tweets",state="backoff"} 0`,
		`kappa_commit_duration_seconds_count{pipeline="tweets"} 1`,
		`kappa_freshness_seconds_count{pipeline="tweets"} 1`,
		`kappa_last_commit_timestamp_seconds{pipeline="tweets"}`,
		`kappa_build_info{pipeline="tweets",version=`,
		`go_goroutines{pipeline="tweets"}`,
	} {
		if !strings.Contains(out, want) {
			t.Errorf("/metrics lacks %s", want)
		}
	}
	if !strings.Contains(out, `kappa_partition_lag_seconds{partition="0",pipeline="tweets"} 6`) {
		t.Errorf("lag seconds of partition 0 should be about 60:\n%s", grepLines(out, "lag_seconds"))
	}
	if t.Failed() {
		t.Logf("metrics:\n%s", grepLines(out, "kappa_"))
	}
}

// lagSeconds is partition p's kappa_partition_lag_seconds at now.
func lagSeconds(m *monitor, p int32, now time.Time) float64 {
	m.mu.Lock()
	defer m.mu.Unlock()
	_, s := m.partition(p).lag(now)
	return s
}

func TestLagSecondsIsTheOldestUncommittedRecordsAge(t *testing.T) {
	pid := 1
	m := testMonitor(&pid)
	now := time.Now()
	m.Positions(map[int32]int64{0: 0})
	m.HighWatermarks(map[int32]int64{0: 100})
	// Before the first commit, with a backlog: the first polled record's age.
	m.Polled(map[int32]engine.RecordAt{0: {Offset: 50, Time: now.Add(-10 * time.Second)}})
	m.Polled(map[int32]engine.RecordAt{0: {Offset: 0, Time: now.Add(-90 * time.Second)}})
	m.Polled(map[int32]engine.RecordAt{0: {Offset: 0, Time: now.Add(-90 * time.Second)}}) // polled again after a failure
	if s := lagSeconds(m, 0, now); s < 89 || s > 91 {
		t.Errorf("backlog before any commit: lag %.1fs, want 90s (the oldest polled record's age)", s)
	}
	m.Positions(map[int32]int64{0: 50}) // [0, 50) committed
	if s := lagSeconds(m, 0, now); s < 9 || s > 11 {
		t.Errorf("after committing [0, 50): lag %.1fs, want 10s", s)
	}
	m.Positions(map[int32]int64{0: 100})
	if s := lagSeconds(m, 0, now); s != 0 {
		t.Errorf("caught up: lag %.1fs, want 0", s)
	}
	// A quiet hour, then one fresh record: its age, not the hour.
	m.HighWatermarks(map[int32]int64{0: 101})
	m.Polled(map[int32]engine.RecordAt{0: {Offset: 100, Time: now.Add(time.Hour - time.Second)}})
	if s := lagSeconds(m, 0, now.Add(time.Hour)); s < 0.5 || s > 1.5 {
		t.Errorf("one fresh record after a quiet hour: lag %.1fs, want 1s", s)
	}
}

func TestLagSecondsGrowWhileNothingIsPolled(t *testing.T) {
	pid := 1
	m := testMonitor(&pid)
	m.Positions(map[int32]int64{0: 7})
	m.HighWatermarks(map[int32]int64{0: 9}) // behind; the source delivers nothing
	now := time.Now()
	if s := lagSeconds(m, 0, now.Add(30*time.Second)); s < 29 || s > 31 {
		t.Errorf("30s behind with nothing polled: lag %.1fs, want at least 29s", s)
	}
	m.Positions(map[int32]int64{0: 9})
	m.HighWatermarks(map[int32]int64{0: 10})
	if s := lagSeconds(m, 0, now.Add(30*time.Second)); s > 31 {
		t.Errorf("behind again since just now: lag %.1fs, want it counted from when it fell behind, not before", s)
	}
}

func TestLastCommitIsKnownBeforeThisRunsFirst(t *testing.T) {
	pid := 1
	m := testMonitor(&pid)
	if out := scrape(t, m); strings.Contains(out, "kappa_last_commit_timestamp_seconds{") {
		t.Errorf("last commit reported before any is known:\n%s", grepLines(out, "last_commit"))
	}
	at := time.Unix(1_700_000_000, 0)
	m.CommittedAt(map[int32]time.Time{0: at, 1: at.Add(-time.Hour)})
	out := scrape(t, m)
	if !strings.Contains(out, `kappa_last_commit_timestamp_seconds{pipeline="tweets"} 1.7e+09`) {
		t.Errorf("last commit after reading the sink's commit times:\n%s", grepLines(out, "last_commit"))
	}
	m.mu.Lock()
	got := m.partition(1).lastCommit
	m.mu.Unlock()
	if !got.Equal(at.Add(-time.Hour)) {
		t.Errorf("partition 1's last commit %v, want %v", got, at.Add(-time.Hour))
	}
}

func grepLines(s, sub string) string {
	var b strings.Builder
	for l := range strings.Lines(s) {
		if strings.Contains(l, sub) {
			b.WriteString(l)
		}
	}
	return b.String()
}

func TestMetricsLintClean(t *testing.T) {
	pid := 1
	m := testMonitor(&pid)
	m.Positions(map[int32]int64{0: 1})
	m.Committed(engine.BatchReport{Records: 1, Ended: time.Now()})
	problems, err := promlint.New(strings.NewReader(scrape(t, m))).Lint()
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range problems {
		t.Errorf("promlint: %s: %s", p.Metric, p.Text)
	}
	if n, err := testutil.GatherAndCount(m.reg, "kappa_rejected_records_total"); err != nil || n != len(rejectReasons) {
		t.Errorf("reason series: %d, %v; want the fixed %d", n, err, len(rejectReasons))
	}
}

func TestReasonLabelsAreBounded(t *testing.T) {
	for reason, want := range map[string]string{
		"empty payload": "empty", "no event time": "event_time", "bad created_at": "event_time",
		"dimension lang: 300 characters, the sink stores at most 255": "sink_limit",
		"data is not an object": "malformed", "bad value": "malformed", "whatever else": "other",
	} {
		if got := reasonLabel(reason); got != want {
			t.Errorf("reasonLabel(%q) = %q, want %q", reason, got, want)
		}
	}
}

func TestReadiness(t *testing.T) {
	pid := 7
	m := testMonitor(&pid)
	now := time.Now()
	get := func() (int, string) {
		w := httptest.NewRecorder()
		m.handler().ServeHTTP(w, httptest.NewRequest("GET", "/readyz", nil))
		return w.Code, w.Body.String()
	}
	if code, body := get(); code != 503 || !strings.Contains(body, "starting") {
		t.Errorf("before resume: %d %q", code, body)
	}
	m.StateChanged(engine.StateRunning)
	m.Positions(map[int32]int64{0: 1})
	if code, body := get(); code != 200 || !strings.Contains(body, "role: active") {
		t.Errorf("after resume: %d %q", code, body)
	}
	m.Failed(engine.CauseSink, errors.New("dial tcp 127.0.0.1:3306: connection refused"))
	m.StateChanged(engine.StateBackoff)
	if code, body := get(); code != 503 || !strings.Contains(body, "connection refused") {
		t.Errorf("in backoff: %d %q", code, body)
	}
	m.StateChanged(engine.StateStandby)
	m.Positions(map[int32]int64{0: 1})
	if code, body := get(); code != 200 || !strings.Contains(body, "role: standby") {
		t.Errorf("standby: %d %q", code, body)
	}
	if why, _ := m.ready(now.Add(time.Hour)); !strings.Contains(why, "no commit") {
		t.Errorf("an hour without progress: %q", why)
	}
	pid = 0
	if code, body := get(); code != 503 || !strings.Contains(body, "source plugin") {
		t.Errorf("plugin down: %d %q", code, body)
	}
}

func TestStatusJSON(t *testing.T) {
	pid := 7
	m := testMonitor(&pid)
	m.Positions(map[int32]int64{3: 9})
	m.HighWatermarks(map[int32]int64{3: 12})
	s := m.status(time.Now())
	if len(s.Partitions) != 1 || s.Partitions[0].LagRecords != 3 || s.Plugins[0].Pid != 7 || s.Plugins[0].Restarts != 2 {
		t.Errorf("status: %+v", s)
	}
}

// /livez fails once the engine has reported nothing for longer than any
// plugin call may take, and says so.
func TestLiveness(t *testing.T) {
	pid := 7
	m := testMonitor(&pid)
	m.HighWatermarks(map[int32]int64{0: 1})
	if why := m.live(time.Now()); why != "" {
		t.Errorf("just reported: %q", why)
	}
	if why := m.live(time.Now().Add(2 * time.Minute)); !strings.Contains(why, "reported nothing for 2m0s") {
		t.Errorf("two minutes after its last report, with a one-minute allowance: %q", why)
	}
	w := httptest.NewRecorder()
	m.handler().ServeHTTP(w, httptest.NewRequest("GET", "/livez", nil))
	if w.Code != 200 {
		t.Errorf("/livez: %d %s", w.Code, w.Body)
	}
}

// A consumer-group member's status and metrics say which partitions it
// reads; outside a group every partition is its own.
func TestStatusShowsOwnedPartitions(t *testing.T) {
	pid := 7
	m := testMonitor(&pid)
	m.Positions(map[int32]int64{0: 1, 1: 2, 2: 3})
	if s := m.status(time.Now()); s.Group != "" || s.OwnedPartitions != nil || !s.Partitions[1].Owned {
		t.Errorf("outside a group: %+v", s)
	}
	m.setGroup("kappa-tweets")
	var obs engine.Observer = observers{m}
	obs.(engine.OwnershipObserver).Owned([]int32{0, 2})
	s := m.status(time.Now())
	if s.Group != "kappa-tweets" || !slices.Equal(s.OwnedPartitions, []int32{0, 2}) {
		t.Errorf("group %q owned %v, want kappa-tweets [0 2]", s.Group, s.OwnedPartitions)
	}
	for _, p := range s.Partitions {
		if p.Owned != (p.Partition != 1) {
			t.Errorf("partition %d owned = %v", p.Partition, p.Owned)
		}
	}
	out := scrape(t, m)
	for _, want := range []string{`kappa_partition_owned{partition="1",pipeline="tweets"} 0`, `kappa_partition_owned{partition="2",pipeline="tweets"} 1`} {
		if !strings.Contains(out, want) {
			t.Errorf("metrics lack %s:\n%s", want, out)
		}
	}
}
