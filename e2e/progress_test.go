package e2e

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// A drain on a terminal shows its progress bar (records/s, lag left, ETA)
// and leaves the per-batch lines out; util-linux's script(1) gives the
// runtime a pseudo-terminal as stderr. TestLogJSONEveryLineNamesThePipeline
// checks the other half: no bar when stderr is not a terminal.
func TestDrainOnATerminalShowsProgress(t *testing.T) {
	script, err := exec.LookPath("script")
	if err != nil {
		t.Skip("script(1) from util-linux is not installed")
	}
	broker := startBroker(t, "twitter", 2)
	dbName, _ := database(t)
	runFirehose(t, broker, "twitter", "--count", "3000", "--seed", "17")
	command := shellQuote(filepath.Join(bins(t), "kappa-runtime")) + " --drain " +
		shellQuote(filepath.Join(repoRoot(), "pipelines", "twitter.yaml"))
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	// -q quiet, -e the command's exit status, -f flush as written, -c the command.
	cmd := exec.CommandContext(ctx, script, "-qefc", command, "/dev/null")
	cmd.Env = append(os.Environ(), twitterEnv(broker, dbName)...)
	out, err := cmd.CombinedOutput()
	terminal := string(out)
	if err != nil {
		t.Fatalf("drain on a terminal: %v\n%s", err, tail(terminal))
	}
	for _, want := range []string{"100% |", "█", "records/s", "lag 0", "ETA 0s"} {
		if !strings.Contains(terminal, want) {
			t.Errorf("the terminal shows no %q of a progress bar:\n%s", want, tail(terminal))
		}
	}
	if strings.Contains(terminal, "batch committed") {
		t.Errorf("per-batch lines beside the bar:\n%s", tail(terminal))
	}
	if !strings.Contains(terminal, "pipeline stopped") {
		t.Errorf("the run's last line is missing from the terminal:\n%s", tail(terminal))
	}
}

// shellQuote quotes s for sh -c.
func shellQuote(s string) string { return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'" }
