package e2e

import (
	"bufio"
	"bytes"
	"context"
	"database/sql"
	"encoding/csv"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	_ "github.com/go-sql-driver/mysql"

	"github.com/kappa-stream/kappa/internal/binaries"
	"github.com/kappa-stream/kappa/internal/testenv"
)

// The end-to-end tests run the real binaries: the development broker, the
// firehose, kappa-runtime with the three plugins, against the MariaDB of
// testenv.MySQLDSN (KAPPA_TEST_MYSQL_DSN, root on 127.0.0.1:3306 by
// default). They build the binaries once, into a temporary folder.

// testBuildTags compiles in the test-only hooks the suite drives, such as
// mysql-sink's fault hook (KAPPA_TEST_SINK_FAULTS, chaos_test.go); released
// binaries (make build, go install) are built without them.
const testBuildTags = "kappa_faults"

var (
	buildOnce sync.Once
	binDir    string
	buildErr  error
)

func repoRoot() string {
	_, file, _, _ := runtime.Caller(0)
	return filepath.Dir(filepath.Dir(file))
}

func bins(t *testing.T) string {
	t.Helper()
	if testing.Short() {
		t.Skip("end-to-end test: needs MariaDB and builds binaries; skipped with -short")
	}
	buildOnce.Do(func() {
		binDir, buildErr = os.MkdirTemp("", "kappa-e2e-bin-")
		if buildErr != nil {
			return
		}
		// Every binary at once, each named after its folder (see
		// internal/binaries/binaries.txt, the one list of them).
		var pkgs []string
		for _, b := range binaries.All() {
			pkgs = append(pkgs, b.Package)
		}
		args := append([]string{"build", "-tags", testBuildTags, "-o", binDir + string(filepath.Separator)}, pkgs...)
		cmd := exec.Command("go", args...)
		cmd.Dir = repoRoot()
		if out, err := cmd.CombinedOutput(); err != nil {
			buildErr = fmt.Errorf("go %s: %v\n%s", strings.Join(args, " "), err, out)
		}
	})
	if buildErr != nil {
		t.Fatal(buildErr)
	}
	return binDir
}

func TestMain(m *testing.M) {
	code := m.Run()
	if binDir != "" {
		os.RemoveAll(binDir)
	}
	os.Exit(code)
}

// freeAddr returns a loopback address nobody listens on right now.
func freeAddr(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().String()
}

// startBroker runs `kappa-dev broker` until the test ends and waits until
// it accepts connections. extra are further flags of `kappa-dev broker`.
func startBroker(t *testing.T, topic string, partitions int, extra ...string) string {
	t.Helper()
	addr := freeAddr(t)
	cmd := exec.Command(filepath.Join(bins(t), "kappa-dev"), append([]string{"broker", "--addr", addr, "--topic", topic,
		"--partitions", strconv.Itoa(partitions), "--data-dir", t.TempDir()}, extra...)...)
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		cmd.Process.Signal(syscall.SIGTERM)
		cmd.Wait()
	})
	deadline := time.Now().Add(20 * time.Second)
	for time.Now().Before(deadline) {
		if c, err := net.DialTimeout("tcp", addr, 200*time.Millisecond); err == nil {
			c.Close()
			return addr
		}
		time.Sleep(50 * time.Millisecond)
	}
	t.Fatalf("broker did not listen on %s within 20s:\n%s", addr, out.String())
	return ""
}

// firehoseSummary is the JSON line `kappa-dev tweets` prints at the end.
type firehoseSummary struct {
	Seed      uint64 `json:"seed"`
	Tweets    int64  `json:"tweets"`
	Notices   int64  `json:"notices"`
	Malformed int64  `json:"malformed"`
	Late      int64  `json:"late"`
	Records   int64  `json:"records"`
}

func runFirehose(t *testing.T, broker, topic string, args ...string) (firehoseSummary, map[string]int64) {
	t.Helper()
	truth := filepath.Join(t.TempDir(), "truth.csv")
	cmd := exec.Command(filepath.Join(bins(t), "kappa-dev"), append([]string{"tweets", "--brokers", broker, "--topic", topic, "--truth", truth}, args...)...)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("kappa-dev tweets: %v\n%s", err, stderr.String())
	}
	var s firehoseSummary
	lines := strings.Split(strings.TrimSpace(string(out)), "\n")
	if err := json.Unmarshal([]byte(lines[len(lines)-1]), &s); err != nil {
		t.Fatalf("firehose summary %q: %v", out, err)
	}
	return s, readTruth(t, truth)
}

