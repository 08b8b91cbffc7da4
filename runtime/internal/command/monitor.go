package command

import (
	"cmp"
	"maps"
	"runtime/debug"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/kappa-stream/kappa/internal/engine"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
)

// monitor is the engine's Observer behind --http: it keeps the metrics
// (counters moved once per batch, partition gauges computed at scrape)
// and the facts /status, /livez and /readyz report. Its methods are
// called from the engine's goroutine and the HTTP server's, under mu.
type monitor struct {
	pipeline, file, version string
	started                 time.Time
	// interval is the batch interval; readiness allows a few of them
	// between signs of progress. stall is how long the engine may go
	// without reporting anything before /livez fails: longer than any
	// plugin call may take.
	interval, stall time.Duration
	plugins         []pluginView
	config          any
	// windows reads the sink's recent windows for the status page; nil
	// until the sink is known.
	windows *windowCache

	reg                            *prometheus.Registry
	records, rejected, failures    *prometheus.CounterVec
	facts, rows, batches           prometheus.Counter
	commitDur, batchDur, freshness prometheus.Histogram
	stateGauge                     *prometheus.GaugeVec

	mu sync.Mutex
	// turned is when the engine last reported anything: every turn of
	// its loop reports something (a batch's log ends, a commit, an idle
	// step, a failure).
	turned       time.Time
	state        engine.State
	lastErr      string
	lastErrAt    time.Time
	progress     time.Time // last commit or positions read
	lastCommit   time.Time
	partitions   map[int32]*partitionView
	recent       []batchView // the last recentBatches, oldest first
	restartCause map[string]string
	// group is the consumer group the source is a member of ("" when it
	// reads every partition); owned the partitions it owns, as the last
	// rebalance reported them (nil before the first).
	group string
	owned []int32
	// generation says, once the generation this run commits ended and it
	// stands by (standby.go), what was done and which generation is live;
	// "" until then.
	generation string
}

// pluginView is what the monitor shows of a supervised plugin.
type pluginView struct {
	kind, binary string
	// version is what the plugin's Describe said, once it is open
	// (setPluginVersion; guarded by the monitor's mu).
	version  string
	restarts func() int
	pid      func() int
	// lastDeath says why and when the process last died; nil or "" when
	// it has not.
	lastDeath func() (string, time.Time)
}

type partitionView struct {
	committed, highWatermark int64
	// pending are the first records of the batches polled past the
	// committed position, in offset order (a few: the poll-ahead);
	// behindSince is when the log end was first seen past the committed
	// position (zero while caught up); lastCommit when the partition last
	// advanced; lost its offsets lost so far.
	pending                 []engine.RecordAt
	behindSince, lastCommit time.Time
	lost                    int64
}

// maxPending bounds partitionView.pending: the engine polls a few batches
// ahead at most, and after a failure polls the same offsets again.
const maxPending = 8

type batchView struct {
	Ended      time.Time `json:"ended"`
	Records    int64     `json:"records"`
	Facts      int64     `json:"facts"`
	Skipped    int64     `json:"skipped"`
	Rejected   int64     `json:"rejected"`
	Rows       int       `json:"rows"`
	Partitions int       `json:"partitions"`
	CommitMS   float64   `json:"commit_ms"`
	BatchMS    float64   `json:"batch_ms"`
}

const recentBatches = 20

// rejectReasons is the fixed set kappa_rejected_records_total's reason
// label takes: reasons are free text (some name a value), so each is
// mapped by what it mentions, and what matches none is "other".
var rejectReasons = []struct{ label, mentions string }{
	{"empty", "empty"},
	{"event_time", "time|created_at"},
	{"sink_limit", "the sink"},
	{"malformed", "not an object|bad value|malformed|invalid|json|parse"},
	{"other", ""},
}

// reasonLabel maps a reject reason to its label in rejectReasons.
func reasonLabel(reason string) string {
	r := strings.ToLower(reason)
	for _, c := range rejectReasons {
		if c.mentions == "" {
			continue
		}
		for m := range strings.SplitSeq(c.mentions, "|") {
			if strings.Contains(r, m) {
				return c.label
			}
		}
	}
	return "other"
}

// setPluginVersion records the version the plugin of kind says it has.
func (m *monitor) setPluginVersion(kind, version string) {
	m.mu.Lock()
	defer m.mu.Unlock()
	for i := range m.plugins {
		if m.plugins[i].kind == kind {
			m.plugins[i].version = version
		}
	}
}

