package e2e

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
)

var updateScreenshot = flag.Bool("update", false, "TestStatusPage writes its screenshot to docs/status-page.png")

// pageStatus is the part of /status the status page shows per partition.
type pageStatus struct {
	Partitions []struct {
		Partition     int32 `json:"partition"`
		Committed     int64 `json:"committed"`
		HighWatermark int64 `json:"high_watermark"`
		LagRecords    int64 `json:"lag_records"`
	} `json:"partitions"`
}

type pageWindow struct {
	Window time.Time `json:"window"`
	Count  int64     `json:"count"`
}

func getJSON(t *testing.T, url string, into any) {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatalf("GET %s: %v", url, err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != 200 {
		t.Fatalf("GET %s: %s", url, resp.Status)
	}
	if err := json.NewDecoder(resp.Body).Decode(into); err != nil {
		t.Fatalf("GET %s: %v", url, err)
	}
}

// pageView is what the page drew at its last refresh: the /status and
// /windows it rendered (its data attributes), the partition table's
// committed column as shown, and how many windows the chart drew.
// In a consumer group it also holds the group the header shows (empty
// while hidden) and each row's data-owned mark.
type pageView struct {
	Status    string            `json:"status"`
	Windows   string            `json:"windows"`
	Drawn     int               `json:"drawn"`
	Committed map[string]string `json:"committed"`
	Group     string            `json:"group"`
	Owned     map[string]string `json:"owned"`
}

const pageViewJS = `(() => {
	const committed = {}, owned = {};
	document.querySelectorAll("#partitions tbody tr").forEach((tr) => {
		committed[tr.dataset.partition] = tr.querySelector('[data-field="committed"]').textContent;
		if (tr.dataset.owned !== undefined) owned[tr.dataset.partition] = tr.dataset.owned;
	});
	const group = document.getElementById("group");
	return {status: document.body.dataset.status || "", windows: document.body.dataset.windows || "",
		drawn: Number(document.body.dataset.windowsDrawn || 0), committed, owned,
		group: group.closest("[hidden]") ? "" : group.textContent};
})()`

// readPage reads the page's view and checks that its table shows what it
// fetched, returning the /status and the windows it rendered.
func readPage(t *testing.T, ctx context.Context) (pageView, pageStatus, []pageWindow) {
	t.Helper()
	v, err := chromedp.Run(ctx, chromedp.Evaluate[pageView](pageViewJS))
	if err != nil {
		t.Fatalf("read the status page: %v", err)
	}
	var s pageStatus
	var w []pageWindow
	if v.Status != "" {
		if err := json.Unmarshal([]byte(v.Status), &s); err != nil {
			t.Fatalf("the page's data-status: %v", err)
		}
	}
	if v.Windows != "" {
		if err := json.Unmarshal([]byte(v.Windows), &w); err != nil {
			t.Fatalf("the page's data-windows: %v", err)
		}
	}
	for _, p := range s.Partitions {
		shown := strings.ReplaceAll(v.Committed[strconv.Itoa(int(p.Partition))], ",", "")
		if shown != strconv.FormatInt(p.Committed, 10) {
			t.Fatalf("partition %d: the table shows committed %q, the /status the page fetched says %d", p.Partition, shown, p.Committed)
		}
	}
	return v, s, w
}

// openPage loads base+"/" in a headless chromium that lives until the
// test ends or timeout passes.
func openPage(t *testing.T, base string, timeout time.Duration) context.Context {
	t.Helper()
	browser, err := exec.LookPath("chromium")
	if err != nil {
		t.Fatalf("the status page test drives Debian's chromium, which is not installed: run scripts/services (or apt-get install -y chromium)")
	}
	allocCtx, cancelAlloc := chromedp.NewExecAllocator(context.Background(),
		chromedp.ExecPath(browser), chromedp.Headless, chromedp.NoSandbox, chromedp.DisableGPU, chromedp.NoFirstRun,
		chromedp.NoDefaultBrowserCheck, chromedp.Flag("disable-quic", true), chromedp.Flag("disable-background-networking", true),
		chromedp.Flag("disable-component-update", true), chromedp.Flag("disable-sync", true),
		chromedp.UserDataDir(t.TempDir()), chromedp.WindowSize(1280, 860))
	t.Cleanup(cancelAlloc)
	ctx, cancel := chromedp.NewContext(allocCtx)
	t.Cleanup(cancel)
	ctx, cancelTimeout := context.WithTimeout(ctx, timeout)
	t.Cleanup(cancelTimeout)
	if err := chromedp.Do(ctx, chromedp.Navigate(base+"/")); err != nil {
		t.Fatalf("load %s/ in chromium: %v", base, err)
	}
	return ctx
}

func TestStatusPage(t *testing.T) {
	const partitions = 4
	broker := startBroker(t, "twitter", partitions)
	dbName, _ := database(t)
	addr := freeAddr(t)
	env := twitterEnv(broker, dbName)
	rt := startRuntime(t, shortBatches(t, ""), env, "--http", addr)

	// The firehose produces at a steady rate while the page is watched:
	// 200 tweets a simulated minute (a window) at 400 records/s, so a
	// window is committed every half second or so.
	firehose := make(chan firehoseSummary, 1)
	go func() {
		s, _ := runFirehose(t, broker, "twitter", "--count", "16000", "--rate", "400", "--per-minute", "200", "--seed", "91")
		firehose <- s
	}()

	base := "http://" + addr
	ctx := openPage(t, base, 4*time.Minute)

	// While the firehose runs: the chart has drawn 3 windows and the table
	// lists every partition. The page refreshes once a second, so what it
	// shows may be older than a /status read just before; it must never be
	// ahead of /status, and it must catch up with a /status read earlier.
	var view pageView
	var shown pageStatus
	var drawn []pageWindow
	lastLog := time.Now()
	readChecked := func() {
		view, shown, drawn = readPage(t, ctx)
		var after pageStatus
		getJSON(t, base+"/status", &after)
		for i, p := range shown.Partitions {
			if i < len(after.Partitions) && p.Committed > after.Partitions[i].Committed {
				t.Fatalf("partition %d: the page shows committed %d, more than /status says after it (%d)",
					p.Partition, p.Committed, after.Partitions[i].Committed)
			}
		}
	}
	waitFor(t, 120*time.Second, "the status page to chart 3 windows and list every partition", func() bool {
		if rt.exited() {
			t.Fatalf("runtime exited: %v\n%s", rt.err, tail(rt.stderr.String()))
		}
		readChecked()
		if time.Since(lastLog) > 15*time.Second {
			lastLog = time.Now()
			var w any
			getJSON(t, base+"/windows", &w)
			t.Logf("/windows: %.300v", w)
			t.Logf("the page so far: drawn %d, committed column %v, windows %.200s, status %.300s", view.Drawn, view.Committed, view.Windows, view.Status)
		}
		return view.Drawn >= 3 && len(view.Committed) == partitions && len(shown.Partitions) == partitions
	})
	if view.Group != "" || len(view.Owned) != 0 {
		t.Errorf("outside a consumer group the page shows group %q and owned marks %v, want neither", view.Group, view.Owned)
	}
	var mark pageStatus
	getJSON(t, base+"/status", &mark)
	waitFor(t, 30*time.Second, fmt.Sprintf("the page to catch up with /status %+v", mark.Partitions), func() bool {
		readChecked()
		if len(shown.Partitions) != len(mark.Partitions) {
			return false
		}
		for i, p := range shown.Partitions {
			if p.Partition != mark.Partitions[i].Partition || p.Committed < mark.Partitions[i].Committed {
				return false
			}
		}
		return true
	})
	var later []pageWindow
	getJSON(t, base+"/windows", &struct {
		Windows *[]pageWindow `json:"windows"`
	}{&later})
	counts := map[time.Time]int64{}
	for _, w := range later {
		counts[w.Window] = w.Count
	}
	for _, w := range drawn {
		if c, ok := counts[w.Window]; ok && w.Count > c {
			t.Errorf("window %s: the page charts %d, more than /windows later holds (%d)", w.Window, w.Count, c)
		}
	}
	t.Logf("while running: the page charts %d windows; partitions %+v", view.Drawn, shown.Partitions)

	// Some seconds later, so the records/s chart has a line, the shot.
	time.Sleep(12 * time.Second)
	png, err := chromedp.Run(ctx, chromedp.FullScreenshot(100))
	if err != nil {
		t.Fatalf("screenshot: %v", err)
	}
	shot := filepath.Join(t.TempDir(), "status-page.png")
	if *updateScreenshot {
		shot = filepath.Join(repoRoot(), "docs", "status-page.png")
	}
	if err := os.WriteFile(shot, png, 0o644); err != nil {
		t.Fatal(err)
	}
	t.Logf("screenshot: %s (%d bytes)", shot, len(png))

	// Once the firehose is done and drained, /status and /windows stand
	// still: the page must show exactly what they say.
	summary := <-firehose
	var final pageStatus
	var finalWindows []pageWindow
	waitFor(t, 120*time.Second, fmt.Sprintf("the page to show the drained %d records exactly as /status and /windows", summary.Records), func() bool {
		getJSON(t, base+"/status", &final)
		getJSON(t, base+"/windows", &struct {
			Windows *[]pageWindow `json:"windows"`
		}{&finalWindows})
		var total int64
		for _, p := range final.Partitions {
			if p.LagRecords != 0 {
				return false
			}
			total += p.Committed
		}
		if total != summary.Records {
			return false
		}
		_, shown, drawn = readPage(t, ctx)
		return fmt.Sprint(shown.Partitions) == fmt.Sprint(final.Partitions) && fmt.Sprint(drawn) == fmt.Sprint(finalWindows)
	})
	if len(finalWindows) != 60 {
		t.Errorf("after %d records over ~80 windows, /windows has %d windows, want the last 60", summary.Records, len(finalWindows))
	}
}

// In a consumer group the page shows the group and marks exactly the
// partitions /status says this runtime owns: two members share 4
// partitions, and the page of one of them is read. Then `kappa-runtime
// status`, run beside them, names one owner for this runtime's partitions
// and another for the rest, without joining the group itself.
func TestStatusPageShowsOwnedPartitions(t *testing.T) {
	const partitions = 4
	broker := startBroker(t, "twitter", partitions, groupBrokerFlags...)
	dbName, _ := database(t)
	env := twitterEnv(broker, dbName)
	pipelineFile := groupPipeline(t, "classic")
	addr := freeAddr(t)
	rt := startRuntime(t, pipelineFile, env, "--http", addr)
	other := startRuntime(t, pipelineFile, env)
	produceTweetsTo(t, broker, "twitter", 0, 0, 2)

	base := "http://" + addr
	ctx := openPage(t, base, 90*time.Second)
	type groupStatus struct {
		Group           string  `json:"group"`
		OwnedPartitions []int32 `json:"owned_partitions"`
		Partitions      []struct {
			Partition int32 `json:"partition"`
			Owned     bool  `json:"owned"`
		} `json:"partitions"`
	}
	var view pageView
	var now groupStatus
	waitFor(t, 60*time.Second, "the page to mark the partitions /status says this member owns, the other member owning the rest", func() bool {
		for _, r := range []*backgroundRuntime{rt, other} {
			if r.exited() {
				t.Fatalf("runtime exited: %v\n%s", r.err, tail(r.stderr.String()))
			}
		}
		view, _, _ = readPage(t, ctx)
		getJSON(t, base+"/status", &now)
		if len(now.OwnedPartitions) == 0 || len(now.OwnedPartitions) == partitions || len(now.Partitions) != partitions {
			return false // the other member has not joined yet, or a partition is not listed yet
		}
		want := map[string]string{}
		for _, p := range now.Partitions {
			want[strconv.Itoa(int(p.Partition))] = strconv.FormatBool(slices.Contains(now.OwnedPartitions, p.Partition))
		}
		return view.Group == "kappa-twitter" && fmt.Sprint(view.Owned) == fmt.Sprint(want)
	})
	t.Logf("/status owned_partitions %v; the page marks %v", now.OwnedPartitions, view.Owned)

	// The group's description can lag the members' own view of their
	// assignment for a moment: ask until no partition's owner is "none".
	var out []byte
	var stderr strings.Builder
	waitFor(t, 30*time.Second, "kappa-runtime status to name every partition's owner", func() bool {
		cmd := exec.Command(filepath.Join(bins(t), "kappa-runtime"), "status", pipelineFile)
		cmd.Env = append(os.Environ(), env...)
		stderr.Reset()
		cmd.Stderr = &stderr
		var err error
		if out, err = cmd.Output(); err != nil {
			t.Fatalf("kappa-runtime status: %v\n%s%s", err, out, stderr.String())
		}
		return !regexp.MustCompile(`(?m)\snone\s*$`).Match(out)
	})
	t.Logf("kappa-runtime status:\n%s", out)
	if !strings.HasPrefix(string(out), "pipeline ") || !strings.Contains(strings.SplitN(string(out), "\n", 2)[0], "consumer group kappa-twitter") {
		t.Errorf("the heading does not name the consumer group:\n%s", out)
	}
	row := regexp.MustCompile(`(?m)^\s+(\d+)\s+\S+\s+\d+\s+\d+\s+\S+\s+(\S+@\S+ \S+)\s*$`)
	owners := map[bool]map[string]bool{true: {}, false: {}}
	rows := 0
	for _, m := range row.FindAllStringSubmatch(string(out), -1) {
		p, _ := strconv.Atoi(m[1])
		owners[slices.Contains(now.OwnedPartitions, int32(p))][m[2]] = true
		rows++
	}
	if rows != partitions || len(owners[true]) != 1 || len(owners[false]) != 1 || fmt.Sprint(owners[true]) == fmt.Sprint(owners[false]) {
		t.Errorf("want one owner for this runtime's partitions %v and another for the rest, got %v over %d rows:\n%s",
			now.OwnedPartitions, owners, rows, out)
	}
	if strings.Contains(stderr.String(), "joining consumer group") {
		t.Errorf("kappa-runtime status joined the group:\n%s", stderr.String())
	}
}
