package kafkasource

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kfake"

	"github.com/kappa-stream/kappa/sdk"
)

// groupBroker starts kfake with short group timeouts for both protocols.
func groupBroker(tb testing.TB, partitions int32) string {
	tb.Helper()
	if testing.Short() {
		tb.Skip("integration test: runs an in-process kfake broker; run without -short")
	}
	c, err := kfake.NewCluster(kfake.NumBrokers(1), kfake.SeedTopics(partitions, testTopic),
		kfake.GroupMinSessionTimeout(500*time.Millisecond),
		kfake.BrokerConfigs(map[string]string{
			"group.consumer.session.timeout.ms":    "1500",
			"group.consumer.heartbeat.interval.ms": "200",
		}))
	if err != nil {
		tb.Fatalf("start kfake broker: %v", err)
	}
	tb.Cleanup(c.Close)
	return c.ListenAddrs()[0]
}

// ledger stands in for the sink: positions committed with a compare-and-set
// per partition, all of a batch or nothing, and every record counted.
type ledger struct {
	mu      sync.Mutex
	next    map[int32]int64
	counted map[string]int
	fenced  int
}

func newLedger(partitions int32) *ledger {
	l := &ledger{next: make(map[int32]int64), counted: make(map[string]int)}
	for p := range partitions {
		l.next[p] = 0
	}
	return l
}

func (l *ledger) positions() []sdk.Position {
	l.mu.Lock()
	defer l.mu.Unlock()
	var out []sdk.Position
	for _, p := range slices.Sorted(maps.Keys(l.next)) {
		out = append(out, sdk.Position{Partition: p, NextOffset: l.next[p]})
	}
	return out
}

// commit lands b if every range starts at its partition's position.
func (l *ledger) commit(b sdk.Batch) bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	for _, p := range b.Partitions {
		if l.next[p.Partition] != p.Start {
			l.fenced++
			return false
		}
	}
	for _, p := range b.Partitions {
		l.next[p.Partition] = p.End
		for _, r := range p.Records {
			l.counted[string(r.Value)]++
		}
	}
	return true
}

// member drives one group source as the engine does: seek at the ledger's
// positions, poll, commit; a rebalance or a fenced batch re-reads and seeks.
type member struct {
	src *Source
	// paused, when closed... stalls the member: it stops calling.
	mu      sync.Mutex
	owned   []int32
	commits int
	pause   chan chan struct{}
}

// memberStarter returns a function that opens a group member with cfg and
// runs it on a goroutine of its own, counting into l. Every member stops
// when the test ends, before any source closes.
func memberStarter(t *testing.T, brokers, cfg string, l *ledger) func() *member {
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	return func() *member {
		m := &member{src: openSource(t, brokers, cfg), pause: make(chan chan struct{}, 1)}
		// Registered after the source's own cleanup, so it runs first.
		t.Cleanup(func() { cancel(); wg.Wait() })
		wg.Add(1)
		go func() { defer wg.Done(); m.run(ctx, t, l) }()
		return m
	}
}

func (m *member) run(ctx context.Context, tb testing.TB, l *ledger) {
	seek := func() bool {
		if err := m.src.Seek(ctx, l.positions()); err != nil {
			if ctx.Err() == nil {
				tb.Errorf("seek: %v", err)
			}
			return false
		}
		return true
	}
	if !seek() {
		return
	}
	for ctx.Err() == nil {
		select {
		case resume := <-m.pause:
			select {
			case <-resume:
			case <-ctx.Done():
				return
			}
		default:
		}
		b, err := m.src.Poll(ctx, sdk.Limits{MaxRecords: 50, MaxWait: 50 * time.Millisecond})
		var rb *sdk.RebalanceError
		switch {
		case errors.As(err, &rb):
			m.mu.Lock()
			m.owned = rb.Owned
			m.mu.Unlock()
			if !seek() {
				return
			}
			continue
		case err != nil:
			if ctx.Err() == nil {
				tb.Errorf("poll: %v", err)
			}
			return
		}
		if len(b.Partitions) == 0 {
			continue
		}
		if !l.commit(b) {
			if !seek() {
				return
			}
			continue
		}
		m.mu.Lock()
		m.commits++
		m.mu.Unlock()
	}
}

func (m *member) state() ([]int32, int) {
	m.mu.Lock()
	defer m.mu.Unlock()
	return slices.Clone(m.owned), m.commits
}