func newMonitor(pipeline, file string, interval, stall time.Duration, plugins []pluginView, config any) *monitor {
	m := &monitor{
		pipeline: pipeline, file: file, version: runtimeVersion(), started: time.Now(), interval: interval, stall: stall, turned: time.Now(),
		plugins: plugins, config: config, reg: prometheus.NewRegistry(),
		partitions: map[int32]*partitionView{}, state: engine.StateStarting,
	}
	r := prometheus.WrapRegistererWith(prometheus.Labels{"pipeline": pipeline}, m.reg)
	r.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	m.records = prometheus.NewCounterVec(prometheus.CounterOpts{Name: "kappa_records_total",
		Help: "Records committed, by outcome: extracted (yielded facts), skipped or rejected."}, []string{"outcome"})
	m.rejected = prometheus.NewCounterVec(prometheus.CounterOpts{Name: "kappa_rejected_records_total",
		Help: "Rejected records committed, by reason (empty, event_time, sink_limit, malformed, other)."}, []string{"reason"})
	m.failures = prometheus.NewCounterVec(prometheus.CounterOpts{Name: "kappa_batch_failures_total",
		Help: "Batches or resumes that failed, by cause (fenced, source, extract, sink, timeout, plugin)."}, []string{"cause"})
	m.facts = prometheus.NewCounter(prometheus.CounterOpts{Name: "kappa_facts_total", Help: "Facts committed."})
	m.rows = prometheus.NewCounter(prometheus.CounterOpts{Name: "kappa_rows_written_total", Help: "Aggregate rows written by commits."})
	m.batches = prometheus.NewCounter(prometheus.CounterOpts{Name: "kappa_batches_total", Help: "Batches committed."})
	buckets := prometheus.ExponentialBuckets(0.005, 2, 14) // 5ms to ~41s
	m.commitDur = prometheus.NewHistogram(prometheus.HistogramOpts{Name: "kappa_commit_duration_seconds",
		Help: "How long the sink's commit of a batch took.", Buckets: buckets})
	m.batchDur = prometheus.NewHistogram(prometheus.HistogramOpts{Name: "kappa_batch_duration_seconds",
		Help: "From the start of a batch's poll to the end of its commit.", Buckets: buckets})
	m.freshness = prometheus.NewHistogram(prometheus.HistogramOpts{Name: "kappa_freshness_seconds",
		Help:    "From the oldest record of a batch being produced to its rows becoming visible in the sink.",
		Buckets: prometheus.ExponentialBuckets(0.05, 2, 16)})
	m.stateGauge = prometheus.NewGaugeVec(prometheus.GaugeOpts{Name: "kappa_pipeline_state",
		Help: "1 for the engine's current state, 0 for the others."}, []string{"state"})
	build := prometheus.NewGaugeVec(prometheus.GaugeOpts{Name: "kappa_build_info",
		Help: "Always 1; the runtime's version as a label."}, []string{"version"})
	build.WithLabelValues(m.version).Set(1)
	r.MustRegister(m.records, m.rejected, m.failures, m.facts, m.rows, m.batches,
		m.commitDur, m.batchDur, m.freshness, m.stateGauge, build, partitionCollector{m})
	// Series exist from the start, at 0, so that rate() and alerts see them.
	for _, o := range []string{"extracted", "skipped", "rejected"} {
		m.records.WithLabelValues(o)
	}
	for _, c := range rejectReasons {
		m.rejected.WithLabelValues(c.label)
	}
	for _, c := range engine.Causes {
		m.failures.WithLabelValues(string(c))
	}
	m.setStateGauge(engine.StateStarting)
	for _, p := range plugins {
		r.MustRegister(prometheus.NewCounterFunc(prometheus.CounterOpts{Name: "kappa_plugin_restarts_total",
			Help: "Times the plugin process was started again after it died or hung.", ConstLabels: prometheus.Labels{"kind": p.kind}},
			func() float64 { return float64(p.restarts()) }))
		r.MustRegister(prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: "kappa_plugin_up",
			Help: "1 while the plugin process runs, 0 while it is down.", ConstLabels: prometheus.Labels{"kind": p.kind}},
			func() float64 {
				if p.pid() != 0 {
					return 1
				}
				return 0
			}))
	}
	return m
}

func (m *monitor) setStateGauge(s engine.State) {
	for _, st := range engine.States {
		v := 0.0
		if st == s {
			v = 1
		}
		m.stateGauge.WithLabelValues(string(st)).Set(v)
	}
}

// StateChanged implements engine.Observer.
func (m *monitor) StateChanged(s engine.State) {
	m.setStateGauge(s)
	m.mu.Lock()
	m.state, m.turned = s, time.Now()
	m.mu.Unlock()
}

