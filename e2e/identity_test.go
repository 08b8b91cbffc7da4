package e2e

import (
	"context"
	"database/sql"
	"encoding/base64"
	"fmt"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/kappa-stream/kappa/internal/testenv"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"
)

// produceTweetsTo writes n minimal tweets to one partition of topic with
// kcat, their event times the seconds first.. of 2016-06-01 19:36.
func produceTweetsTo(t *testing.T, broker, topic string, partition, first, n int) {
	t.Helper()
	kcat, err := exec.LookPath("kcat")
	if err != nil {
		t.Fatalf("kcat not found (apt-get install -y kcat): %v", err)
	}
	var lines strings.Builder
	for i := first; i < first+n; i++ {
		ts := time.Date(2016, 6, 1, 19, 36, 0, 0, time.UTC).Add(time.Duration(i) * time.Second)
		fmt.Fprintf(&lines, `{"created_at":%q,"id":%d,"timestamp_ms":"%d"}`+"\n", ts.Format("Mon Jan 02 15:04:05 -0700 2006"), i, ts.UnixMilli())
	}
	cmd := exec.Command(kcat, "-b", broker, "-P", "-t", topic, "-p", fmt.Sprint(partition))
	cmd.Stdin = strings.NewReader(lines.String())
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("kcat: %v\n%s", err, out)
	}
}

// drainInBackground runs a drain that must end by itself; one still running
// after two minutes hangs.
func drainInBackground(t *testing.T, pipelineFile string, env []string) (string, error) {
	t.Helper()
	rt := startRuntime(t, pipelineFile, env, "--drain")
	err := rt.wait(t, 2*time.Minute)
	return rt.stderr.String(), err
}

// stoppedFacts is the facts count of the "pipeline stopped" log line.
func stoppedFacts(log string) string {
	i := strings.LastIndex(log, `"msg":"pipeline stopped"`)
	if i < 0 {
		return "none (no pipeline stopped line)"
	}
	rest := log[i:]
	j := strings.Index(rest, `"facts":`)
	if j < 0 {
		return "none"
	}
	rest = rest[j+len(`"facts":`):]
	return rest[:strings.IndexAny(rest, ",}")]
}

// start: latest keeps the end it resolved for every partition, idle ones
// included: a drain of an idle topic ends, and records written to an idle
// partition while the runtime is down are counted by the next run.
func TestStartLatestCountsRecordsWrittenWhileDown(t *testing.T) {
	dir := bins(t)
	broker := startBroker(t, "twitter", 2)
	dbName, db := database(t)
	env := []string{"KAPPA_PLUGIN_PATH=" + dir}
	text := fmt.Sprintf(pipelineTemplate, "kafka-source", broker, testenv.MySQLDSN(dbName))
	latest := writePipeline(t, strings.Replace(text, "topic: twitter\n", "topic: twitter\n    start: latest\n", 1))

	// History that start: latest leaves alone.
	produceTweetsTo(t, broker, "twitter", 0, 0, 10)
	produceTweetsTo(t, broker, "twitter", 1, 0, 10)
	log, err := drainInBackground(t, latest, env)
	if err != nil || stoppedFacts(log) != "0" {
		t.Fatalf("drain from the end of an idle topic: %v, facts %s, want exit 0 having counted nothing\n%s", err, stoppedFacts(log), tail(log))
	}

	// The runtime is down; 5 records arrive in idle partition 1.
	produceTweetsTo(t, broker, "twitter", 1, 10, 5)
	log, err = drainInBackground(t, latest, env)
	if err != nil || stoppedFacts(log) != "5" {
		t.Fatalf("drain after 5 records were written while down: %v, facts %s, want 5\n%s", err, stoppedFacts(log), tail(log))
	}
	if n := committedCount(db, dbName, "twitter"); n != 5 {
		t.Errorf("table counts %d tweets, want the 5 written while the runtime was down", n)
	}
	if code, out := runAudit(t, latest, env); code != 0 || !strings.Contains(out, "audit clean") {
		t.Errorf("audit: exit %d\n%s", code, out)
	}
}

