package main

import (
	"bufio"
	"context"
	"encoding/csv"
	"encoding/json"
	"errors"
	"io"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

// TestBrokerThenTweets runs both subcommands as the end-to-end checks do:
// a broker on a free port, then a preload into it.
func TestBrokerThenTweets(t *testing.T) {
	if testing.Short() {
		t.Skip("integration test: runs an embedded kfake broker")
	}
	ctx, stopBroker := context.WithCancel(context.Background())
	defer stopBroker()
	out, stdout := io.Pipe()
	brokerDone := make(chan error, 1)
	go func() {
		brokerDone <- runBroker(ctx, []string{"--addr", "127.0.0.1:0", "--topic", "twitter", "--partitions", "8"}, stdout)
		stdout.Close()
	}()
	line, err := bufio.NewReader(out).ReadString('\n')
	if err != nil {
		t.Fatalf("broker printed no line: %v (run error: %v)", err, <-brokerDone)
	}
	addr, err := parseListeningLine(line)
	if err != nil {
		t.Fatalf("unexpected broker line %q: %v", line, err)
	}
	go io.Copy(io.Discard, out)

	dir := t.TempDir()
	truthPath, langPath := filepath.Join(dir, "truth.csv"), filepath.Join(dir, "lang.csv")
	var summary strings.Builder
	err = runTweets(context.Background(), []string{
		"--brokers", addr, "--topic", "twitter", "--count", "3000", "--seed", "5",
		"--start", "2016-06-01T19:36:00Z", "--truth", truthPath, "--truth-lang", langPath,
	}, &summary)
	if err != nil {
		t.Fatalf("tweets: %v", err)
	}
	var got struct {
		Seed                                      uint64
		Tweets, Notices, Malformed, Late, Records int
		Minutes                                   int
		Seconds                                   float64
		Bytes                                     int64
	}
	if err := json.Unmarshal([]byte(summary.String()), &got); err != nil {
		t.Fatalf("summary %q: %v", summary.String(), err)
	}
	var keys map[string]json.RawMessage
	if err := json.Unmarshal([]byte(summary.String()), &keys); err != nil {
		t.Fatal(err)
	}
	for _, k := range []string{"seed", "tweets", "notices", "malformed", "late", "records", "minutes", "seconds", "bytes"} {
		if _, ok := keys[k]; !ok {
			t.Errorf("summary lacks %q: %s", k, summary.String())
		}
	}
	if len(keys) != 9 || strings.Count(summary.String(), "\n") != 1 {
		t.Errorf("summary is not exactly one line of the nine contract keys: %q", summary.String())
	}
	if got.Seed != 5 || got.Tweets != 3000 || got.Notices != 60 || got.Malformed != 15 ||
		got.Records != 3075 || got.Late == 0 || got.Bytes < 3000*2000 {
		t.Fatalf("summary %+v", got)
	}
	if total, rows := sumCSV(t, truthPath, []string{"minute", "count"}); total != 3000 || rows != got.Minutes {
		t.Fatalf("truth sums to %d over %d rows, want 3000 over %d", total, rows, got.Minutes)
	}
	if total, _ := sumCSV(t, langPath, []string{"minute", "lang", "count"}); total != 3000 {
		t.Fatalf("language truth sums to %d, want 3000", total)
	}

	stopBroker()
	select {
	case err := <-brokerDone:
		if err != nil {
			t.Fatalf("broker exit: %v", err)
		}
	case <-time.After(30 * time.Second):
		t.Fatal("broker did not stop after its context ended")
	}
}

// parseListeningLine returns the address of the line the broker prints
// once it listens.
func parseListeningLine(line string) (string, error) {
	rest, ok := strings.CutPrefix(line, "broker listening on ")
	if !ok || !strings.Contains(rest, " (topic twitter, 8 partitions, data dir ") {
		return "", errors.New("does not match the contract")
	}
	addr, _, _ := strings.Cut(rest, " ")
	return addr, nil
}

func sumCSV(t *testing.T, path string, header []string) (total int64, rows int) {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	records, err := csv.NewReader(f).ReadAll()
	if err != nil {
		t.Fatal(err)
	}
	if strings.Join(records[0], ",") != strings.Join(header, ",") {
		t.Fatalf("%s header %v, want %v", path, records[0], header)
	}
	for _, r := range records[1:] {
		if _, err := time.Parse("2006-01-02 15:04:05", r[0]); err != nil || !strings.HasSuffix(r[0], ":00") {
			t.Fatalf("%s: minute %q is not a DATETIME minute", path, r[0])
		}
		n, err := strconv.ParseInt(r[len(r)-1], 10, 64)
		if err != nil {
			t.Fatal(err)
		}
		total += n
	}
	return total, len(records) - 1
}

func TestTweetsUnreachableBroker(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close() // nothing listens there now

	start := time.Now()
	err = runTweets(context.Background(), []string{
		"--brokers", addr, "--count", "10", "--truth", filepath.Join(t.TempDir(), "truth.csv"),
	}, io.Discard)
	if err == nil || !strings.Contains(err.Error(), addr) {
		t.Fatalf("err = %v, want an error naming %s", err, addr)
	}
	if !errors.Is(err, syscall.ECONNREFUSED) {
		t.Errorf("err = %v, want it to wrap ECONNREFUSED", err)
	}
	if took := time.Since(start); took > 15*time.Second {
		t.Fatalf("took %v to notice the broker is unreachable", took)
	}
}

func TestBrokerAddressTaken(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	addr := ln.Addr().String()
	err = runBroker(context.Background(), []string{"--addr", addr, "--data-dir", t.TempDir()}, io.Discard)
	if !errors.Is(err, syscall.EADDRINUSE) || !strings.Contains(err.Error(), addr) {
		t.Fatalf("err = %v, want EADDRINUSE naming %s", err, addr)
	}
}