// Positions implements engine.Observer: a read of the positions or a
// commit is progress.
func (m *monitor) Positions(committed map[int32]int64) {
	m.mu.Lock()
	defer m.mu.Unlock()
	now := time.Now()
	m.progress, m.turned = now, now
	for p, off := range committed {
		v := m.partition(p)
		v.committed = off
		v.pending = slices.DeleteFunc(v.pending, func(r engine.RecordAt) bool { return r.Offset < off })
		v.noteBehind(now)
	}
}

// Polled implements engine.PendingObserver: the first record of each
// partition in a polled batch.
func (m *monitor) Polled(first map[int32]engine.RecordAt) {
	m.mu.Lock()
	defer m.mu.Unlock()
	for p, r := range first {
		v := m.partition(p)
		i, polledBefore := slices.BinarySearchFunc(v.pending, r, func(a, b engine.RecordAt) int { return cmp.Compare(a.Offset, b.Offset) })
		if r.Offset < v.committed || polledBefore {
			continue
		}
		v.pending = slices.Insert(v.pending, i, r)
		if len(v.pending) > maxPending {
			v.pending = v.pending[:maxPending]
		}
	}
}

// CommittedAt implements engine.CommitTimesObserver: when the positions
// just read were committed, by this runtime or one before it, so that the
// last commit is known before this run's first.
func (m *monitor) CommittedAt(times map[int32]time.Time) {
	m.mu.Lock()
	defer m.mu.Unlock()
	for p, t := range times {
		if v := m.partition(p); t.After(v.lastCommit) {
			v.lastCommit = t
		}
		if t.After(m.lastCommit) {
			m.lastCommit = t
		}
	}
}

// Idle implements engine.Observer: a step that found nothing to commit,
// without failing, is progress too.
func (m *monitor) Idle() {
	m.mu.Lock()
	m.progress, m.turned = time.Now(), time.Now()
	m.mu.Unlock()
}

// HighWatermarks implements engine.Observer.
func (m *monitor) HighWatermarks(ends map[int32]int64) {
	m.mu.Lock()
	defer m.mu.Unlock()
	now := time.Now()
	m.turned = now
	for p, end := range ends {
		v := m.partition(p)
		v.highWatermark = end
		v.noteBehind(now)
	}
}

// Committed implements engine.Observer.
func (m *monitor) Committed(b engine.BatchReport) {
	m.records.WithLabelValues("extracted").Add(float64(b.Records - b.Skipped - b.Rejected))
	m.records.WithLabelValues("skipped").Add(float64(b.Skipped))
	m.records.WithLabelValues("rejected").Add(float64(b.Rejected))
	for reason, n := range b.Reasons {
		m.rejected.WithLabelValues(reasonLabel(reason)).Add(float64(n))
	}
	m.facts.Add(float64(b.Facts))
	m.rows.Add(float64(b.Rows))
	m.batches.Inc()
	m.commitDur.Observe(b.Commit.Seconds())
	m.batchDur.Observe(b.Ended.Sub(b.Started).Seconds())
	if !b.Oldest.IsZero() {
		m.freshness.Observe(b.Ended.Sub(b.Oldest).Seconds())
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	m.lastCommit, m.turned = b.Ended, time.Now()
	for _, r := range b.Ranges {
		p := m.partition(r.Partition)
		p.lastCommit = b.Ended
		p.lost += r.Lost
	}
	if len(m.recent) == recentBatches {
		m.recent = slices.Delete(m.recent, 0, 1)
	}
	m.recent = append(m.recent, batchView{Ended: b.Ended, Records: b.Records, Facts: b.Facts, Skipped: b.Skipped,
		Rejected: b.Rejected, Rows: b.Rows, Partitions: len(b.Ranges),
		CommitMS: float64(b.Commit.Microseconds()) / 1000, BatchMS: float64(b.Ended.Sub(b.Started).Microseconds()) / 1000})
}

// Failed implements engine.Observer.
func (m *monitor) Failed(c engine.Cause, err error) {
	m.failures.WithLabelValues(string(c)).Inc()
	m.mu.Lock()
	defer m.mu.Unlock()
	m.lastErr, m.lastErrAt = err.Error(), time.Now()
	m.turned = m.lastErrAt
}

// setGroup records the consumer group the source joined.
func (m *monitor) setGroup(group string) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.group = group
}

// Owned implements engine.OwnershipObserver: the partitions this member
// owns after a rebalance.
func (m *monitor) Owned(partitions []int32) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.turned = time.Now()
	m.owned = append([]int32{}, partitions...)
}

// ownsLocked reports whether this runtime reads partition p: always
// outside a group.
func (m *monitor) ownsLocked(p int32) bool {
	return m.group == "" || slices.Contains(m.owned, p)
}

