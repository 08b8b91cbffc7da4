package kafkasource

import (
	"fmt"
	"strings"
	"testing"
)

// A source opened on the group's config but never sought (as `kappa-runtime
// status` opens it) is no member: its Watermarks name, for each partition,
// the member that owns it, read from the group coordinator, on both
// protocols.
func TestWatermarksNameTheGroupOwners(t *testing.T) {
	for _, protocol := range []string{GroupClassic, GroupConsumer} {
		t.Run(protocol, func(t *testing.T) {
			const partitions = 4
			brokers := groupBroker(t, partitions)
			produce(t, newProducer(t, brokers), numbered(partitions, 0, 5)...)
			l := newLedger(partitions)
			cfg := fmt.Sprintf("group: g1\ngroup_protocol: %s\nsession_timeout: 1500ms\nheartbeat_interval: 200ms\nrebalance_timeout: 5s\n", protocol)
			start := memberStarter(t, brokers, cfg, l)
			a, b := start(), start()
			waitUntil(t, "two members split the partitions", func() bool {
				oa, _ := a.state()
				ob, _ := b.state()
				return len(oa) > 0 && len(ob) > 0 && len(oa)+len(ob) == partitions
			})
			idA, _ := a.src.reader.GroupMetadata()
			idB, _ := b.src.reader.GroupMetadata()

			onlooker := openSource(t, brokers, cfg)
			var got map[int32]string
			var last string
			defer func() {
				if t.Failed() {
					t.Logf("last: %s", last)
				}
			}()
			waitUntil(t, "the onlooker names each partition's owner", func() bool {
				marks, err := onlooker.Watermarks(t.Context())
				if err != nil {
					t.Fatalf("watermarks: %v", err)
				}
				oa, _ := a.state()
				got = map[int32]string{}
				for _, w := range marks {
					got[w.Partition] = w.Owner
				}
				for p := range int32(partitions) {
					id := idB
					for _, q := range oa {
						if q == p {
							id = idA
						}
					}
					if !strings.HasPrefix(got[p], "kappa@") || !strings.HasSuffix(got[p], " "+id) {
						last = fmt.Sprintf("partition %d: owner %q, want member %s", p, got[p], id)
						return false
					}
				}
				return true
			})
			t.Logf("owners %v", got)
			if onlooker.group != nil {
				t.Fatalf("asking for the owners made the onlooker a member")
			}
		})
	}
}
