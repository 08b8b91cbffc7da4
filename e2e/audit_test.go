package e2e

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// runAudit runs `kappa-runtime audit` and returns its exit code and output.
func runAudit(t *testing.T, pipelineFile string, env []string) (int, string) {
	t.Helper()
	return runSubcommand(t, "audit", pipelineFile, env)
}

// runSubcommand runs `kappa-runtime SUB [args] PIPELINE` (within two
// minutes) and returns its exit code and its output, stdout and stderr
// together.
func runSubcommand(t *testing.T, sub, pipelineFile string, env []string, args ...string) (int, string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, filepath.Join(bins(t), "kappa-runtime"), append(append([]string{sub}, args...), pipelineFile)...)
	cmd.Env = append(os.Environ(), env...)
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	err := cmd.Run()
	if code := exitCode(err); code >= 0 {
		return code, out.String()
	}
	t.Fatalf("kappa-runtime %s: %v\n%s", sub, err, out.String())
	return 0, ""
}

// The audit of a drained pipeline is clean; each gap, overlap and count
// mismatch written into the tables by hand makes it fail, naming it.
func TestAuditCatchesHandWrittenGapOverlapAndMismatch(t *testing.T) {
	broker := startBroker(t, "twitter", 4)
	dbName, db := database(t)
	env := twitterEnv(broker, dbName)
	pipelineFile := filepath.Join(repoRoot(), "pipelines", "twitter.yaml")
	runFirehose(t, broker, "twitter", "--count", "3000", "--seed", "21")
	if res := runRuntime(t, pipelineFile, env, "--drain"); res.err != nil {
		t.Fatalf("drain: %v\n%s", res.err, tail(res.stderr))
	}
	code, out := runAudit(t, pipelineFile, env)
	if code != 0 || !strings.Contains(out, "audit clean") || !strings.Contains(out, "3000") {
		t.Fatalf("audit of a clean drain: exit %d, want 0 and a table totalling 3000 records\n%s", code, out)
	}

	exec := func(q string) {
		t.Helper()
		if _, err := db.Exec(q); err != nil {
			t.Fatalf("%s: %v", q, err)
		}
	}
	for _, c := range []struct {
		name, breakIt, repair, want string
	}{
		{
			name:    "gap",
			breakIt: "UPDATE %[1]s.kappa_offsets SET next_offset = next_offset + 3 WHERE partition_id = 0",
			repair:  "UPDATE %[1]s.kappa_offsets SET next_offset = next_offset - 3 WHERE partition_id = 0",
			want:    "partition 0: gap: committed position",
		},
		{
			name: "overlap",
			breakIt: "INSERT INTO %[1]s.kappa_batches (pipeline, stream, partition_id, start_offset, end_offset, records, facts, skipped, rejected, lost, committed_at)" +
				" VALUES ('twitter', 'twitter', 1, 1, 2, 1, 0, 1, 0, 0, NOW())",
			repair: "DELETE FROM %[1]s.kappa_batches WHERE partition_id = 1 AND start_offset = 1 AND end_offset = 2",
			want:   "partition 1: overlap: committed ranges",
		},
		{
			name:    "count mismatch",
			breakIt: "UPDATE %[1]s.twitter SET count = count + 1 WHERE partition_id = 2 ORDER BY start_offset, timestamp LIMIT 1",
			repair:  "UPDATE %[1]s.twitter SET count = count - 1 WHERE partition_id = 2 ORDER BY start_offset, timestamp LIMIT 1",
			want:    "facts committed but its aggregate rows count",
		},
	} {
		t.Run(c.name, func(t *testing.T) {
			exec(fmt.Sprintf(c.breakIt, dbName))
			code, out := runAudit(t, pipelineFile, env)
			exec(fmt.Sprintf(c.repair, dbName))
			if code != 1 || !strings.Contains(out, c.want) {
				t.Errorf("audit after a hand-written %s: exit %d, want 1 and %q\n%s", c.name, code, c.want, out)
			}
			if code, out := runAudit(t, pipelineFile, env); code != 0 {
				t.Fatalf("audit after repairing the %s: exit %d\n%s", c.name, code, out)
			}
		})
	}
}