// partition returns p's view, creating it; m.mu is held.
func (m *monitor) partition(p int32) *partitionView {
	v := m.partitions[p]
	if v == nil {
		v = &partitionView{}
		m.partitions[p] = v
	}
	return v
}

// noteBehind keeps behindSince: when the log end was first seen past the
// committed position, zero while the partition is caught up.
func (v *partitionView) noteBehind(now time.Time) {
	switch {
	case v.highWatermark <= v.committed:
		v.behindSince = time.Time{}
	case v.behindSince.IsZero():
		v.behindSince = now
	}
}

// lag is a partition's lag in records and seconds at now. The seconds are
// the age of the oldest uncommitted record: the first record polled past
// the committed position, by the time its producer or broker gave it. While
// none has been polled (the source delivers nothing, or records carry no
// time), they are the time since the log end was first seen past the
// committed position, which the true age is at least.
func (v *partitionView) lag(now time.Time) (records int64, seconds float64) {
	records = max(0, v.highWatermark-v.committed)
	switch {
	case records == 0:
	case len(v.pending) > 0:
		seconds = max(0, now.Sub(v.pending[0].Time).Seconds())
	case !v.behindSince.IsZero():
		seconds = max(0, now.Sub(v.behindSince).Seconds())
	}
	return records, seconds
}

// partitionCollector reports the per-partition gauges at scrape time, so
// that lag in seconds grows while nothing commits.
type partitionCollector struct{ m *monitor }

var (
	committedDesc = prometheus.NewDesc("kappa_partition_committed_offset",
		"The next offset to read of the partition, as committed in the sink.", []string{"partition"}, nil)
	watermarkDesc = prometheus.NewDesc("kappa_partition_high_watermark",
		"The partition's log end as the source last reported it (refreshed every few seconds).", []string{"partition"}, nil)
	lagDesc = prometheus.NewDesc("kappa_partition_lag_records",
		"High watermark minus committed offset.", []string{"partition"}, nil)
	lagSecondsDesc = prometheus.NewDesc("kappa_partition_lag_seconds",
		"Age of the oldest uncommitted record (from the time its producer gave it; before one is polled, the time the partition has been seen behind); 0 when caught up.", []string{"partition"}, nil)
	ownedDesc = prometheus.NewDesc("kappa_partition_owned",
		"1 if this runtime reads the partition (always, outside a consumer group), 0 if another member of the group does.", []string{"partition"}, nil)
	lastCommitDesc = prometheus.NewDesc("kappa_last_commit_timestamp_seconds",
		"Unix time of the last successful commit, by this runtime or, before its first, the one the sink reported at start; absent while none is known.", nil, nil)
)

func (c partitionCollector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{committedDesc, watermarkDesc, lagDesc, lagSecondsDesc, ownedDesc, lastCommitDesc} {
		ch <- d
	}
}

func (c partitionCollector) Collect(ch chan<- prometheus.Metric) {
	m := c.m
	now := time.Now()
	m.mu.Lock()
	defer m.mu.Unlock()
	for _, p := range slices.Sorted(maps.Keys(m.partitions)) {
		v, label := m.partitions[p], strconv.Itoa(int(p))
		records, seconds := v.lag(now)
		ch <- prometheus.MustNewConstMetric(committedDesc, prometheus.GaugeValue, float64(v.committed), label)
		ch <- prometheus.MustNewConstMetric(watermarkDesc, prometheus.GaugeValue, float64(v.highWatermark), label)
		ch <- prometheus.MustNewConstMetric(lagDesc, prometheus.GaugeValue, float64(records), label)
		ch <- prometheus.MustNewConstMetric(lagSecondsDesc, prometheus.GaugeValue, seconds, label)
		owned := 0.0
		if m.ownsLocked(p) {
			owned = 1
		}
		ch <- prometheus.MustNewConstMetric(ownedDesc, prometheus.GaugeValue, owned, label)
	}
	if !m.lastCommit.IsZero() {
		ch <- prometheus.MustNewConstMetric(lastCommitDesc, prometheus.GaugeValue, float64(m.lastCommit.UnixNano())/1e9)
	}
}

// runtimeVersion is the module version, or the VCS revision of a
// development build.
func runtimeVersion() string {
	bi, ok := debug.ReadBuildInfo()
	if !ok {
		return "unknown"
	}
	if v := bi.Main.Version; v != "" && v != "(devel)" {
		return v
	}
	for _, s := range bi.Settings {
		if s.Key == "vcs.revision" && len(s.Value) >= 12 {
			return s.Value[:12]
		}
	}
	return "devel"
}
