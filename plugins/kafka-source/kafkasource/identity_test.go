package kafkasource

import (
	"context"
	"errors"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/kappa-stream/kappa/sdk"
)

// With start: latest, the first batch after Seek reports every partition
// without a position as an anchor at its log end, idle ones included. Kept
// as positions (what the runtime does), the anchors make a later run read
// the records written in between; re-resolving latest would skip them.
func TestStartLatestAnchorsIdlePartitions(t *testing.T) {
	_, brokers := newBroker(t, 2)
	producer := newProducer(t, brokers)
	produce(t, producer, numbered(2, 0, 10)...)

	src := openSource(t, brokers, "start: latest\n")
	if err := src.Seek(context.Background(), nil); err != nil {
		t.Fatal(err)
	}
	r := newReader(t, src, quick)
	r.poll()
	for p := range int32(2) {
		if at, ok := r.anchors[p]; !ok || at != 10 {
			t.Fatalf("partition %d: first batch anchors it at %d (reported: %v), want an empty range at its end 10; anchors %v",
				p, at, ok, r.anchors)
		}
	}

	// The runtime is down; 5 records arrive in the idle partition 1.
	var idle []*kgo.Record
	for _, rec := range numbered(2, 10, 5) {
		if rec.Partition == 1 {
			idle = append(idle, rec)
		}
	}
	produce(t, producer, idle...)
	again := openSource(t, brokers, "start: latest\n")
	var positions []sdk.Position
	for p, at := range r.anchors {
		positions = append(positions, sdk.Position{Partition: p, NextOffset: at})
	}
	if err := again.Seek(context.Background(), positions); err != nil {
		t.Fatal(err)
	}
	r2 := newReader(t, again, quick)
	r2.readUntil(5, 10*time.Second)
	r2.expectNoMore()
	if got, want := r2.values(1), wantValues(1, 10, 15); !slices.Equal(got, want) {
		t.Errorf("partition 1 after the restart: values %q, want %q", got, want)
	}
	if len(r2.anchors) != 0 {
		t.Errorf("partitions with positions were anchored again: %v", r2.anchors)
	}
}

// With start: earliest, the anchor is the log start as listed at Seek, not
// the first record read: records deleted by retention before the first
// read are then noticed (on_out_of_range) rather than skipped.
func TestStartEarliestAnchorsAtTheLogStart(t *testing.T) {
	_, brokers := newBroker(t, 3)
	producer := newProducer(t, brokers)
	produce(t, producer, numbered(2, 0, 10)...) // partition 2 stays empty
	var upTo kadm.Offsets
	upTo.Add(kadm.Offset{Topic: testTopic, Partition: 0, At: 4})
	if _, err := kadm.NewClient(producer).DeleteRecords(context.Background(), upTo); err != nil {
		t.Fatalf("delete records: %v", err)
	}

	src := openSource(t, brokers, "")
	if err := src.Seek(context.Background(), nil); err != nil {
		t.Fatal(err)
	}
	r := newReader(t, src, sdk.Limits{MaxRecords: 1, MaxBytes: 1 << 20, MaxWait: 200 * time.Millisecond})
	r.poll()
	for p, want := range map[int32]int64{0: 4, 1: 0, 2: 0} {
		start, ok := r.starts[p]
		if !ok || start != want {
			t.Errorf("partition %d: first batch starts it at %d (reported: %v), want %d", p, start, ok, want)
		}
	}
	if at, ok := r.anchors[2]; !ok || at != 0 {
		t.Errorf("empty partition 2: anchors %v, want an empty range at 0", r.anchors)
	}
}

// The source reports the topic's ID, in the form Kafka's tools print, and
// refuses positions committed for another instance of the topic: after a
// delete and create under the same name, at Seek, whether the source
// opened before or after the topic was recreated.
func TestTopicIDIsReportedAndARecreatedTopicRefused(t *testing.T) {
	cluster, brokers := newBroker(t, 2)
	admin := kadm.NewClient(newProducer(t, brokers))
	describe := func() string {
		t.Helper()
		topics, err := admin.ListTopics(context.Background(), testTopic)
		if err != nil {
			t.Fatal(err)
		}
		return formatTopicID(topics[testTopic].ID)
	}

	first := New()
	info, err := first.Open(context.Background(), sdk.Setup{Pipeline: "test", Config: []byte("brokers: " + brokers + "\ntopic: " + testTopic + "\n")})
	if err != nil {
		t.Fatal(err)
	}
	defer first.Close(context.Background())
	if info.StreamID == "" || info.StreamID != describe() || len(info.StreamID) != 22 {
		t.Fatalf("stream ID %q, want the topic's ID %q in Kafka's 22-character form", info.StreamID, describe())
	}
	positions := []sdk.Position{{Partition: 0, NextOffset: 0, StreamID: info.StreamID}}
	if err := first.Seek(context.Background(), positions); err != nil {
		t.Fatalf("seek with positions of this topic: %v", err)
	}

	if err := cluster.DeleteTopic(testTopic); err != nil {
		t.Fatal(err)
	}
	if err := cluster.CreateTopic(testTopic, 2, nil); err != nil {
		t.Fatal(err)
	}
	// Clients cache metadata for up to a second (metadataMinAge).
	recreated := describe()
	for deadline := time.Now().Add(10 * time.Second); recreated == info.StreamID && time.Now().Before(deadline); {
		time.Sleep(100 * time.Millisecond)
		recreated = describe()
	}
	if recreated == "" || recreated == info.StreamID {
		t.Fatalf("recreated topic has ID %q, the old one had %q", recreated, info.StreamID)
	}
	time.Sleep(metadataMinAge) // the sources' own caches

	second := openSource(t, brokers, "")
	for name, src := range map[string]*Source{"opened before": first, "opened after": second} {
		err := src.Seek(context.Background(), positions)
		var recreatedErr *TopicRecreatedError
		if !errors.As(err, &recreatedErr) || !errors.Is(err, sdk.ErrPermanent) {
			t.Errorf("%s the topic was recreated: seek returned %v, want a permanent TopicRecreatedError", name, err)
			continue
		}
		if msg := err.Error(); !strings.Contains(msg, info.StreamID) || !strings.Contains(msg, recreated) {
			t.Errorf("%s: the error does not name both topic IDs: %v", name, err)
		}
	}
	// Without positions of the old topic the new one is read as any topic.
	if err := second.Seek(context.Background(), nil); err != nil {
		t.Errorf("seek without positions: %v", err)
	}
}