// readTruth reads a truth file of `kappa-dev tweets` (--truth: minute,
// count; --truth-lang: minute, lang, count) into "minute" or
// "minute,lang" → count.
func readTruth(t *testing.T, path string) map[string]int64 {
	t.Helper()
	rows := readCSV(t, path)
	truth := map[string]int64{}
	for _, r := range rows[1:] {
		last := len(r) - 1
		n, err := strconv.ParseInt(r[last], 10, 64)
		if err != nil {
			t.Fatal(err)
		}
		truth[strings.Join(r[:last], ",")] += n
	}
	return truth
}

// readCSV reads the whole CSV file at path, its header first.
func readCSV(t *testing.T, path string) [][]string {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	rows, err := csv.NewReader(f).ReadAll()
	if err != nil {
		t.Fatal(err)
	}
	return rows
}

// database creates a uniquely named database that is dropped when the
// test ends, and returns its name and an open handle on the server.
func database(t *testing.T) (string, *sql.DB) {
	t.Helper()
	db, err := sql.Open("mysql", testenv.MySQLDSN(""))
	if err != nil {
		t.Fatal(err)
	}
	if err := db.Ping(); err != nil {
		t.Fatalf("MariaDB at %s as %s: %v (start it with ./scripts/services, or point %s at another server)",
			testenv.MySQLAddr(), testenv.MySQLUser(), err, testenv.EnvMySQLDSN)
	}
	name := fmt.Sprintf("kappa_e2e_%d", rand.Uint32())
	t.Cleanup(func() {
		db.Exec("DROP DATABASE IF EXISTS " + name)
		db.Close()
	})
	return name, db
}

// runtimeResult is what one kappa-runtime run did.
type runtimeResult struct {
	err    error
	stderr string
	// from the "pipeline stopped" log line
	records, facts, skipped, rejected, rows int64
}

func runRuntime(t *testing.T, pipelineFile string, env []string, args ...string) runtimeResult {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, filepath.Join(bins(t), "kappa-runtime"), append(append([]string{"--log-json"}, args...), pipelineFile)...)
	cmd.Env = append(os.Environ(), env...)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	res := runtimeResult{err: cmd.Run(), stderr: stderr.String()}
	sc := bufio.NewScanner(strings.NewReader(res.stderr))
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		var line struct {
			Msg                                     string
			Records, Facts, Skipped, Rejected, Rows int64
		}
		if json.Unmarshal(sc.Bytes(), &line) == nil && line.Msg == "pipeline stopped" {
			res.records, res.facts, res.skipped, res.rejected, res.rows = line.Records, line.Facts, line.Skipped, line.Rejected, line.Rows
		}
	}
	return res
}

// perMinute runs the original job's query.
func perMinute(t *testing.T, db *sql.DB, database, table string) map[string]int64 {
	t.Helper()
	rows, err := db.Query(fmt.Sprintf("SELECT timestamp, SUM(count) FROM %s.%s GROUP BY timestamp ORDER BY timestamp", database, table))
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	got := map[string]int64{}
	for rows.Next() {
		var ts string
		var n int64
		if err := rows.Scan(&ts, &n); err != nil {
			t.Fatal(err)
		}
		got[ts] = n
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	return got
}

func compareMinutes(t *testing.T, got, want map[string]int64) {
	t.Helper()
	var bad []string
	for m, n := range want {
		if got[m] != n {
			bad = append(bad, fmt.Sprintf("%s: got %d, want %d", m, got[m], n))
		}
	}
	for m, n := range got {
		if _, ok := want[m]; !ok {
			bad = append(bad, fmt.Sprintf("%s: got %d, want none", m, n))
		}
	}
	if len(bad) > 0 {
		if len(bad) > 20 {
			bad = append(bad[:20], fmt.Sprintf("… and %d more", len(bad)-20))
		}
		t.Errorf("%d minutes differ from the ground truth:\n%s", len(bad), strings.Join(bad, "\n"))
	}
}

func sum(m map[string]int64) int64 {
	var n int64
	for _, v := range m {
		n += v
	}
	return n
}
