package e2e

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"
)

// series is one scrape of /metrics: each sample line's name{labels} and value.
type series map[string]float64

func scrapeMetrics(addr string) (series, error) {
	resp, err := http.Get("http://" + addr + "/metrics")
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		return nil, err
	}
	s := series{}
	for l := range strings.Lines(string(body)) {
		l = strings.TrimSpace(l)
		if l == "" || strings.HasPrefix(l, "#") {
			continue
		}
		i := strings.LastIndexByte(l, ' ')
		v, err := strconv.ParseFloat(l[i+1:], 64)
		if err != nil {
			return nil, fmt.Errorf("metrics line %q: %w", l, err)
		}
		s[l[:i]] = v
	}
	return s, nil
}

// matching returns the samples of name, keyed by the value of label.
func (s series) matching(name, label string) map[string]float64 {
	re := regexp.MustCompile(`^` + name + `\{.*` + label + `="([^"]*)"`)
	out := map[string]float64{}
	for k, v := range s {
		if m := re.FindStringSubmatch(k); m != nil {
			out[m[1]] = v
		}
	}
	return out
}

func readyz(addr string) (int, string) {
	resp, err := http.Get("http://" + addr + "/readyz")
	if err != nil {
		return 0, err.Error()
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(body)
}

// --http while the runtime works through N records: every record is
// counted in kappa_records_total, each partition's committed offset equals
// its high watermark as kadm reads it, lag 0; a killed plugin shows in
// kappa_plugin_restarts_total; /readyz turns 503 while the database is
// cut (through the TCP proxy) and 200 after.
func TestHTTPMetricsAndHealth(t *testing.T) {
	const partitions = 4
	broker := startBroker(t, "twitter", partitions)
	dbName, _ := database(t)
	proxy := startDBProxy(t)
	summary, _ := runFirehose(t, broker, "twitter", "--count", "5000", "--seed", "71")
	addr := freeAddr(t)
	pipelineFile := shortBatches(t, "")
	env := []string{"KAPPA_BROKERS=" + broker, "KAPPA_MYSQL_DSN=" + proxy.dsn(t, dbName)}
	rt := startRuntime(t, pipelineFile, env, "--http", addr)

	var last series
	waitFor(t, 120*time.Second, fmt.Sprintf("sum(kappa_records_total) == %d and lag 0", summary.Records), func() bool {
		if rt.exited() {
			t.Fatalf("runtime exited: %v\n%s", rt.err, tail(rt.stderr.String()))
		}
		s, err := scrapeMetrics(addr)
		if err != nil {
			return false
		}
		last = s
		var total float64
		for _, v := range s.matching("kappa_records_total", "outcome") {
			total += v
		}
		lags := s.matching("kappa_partition_lag_records", "partition")
		if total != float64(summary.Records) || len(lags) != partitions {
			return false
		}
		for _, v := range lags {
			if v != 0 {
				return false
			}
		}
		return true
	})
	ends := logEndsOf(t, broker, "twitter")
	committed := last.matching("kappa_partition_committed_offset", "partition")
	ends.Each(func(o kadm.ListedOffset) {
		if got := committed[strconv.Itoa(int(o.Partition))]; got != float64(o.Offset) {
			t.Errorf("partition %d: kappa_partition_committed_offset %v, kadm's high watermark %d", o.Partition, got, o.Offset)
		}
	})
	t.Logf("after %d records: %v", summary.Records, committed)
	var kappaLines []string
	for k, v := range last {
		if strings.HasPrefix(k, "kappa_") && !strings.Contains(k, "_bucket") {
			kappaLines = append(kappaLines, fmt.Sprintf("%s %v", k, v))
		}
	}
	slices.Sort(kappaLines)
	t.Logf("/metrics (kappa_ series, buckets left out):\n%s", strings.Join(kappaLines, "\n"))
	// kappa-runtime status, beside the running runtime, agrees.
	cmd := exec.Command(filepath.Join(bins(t), "kappa-runtime"), "status", pipelineFile)
	cmd.Env = append(os.Environ(), env...)
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("kappa-runtime status: %v\n%s", err, out)
	}
	statusCaughtUp(t, out, ends, partitions)
	t.Logf("kappa-runtime status:\n%s", out)
	if code, body := readyz(addr); code != 200 || !strings.Contains(body, "role: active") {
		t.Fatalf("/readyz after the backlog: %d %q", code, body)
	}

	// A killed plugin is restarted and counted.
	var status struct {
		Plugins []struct {
			Kind, Version string
			Pid           int
		}
	}
	resp, err := http.Get("http://" + addr + "/status")
	if err != nil {
		t.Fatal(err)
	}
	json.NewDecoder(resp.Body).Decode(&status)
	resp.Body.Close()
	var pid int
	for _, p := range status.Plugins {
		if p.Kind == "extractor" {
			pid = p.Pid
		}
		if p.Version == "" {
			t.Errorf("/status gives no version of the %s plugin: %+v", p.Kind, status)
		}
	}
	if pid == 0 {
		t.Fatalf("/status names no extractor pid: %+v", status)
	}
	produced := producing(t, broker, "twitter", "--count", "30000", "--rate", "1000", "--seed", "72")
	syscall.Kill(pid, syscall.SIGKILL)
	waitFor(t, 90*time.Second, `kappa_plugin_restarts_total{kind="extractor"} >= 1`, func() bool {
		s, err := scrapeMetrics(addr)
		return err == nil && s.matching("kappa_plugin_restarts_total", "kind")["extractor"] >= 1
	})
	// /status says why the extractor was started again.
	var restarted struct {
		Plugins []struct {
			Kind              string
			Restarts          int
			LastRestartReason string `json:"last_restart_reason"`
		}
	}
	if resp, err := http.Get("http://" + addr + "/status"); err == nil {
		json.NewDecoder(resp.Body).Decode(&restarted)
		resp.Body.Close()
	}
	for _, p := range restarted.Plugins {
		if p.Kind == "extractor" && (p.Restarts < 1 || !strings.HasPrefix(p.LastRestartReason, "died")) {
			t.Errorf("/status after the extractor was killed: %+v, want a restart whose reason starts with \"died\"", p)
		}
	}

	// The database goes away: not ready, saying why; back: ready.
	proxy.outage(20 * time.Second)
	var why string
	waitFor(t, 60*time.Second, "/readyz non-200 while the database is cut", func() bool {
		code, body := readyz(addr)
		why = body
		return code != 200 && code != 0
	})
	t.Logf("/readyz while the database is cut: %q", why)
	waitFor(t, 120*time.Second, "/readyz 200 once the database is back", func() bool {
		code, _ := readyz(addr)
		return code == 200 && !proxy.down()
	})
	produced()
}

