package kafkasource

import (
	"context"
	"fmt"
	"strings"
)

// groupOwners reads from the group coordinator which member of the
// source's consumer group owns each partition of the topic, as
// "CLIENT_ID@HOST MEMBER_ID". A partition no member owns is absent. It is
// asked only by a source that is no member itself (`kappa-runtime status`):
// a member knows its share from its rebalances.
func (s *Source) groupOwners(ctx context.Context) (map[int32]string, error) {
	owners := map[int32]string{}
	describe := func(clientID, host, member, topic string, partitions []int32) {
		// The group's members subscribe to this topic only; a broker may
		// leave the name out of a KIP-848 describe (kfake sends the topic
		// ID alone, which kadm drops), so an unnamed topic is this one.
		if topic != s.cfg.Topic && topic != "" {
			return
		}
		for _, p := range partitions {
			owners[p] = fmt.Sprintf("%s@%s %s", clientID, strings.TrimPrefix(host, "/"), member)
		}
	}
	if s.cfg.GroupProtocol == GroupConsumer {
		groups, err := s.admin.DescribeConsumerGroups(ctx, s.cfg.Group)
		if err == nil {
			err = groups.Error()
		}
		if err != nil {
			return nil, fmt.Errorf("describe consumer group %s: %w", s.cfg.Group, err)
		}
		for _, m := range groups[s.cfg.Group].Members {
			m.Assignment.EachPartitions(func(topic string, ps []int32) { describe(m.ClientID, m.ClientHost, m.MemberID, topic, ps) })
		}
		return owners, nil
	}
	groups, err := s.admin.DescribeGroups(ctx, s.cfg.Group)
	if err == nil {
		err = groups.Error()
	}
	if err != nil {
		return nil, fmt.Errorf("describe consumer group %s: %w", s.cfg.Group, err)
	}
	for _, m := range groups[s.cfg.Group].Members {
		a, ok := m.Assigned.AsConsumer()
		if !ok {
			continue
		}
		for _, t := range a.Topics {
			describe(m.ClientID, m.ClientHost, m.MemberID, t.Topic, t.Partitions)
		}
	}
	return owners, nil
}