// topicID is the topic's ID as Kafka's tools print it.
func topicID(t *testing.T, admin *kadm.Client, topic string) string {
	t.Helper()
	topics, err := admin.ListTopics(context.Background(), topic)
	if err != nil {
		t.Fatal(err)
	}
	id := topics[topic].ID
	return base64.RawURLEncoding.EncodeToString(id[:])
}

// recreateTopic deletes topic and creates it again with the same name and
// partitions, and returns its new ID.
func recreateTopic(t *testing.T, broker, topic string, partitions int32) string {
	t.Helper()
	cl, err := kgo.NewClient(kgo.SeedBrokers(broker), kgo.MetadataMinAge(100*time.Millisecond))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	admin := kadm.NewClient(cl)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	old := topicID(t, admin, topic)
	if resp, err := admin.DeleteTopics(ctx, topic); err != nil || resp.Error() != nil {
		t.Fatalf("delete topic %s: %v %v", topic, err, resp.Error())
	}
	if resp, err := admin.CreateTopics(ctx, partitions, 1, nil, topic); err != nil || resp.Error() != nil {
		t.Fatalf("create topic %s: %v %v", topic, err, resp.Error())
	}
	var id string
	waitFor(t, 30*time.Second, "the recreated topic's new ID", func() bool {
		id = topicID(t, admin, topic)
		return id != old && id != strings.Repeat("A", 22)
	})
	return id
}

// storedStreamIDs lists the distinct stream IDs of the committed positions.
func storedStreamIDs(t *testing.T, db *sql.DB, dbName string) []string {
	t.Helper()
	rows, err := db.Query(fmt.Sprintf("SELECT DISTINCT stream_id FROM %s.kappa_offsets", dbName))
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	var ids []string
	for rows.Next() {
		var id string
		if err := rows.Scan(&id); err != nil {
			t.Fatal(err)
		}
		ids = append(ids, id)
	}
	return ids
}

// A topic deleted and created again under the same name has a new ID and
// offsets from 0: following the old positions would skip its first
// records (or, draining, read nothing and exit 0). The runtime refuses,
// naming both IDs and what to do, with and without --drain, and counts
// nothing.
func TestRecreatedTopicIsRefused(t *testing.T) {
	dir := bins(t)
	broker := startBroker(t, "twitter", 2)
	dbName, db := database(t)
	env := []string{"KAPPA_PLUGIN_PATH=" + dir}
	pipelineFile := writePipeline(t, fmt.Sprintf(pipelineTemplate, "kafka-source", broker, testenv.MySQLDSN(dbName)))

	produceTweetsTo(t, broker, "twitter", 0, 0, 5)
	produceTweetsTo(t, broker, "twitter", 1, 0, 5)
	if res := runRuntime(t, pipelineFile, env, "--drain"); res.err != nil || res.facts != 10 {
		t.Fatalf("first drain: %v, %d facts\n%s", res.err, res.facts, tail(res.stderr))
	}
	stored := storedStreamIDs(t, db, dbName)
	if len(stored) != 1 || len(stored[0]) != 22 {
		t.Fatalf("positions carry stream IDs %q, want the topic's one ID", stored)
	}

	newID := recreateTopic(t, broker, "twitter", 2)
	// The new topic grows past the old positions.
	produceTweetsTo(t, broker, "twitter", 0, 100, 20)
	produceTweetsTo(t, broker, "twitter", 1, 100, 20)
	for _, args := range [][]string{{"--drain"}, nil} {
		rt := startRuntime(t, pipelineFile, env, args...)
		err := rt.wait(t, 2*time.Minute)
		log := rt.stderr.String()
		if err == nil {
			t.Errorf("run %v on the recreated topic exited 0\n%s", args, tail(log))
			continue
		}
		for _, want := range []string{stored[0], newID, "deleted and created again", "delete this pipeline's positions"} {
			if !strings.Contains(log, want) {
				t.Errorf("run %v: the error does not say %q\n%s", args, want, tail(log))
			}
		}
	}
	if n := committedCount(db, dbName, "twitter"); n != 10 {
		t.Errorf("table counts %d tweets after the refusals, want the first topic's 10", n)
	}
}