// kafka-source's monitor_group: after a drain, the consumer group holds
// the committed positions, so kadm's lag for it is 0 on every partition.
func TestMonitorGroupLagAfterDrain(t *testing.T) {
	const partitions, group = 4, "kappa-twitter-monitor"
	broker := startBroker(t, "twitter", partitions)
	dbName, _ := database(t)
	summary, _ := runFirehose(t, broker, "twitter", "--count", "5000", "--seed", "73")
	original, err := os.ReadFile(filepath.Join(repoRoot(), "pipelines", "twitter.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	text := strings.Replace(string(original), "    start: earliest\n", "    start: earliest\n    monitor_group: "+group+"\n", 1)
	if text == string(original) {
		t.Fatal("pipelines/twitter.yaml has no `start: earliest` line to add monitor_group after")
	}
	res := runRuntime(t, writePipeline(t, text), twitterEnv(broker, dbName), "--drain")
	if res.err != nil || res.records != summary.Records {
		t.Fatalf("drain: %v, %d records of %d\n%s", res.err, res.records, summary.Records, tail(res.stderr))
	}
	cl, err := kgo.NewClient(kgo.SeedBrokers(broker))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	lags, err := kadm.NewClient(cl).Lag(context.Background(), group)
	if err != nil {
		t.Fatal(err)
	}
	l, ok := lags[group]
	if !ok || l.Error() != nil {
		t.Fatalf("kadm lag of group %s: %+v", group, lags)
	}
	seen := 0
	for _, ps := range l.Lag {
		for p, m := range ps {
			seen++
			if m.Err != nil || m.Lag != 0 {
				t.Errorf("partition %d: group commit %d, end %d, lag %d, err %v", p, m.Commit.At, m.End.Offset, m.Lag, m.Err)
			}
		}
	}
	if seen != partitions || l.Lag.Total() != 0 {
		t.Errorf("kadm lists %d partitions for group %s, total lag %d; want %d partitions, lag 0", seen, group, l.Lag.Total(), partitions)
	}
	t.Logf("group %s: %d partitions, total lag %d after %d records", group, seen, l.Lag.Total(), summary.Records)
}

// kappa-runtime status with no runtime running, on PostgreSQL: after a
// drain into postgres-sink each partition shows its committed position at
// the log end kadm reads, lag 0, and the time postgres-sink committed it.
func TestStatusWithoutARuntimeOnPostgres(t *testing.T) {
	const partitions = 2
	broker := startBroker(t, "twitter", partitions)
	database := postgresDatabase(t)
	env := postgresEnv(broker, database)
	pipelineFile := filepath.Join(repoRoot(), "pipelines", "twitter-postgres.yaml")
	runFirehose(t, broker, "twitter", "--count", "1000", "--seed", "111")
	if res := runRuntime(t, pipelineFile, env, "--drain"); res.err != nil {
		t.Fatalf("drain: %v\n%s", res.err, tail(res.stderr))
	}
	cmd := exec.Command(filepath.Join(bins(t), "kappa-runtime"), "status", pipelineFile)
	cmd.Env = append(os.Environ(), env...)
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("kappa-runtime status: %v\n%s", err, out)
	}
	t.Logf("kappa-runtime status:\n%s", out)
	statusCaughtUp(t, out, logEndsOf(t, broker, "twitter"), partitions)
}

// logEndsOf is each partition's log end as kadm reads it.
func logEndsOf(t *testing.T, broker, topic string) kadm.ListedOffsets {
	t.Helper()
	cl, err := kgo.NewClient(kgo.SeedBrokers(broker))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	ends, err := kadm.NewClient(cl).ListEndOffsets(context.Background(), topic)
	if err != nil {
		t.Fatal(err)
	}
	return ends
}

// statusCaughtUp checks what kappa-runtime status printed: every
// partition committed at its log end, lag 0, with its commit time.
func statusCaughtUp(t *testing.T, out []byte, ends kadm.ListedOffsets, partitions int) {
	t.Helper()
	if !strings.Contains(string(out), fmt.Sprintf("total lag 0 records over %d partitions", partitions)) {
		t.Errorf("kappa-runtime status: want total lag 0 over %d partitions\n%s", partitions, out)
	}
	ends.Each(func(o kadm.ListedOffset) {
		row := regexp.MustCompile(fmt.Sprintf(`(?m)^\s+%d\s+%d\s+%d\s+0\s+20\d\d-\d\d-\d\dT`, o.Partition, o.Offset, o.Offset))
		if !row.Match(out) {
			t.Errorf("kappa-runtime status has no row for partition %d at %d, lag 0, with its commit time:\n%s", o.Partition, o.Offset, out)
		}
	})
}