func waitUntil(tb testing.TB, what string, cond func() bool) {
	tb.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			tb.Fatalf("timed out waiting until %s", what)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// Members of one group share the partitions, start each at the ledger's
// position (never the group's offsets), hand partitions over when one
// joins, leaves or stalls, and together count every record exactly once.
func TestGroupMembersShareTopicExactly(t *testing.T) {
	for _, protocol := range []string{GroupClassic, GroupConsumer} {
		t.Run(protocol, func(t *testing.T) {
			const partitions = 4
			brokers := groupBroker(t, partitions)
			prod := newProducer(t, brokers)
			produce(t, prod, numbered(partitions, 0, 20)...)

			l := newLedger(partitions)
			l.next[1] = 5 // a committed position: records p1-0..4 were counted before
			for i := range 5 {
				l.counted[fmt.Sprintf("p1-%d", i)] = 1
			}
			cfg := fmt.Sprintf("group: g1\ngroup_protocol: %s\nsession_timeout: 1500ms\nheartbeat_interval: 200ms\nrebalance_timeout: 5s\nstall_timeout: 1500ms\n", protocol)
			start := memberStarter(t, brokers, cfg, l)

			a := start()
			waitUntil(t, "one member owns every partition", func() bool { o, _ := a.state(); return len(o) == partitions })
			b := start()
			waitUntil(t, "two members split the partitions", func() bool {
				oa, _ := a.state()
				ob, _ := b.state()
				return len(oa) > 0 && len(ob) > 0 && len(oa)+len(ob) == partitions
			})
			produce(t, prod, numbered(partitions, 20, 20)...)
			_, before := b.state()
			waitUntil(t, "the second member commits", func() bool { _, n := b.state(); return n > before })

			// a stalls: it stops calling, leaves, and b takes everything.
			resume := make(chan struct{})
			a.pause <- resume
			waitUntil(t, "the stalled member's partitions move", func() bool { o, _ := b.state(); return len(o) == partitions })
			produce(t, prod, numbered(partitions, 40, 20)...)
			close(resume)
			waitUntil(t, "the stalled member rejoins and gets partitions", func() bool {
				oa, _ := a.state()
				ob, _ := b.state()
				return len(oa) > 0 && len(oa)+len(ob) == partitions
			})
			produce(t, prod, numbered(partitions, 60, 20)...)
			waitUntil(t, "every record is committed", func() bool {
				l.mu.Lock()
				defer l.mu.Unlock()
				for p := range int32(partitions) {
					if l.next[p] != 80 {
						return false
					}
				}
				return true
			})
			l.mu.Lock()
			defer l.mu.Unlock()
			if len(l.counted) != partitions*80 {
				t.Errorf("%d distinct records counted, want %d", len(l.counted), partitions*80)
			}
			for v, n := range l.counted {
				if n != 1 {
					t.Errorf("record %s counted %d times", v, n)
				}
			}
		})
	}
}

// pollNotice polls src until it reports a rebalance, failing after 30s.
func pollNotice(tb testing.TB, src *Source) *sdk.RebalanceError {
	tb.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for time.Now().Before(deadline) {
		_, err := src.Poll(context.Background(), sdk.Limits{MaxRecords: 50, MaxWait: 50 * time.Millisecond})
		var rb *sdk.RebalanceError
		if errors.As(err, &rb) {
			return rb
		}
		if err != nil {
			tb.Fatalf("poll: %v", err)
		}
	}
	tb.Fatal("no rebalance reported within 30s")
	return nil
}

// Revoked partitions stay with their member until the runtime's next Seek
// says it holds nothing of them uncommitted: only then may another member
// be given them.
func TestRevokedPartitionsWaitForTheRuntime(t *testing.T) {
	for _, protocol := range []string{GroupClassic, GroupConsumer} {
		t.Run(protocol, func(t *testing.T) {
			const partitions = 4
			brokers := groupBroker(t, partitions)
			cfg := fmt.Sprintf("group: g2\ngroup_protocol: %s\nsession_timeout: 1500ms\nheartbeat_interval: 200ms\nrebalance_timeout: 20s\n", protocol)
			l := newLedger(partitions)

			a := openSource(t, brokers, cfg)
			if err := a.Seek(context.Background(), l.positions()); err != nil {
				t.Fatal(err)
			}
			if rb := pollNotice(t, a); len(rb.Owned) != partitions {
				t.Fatalf("first member owns %v, want every partition", rb.Owned)
			}
			if err := a.Seek(context.Background(), l.positions()); err != nil {
				t.Fatal(err)
			}

			b := openSource(t, brokers, cfg)
			if err := b.Seek(context.Background(), l.positions()); err != nil {
				t.Fatal(err)
			}
			revoked := pollNotice(t, a).Revoked
			if len(revoked) == 0 {
				t.Fatalf("a second member joined and the first lost nothing")
			}
			// a has not sought yet: b must not be given what a gives up.
			held := time.Now().Add(3 * time.Second)
			for time.Now().Before(held) {
				if _, err := b.Poll(context.Background(), sdk.Limits{MaxRecords: 50, MaxWait: 50 * time.Millisecond}); err != nil {
					var rb *sdk.RebalanceError
					if errors.As(err, &rb) && len(rb.Assigned) > 0 {
						t.Fatalf("partitions %v assigned to the second member before the first let %v go", rb.Assigned, revoked)
					}
				}
			}
			if err := a.Seek(context.Background(), l.positions()); err != nil {
				t.Fatal(err)
			}
			if rb := pollNotice(t, b); !slices.Equal(rb.Assigned, revoked) {
				t.Errorf("second member assigned %v, want the revoked %v", rb.Assigned, revoked)
			}
		})
	}
}
