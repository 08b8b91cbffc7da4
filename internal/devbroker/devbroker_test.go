package devbroker

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"syscall"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"
)

func TestRestartKeepsRecords(t *testing.T) {
	if testing.Short() {
		t.Skip("integration test: runs an embedded kfake broker")
	}
	const topic, partitions, n = "twitter", 4, 500
	dir := t.TempDir()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()

	b, err := Start(Config{Addr: "127.0.0.1:0", Topic: topic, Partitions: partitions, DataDir: dir})
	if err != nil {
		t.Fatal(err)
	}
	if b.DataDir() != dir {
		t.Fatalf("data dir %q, want %q", b.DataDir(), dir)
	}
	if got := b.Partitions(topic); got != partitions {
		t.Fatalf("topic has %d partitions, want %d", got, partitions)
	}
	producer, err := kgo.NewClient(kgo.SeedBrokers(b.Addr()), kgo.DefaultProduceTopic(topic))
	if err != nil {
		t.Fatal(err)
	}
	for i := range n {
		producer.Produce(ctx, &kgo.Record{Value: fmt.Appendf(nil, "record %d", i)}, nil)
	}
	if err := producer.ProduceSync(ctx, &kgo.Record{Value: []byte("last")}).FirstErr(); err != nil {
		t.Fatal(err)
	}
	producer.Close()
	if err := b.Close(); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(dir); err != nil {
		t.Fatalf("explicit data dir gone after Close: %v", err)
	}

	// Same directory, a new port: the topic and its records are back, with
	// the partitions it was created with rather than the ones asked now.
	b, err = Start(Config{Addr: "127.0.0.1:0", Topic: topic, Partitions: 2 * partitions, DataDir: dir})
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	if got := b.Partitions(topic); got != partitions {
		t.Fatalf("topic has %d partitions after restart, want %d", got, partitions)
	}
	consumer, err := kgo.NewClient(
		kgo.SeedBrokers(b.Addr()),
		kgo.ConsumeTopics(topic),
		kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()),
	)
	if err != nil {
		t.Fatal(err)
	}
	defer consumer.Close()
	seen := map[string]bool{}
	for len(seen) < n+1 {
		fetches := consumer.PollFetches(ctx)
		if ctx.Err() != nil {
			t.Fatalf("read back %d of %d records after restart", len(seen), n+1)
		}
		fetches.EachError(func(topic string, p int32, err error) { t.Fatalf("fetch %s/%d: %v", topic, p, err) })
		fetches.EachRecord(func(r *kgo.Record) {
			if seen[string(r.Value)] {
				t.Fatalf("record %q read twice", r.Value)
			}
			seen[string(r.Value)] = true
		})
	}
	for i := range n {
		if !seen[fmt.Sprintf("record %d", i)] {
			t.Fatalf("record %d lost across the restart", i)
		}
	}
}

func TestTemporaryDataDirRemoved(t *testing.T) {
	if testing.Short() {
		t.Skip("integration test: runs an embedded kfake broker")
	}
	b, err := Start(Config{Addr: "127.0.0.1:0", Topic: "twitter", Partitions: 1})
	if err != nil {
		t.Fatal(err)
	}
	dir := b.DataDir()
	if _, err := os.Stat(dir); err != nil {
		t.Fatalf("temporary data dir missing while serving: %v", err)
	}
	if err := b.Close(); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(dir); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("temporary data dir %s still there after Close (err %v)", dir, err)
	}
}

func TestAddressInUse(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	addr := ln.Addr().String()
	_, err = Start(Config{Addr: addr, Topic: "twitter", Partitions: 1, DataDir: t.TempDir()})
	if !errors.Is(err, syscall.EADDRINUSE) {
		t.Fatalf("err = %v, want EADDRINUSE", err)
	}
}

func TestConfigValidation(t *testing.T) {
	for _, cfg := range []Config{
		{Addr: "", Topic: "t", Partitions: 1},
		{Addr: "127.0.0.1:0", Topic: "", Partitions: 1},
		{Addr: "127.0.0.1:0", Topic: "t", Partitions: 0},
		{Addr: "127.0.0.1:0", Topic: "t", Partitions: 1, MaxMessageBytes: -1},
		{Addr: "127.0.0.1:0", Topic: "t", Partitions: 1, GroupMinSessionTimeout: -time.Second},
	} {
		if _, err := Start(cfg); !errors.Is(err, ErrInvalidConfig) {
			t.Errorf("Start(%+v) = %v, want ErrInvalidConfig", cfg, err)
		}
	}
}

// A lowered minimum session timeout lets a consumer-group member ask for
// one below kfake's 6 s default, as the group tests do.
func TestGroupMinSessionTimeout(t *testing.T) {
	if testing.Short() {
		t.Skip("integration test: runs an embedded kfake broker")
	}
	b, err := Start(Config{Addr: "127.0.0.1:0", Topic: "twitter", Partitions: 2, GroupMinSessionTimeout: 500 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	producer, err := kgo.NewClient(kgo.SeedBrokers(b.Addr()), kgo.DefaultProduceTopic("twitter"))
	if err != nil {
		t.Fatal(err)
	}
	defer producer.Close()
	if err := producer.ProduceSync(ctx, &kgo.Record{Value: []byte("x")}).FirstErr(); err != nil {
		t.Fatal(err)
	}
	member, err := kgo.NewClient(kgo.SeedBrokers(b.Addr()), kgo.ConsumerGroup("g"), kgo.ConsumeTopics("twitter"),
		kgo.SessionTimeout(time.Second), kgo.HeartbeatInterval(200*time.Millisecond),
		kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()))
	if err != nil {
		t.Fatal(err)
	}
	defer member.Close()
	for {
		fetches := member.PollFetches(ctx)
		if ctx.Err() != nil {
			t.Fatalf("no record within 20s: the member could not join with a 1s session timeout (%v)", fetches.Errors())
		}
		if fetches.NumRecords() > 0 {
			return
		}
		for _, e := range fetches.Errors() {
			t.Fatalf("poll: %v", e.Err)
		}
	}
}
