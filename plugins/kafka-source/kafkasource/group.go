package kafkasource

import (
	"context"
	"fmt"
	"maps"
	"slices"
	"sync"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/kappa-stream/kappa/sdk"
)

// Consumer-group membership (Config.Group). Kafka's group coordinator only
// decides which runtime reads which partitions; where a partition is read
// from is always the sink's committed position, handed over by Seek:
//
//   - Assignment: kgo fetches the group's offsets for newly assigned
//     partitions and calls AdjustFetchOffsetsFn before it fetches records.
//     The source replaces those offsets: it reports the assignment from
//     Poll (a sdk.RebalanceError), and the callback waits for the Seek that
//     follows, which carries the runtime's positions. The group's own
//     offsets are never used; none are ever committed.
//   - Revocation (cooperative): OnPartitionsRevoked reports the partitions
//     from Poll and waits, up to three quarters of rebalance_timeout, for
//     the runtime's next Seek. The runtime calls Seek only after its commit
//     in flight ended and every batch polled but not committed was dropped,
//     so once the partitions leave no commit of this runtime carries them.
//   - Loss (a session that expired): reported the same way, without
//     waiting; another member may own them already, and the sink's fence
//     decides whichever commit lands second.
//   - Stall: when the runtime has not called the source for stall_timeout,
//     the source leaves the group (its heartbeats would otherwise keep
//     partitions nobody works on) and joins again at the next Poll.
//
// Seek never rebuilds the group client (that would leave the group each
// time): it moves the owned partitions with SetOffsets.

// groupState is what kgo's group callbacks share with Poll and Seek.
type groupState struct {
	mu sync.Mutex
	// owned holds the partitions this member holds and Seek placed.
	owned map[int32]bool
	// waiting holds partitions assigned whose fetch offsets the
	// AdjustFetchOffsetsFn callback waits for; place is where Seek hands
	// it their positions.
	waiting []int32
	place   chan map[int32]int64
	// notice is the change not yet reported by Poll.
	notice *sdk.RebalanceError
	// acks are the revocations waiting for the runtime's Seek.
	acks []chan struct{}
	// lastCall is when the runtime last called the source; closing is set
	// once the client is being closed or the group left, when callbacks
	// must not wait for a runtime that will not answer; left is set when
	// the stall watchdog left the group.
	lastCall time.Time
	closing  bool
	left     bool
	// stop ends the stall watchdog.
	stop chan struct{}
	done chan struct{}
}

func newGroupState() *groupState {
	return &groupState{owned: make(map[int32]bool), lastCall: time.Now(), stop: make(chan struct{}), done: make(chan struct{})}
}

// touch records a call from the runtime.
func (g *groupState) touch() {
	g.mu.Lock()
	g.lastCall = time.Now()
	g.mu.Unlock()
}

// noticeLocked returns the pending notice, creating it.
func (g *groupState) noticeLocked() *sdk.RebalanceError {
	if g.notice == nil {
		g.notice = &sdk.RebalanceError{}
	}
	return g.notice
}

// ownsLocked reports whether p is owned or waits for its position.
func (g *groupState) ownsLocked(p int32) bool {
	return g.owned[p] || slices.Contains(g.waiting, p)
}

// ownedLocked lists the owned and waiting partitions, sorted.
func (g *groupState) ownedLocked() []int32 {
	out := slices.Collect(maps.Keys(g.owned))
	out = append(out, g.waiting...)
	slices.Sort(out)
	return slices.Compact(out)
}

// Owned lists the partitions this member holds, sorted.
func (s *Source) Owned() []int32 {
	if s.group == nil {
		return nil
	}
	s.group.mu.Lock()
	defer s.group.mu.Unlock()
	return s.group.ownedLocked()
}

// groupOpts are the reader's options in a group.
func (s *Source) groupOpts() []kgo.Opt {
	opts := []kgo.Opt{
		kgo.ConsumerGroup(s.cfg.Group),
		kgo.ConsumeTopics(s.cfg.Topic),
		kgo.Balancers(kgo.CooperativeStickyBalancer()),
		// Positions live in the sink; the group's offsets are never the
		// truth, so nothing is committed to it.
		kgo.DisableAutoCommit(),
		kgo.SessionTimeout(s.cfg.SessionTimeout),
		kgo.HeartbeatInterval(s.cfg.HeartbeatInterval),
		kgo.RebalanceTimeout(s.cfg.RebalanceTimeout),
		kgo.AdjustFetchOffsetsFn(s.onAssigned),
		kgo.OnPartitionsRevoked(s.onRevoked),
		kgo.OnPartitionsLost(s.onLost),
	}
	if s.cfg.GroupProtocol == GroupConsumer {
		opts = append(opts, kgo.ServerSideBalancer())
	}
	return opts
}

// onAssigned is kgo's AdjustFetchOffsetsFn: it reports the new partitions
// and waits for the runtime's Seek to give their positions, which replace
// whatever the group held.
func (s *Source) onAssigned(ctx context.Context, offsets map[string]map[int32]kgo.Offset) (map[string]map[int32]kgo.Offset, error) {
	g := s.group
	parts := slices.Sorted(maps.Keys(offsets[s.cfg.Topic]))
	if len(parts) == 0 {
		return offsets, nil
	}
	place := make(chan map[int32]int64, 1)
	g.mu.Lock()
	g.waiting, g.place = parts, place
	n := g.noticeLocked()
	n.Assigned = append(n.Assigned, parts...)
	g.mu.Unlock()
	sdk.Logger().Info("consumer group assigned partitions; waiting for their committed positions", "group", s.cfg.Group, "partitions", parts)

	select {
	case positions := <-place:
		out := map[string]map[int32]kgo.Offset{s.cfg.Topic: make(map[int32]kgo.Offset, len(parts))}
		for _, p := range parts {
			out[s.cfg.Topic][p] = kgo.NewOffset().At(positions[p]).WithEpoch(-1)
		}
		return out, nil
	case <-ctx.Done():
		g.mu.Lock()
		if g.place == place {
			g.waiting, g.place = nil, nil
		}
		g.mu.Unlock()
		return nil, fmt.Errorf("assignment of partitions %v of topic %s: %w", parts, s.cfg.Topic, ctx.Err())
	}
}

// onRevoked reports partitions leaving in a cooperative rebalance and waits
// for the runtime to hold none of them uncommitted (its next Seek).
func (s *Source) onRevoked(ctx context.Context, _ *kgo.Client, revoked map[string][]int32) {
	parts := revoked[s.cfg.Topic]
	if len(parts) == 0 {
		return
	}
	ack := s.release(parts, false)
	if ack == nil {
		return
	}
	timer := time.NewTimer(s.cfg.RebalanceTimeout * 3 / 4)
	defer timer.Stop()
	select {
	case <-ack:
	case <-ctx.Done():
	case <-s.group.stop:
	case <-timer.C:
		sdk.Logger().Warn("runtime did not settle revoked partitions in time; letting them go (the sink's fence keeps counts exact)",
			"group", s.cfg.Group, "partitions", parts)
	}
}

// onLost reports partitions taken away; there is nothing to wait for.
func (s *Source) onLost(_ context.Context, _ *kgo.Client, lost map[string][]int32) {
	if parts := lost[s.cfg.Topic]; len(parts) > 0 {
		s.release(parts, true)
	}
}

// release forgets partitions that left and records the notice; for a
// revocation it returns the channel Seek closes.
func (s *Source) release(parts []int32, lost bool) chan struct{} {
	g := s.group
	g.mu.Lock()
	defer g.mu.Unlock()
	for _, p := range parts {
		delete(g.owned, p)
	}
	g.waiting = slices.DeleteFunc(g.waiting, func(p int32) bool { return slices.Contains(parts, p) })
	n := g.noticeLocked()
	what := "revoked"
	if lost {
		what = "lost"
		n.Lost = append(n.Lost, parts...)
	} else {
		n.Revoked = append(n.Revoked, parts...)
	}
	sdk.Logger().Info("consumer group "+what+" partitions", "group", s.cfg.Group, "partitions", parts)
	if lost || g.closing {
		return nil
	}
	ack := make(chan struct{})
	g.acks = append(g.acks, ack)
	return ack
}

// takeNotice returns the change Poll must report, if any, and drops what
// was read of partitions no longer owned.
func (s *Source) takeNotice() error {
	g := s.group
	g.mu.Lock()
	n := g.notice
	g.notice = nil
	if n != nil {
		n.Owned = g.ownedLocked()
	}
	g.mu.Unlock()
	if n == nil {
		return nil
	}
	slices.Sort(n.Assigned)
	slices.Sort(n.Revoked)
	slices.Sort(n.Lost)
	return n
}

// owns reports whether records of partition p may be taken.
func (s *Source) owns(p int32) bool {
	if s.group == nil {
		return true
	}
	s.group.mu.Lock()
	defer s.group.mu.Unlock()
	return s.group.owned[p]
}

// joinGroup creates the group reader and starts the stall watchdog.
func (s *Source) joinGroup() error {
	s.group = newGroupState()
	reader, err := kgo.NewClient(append(s.readerOpts(), s.groupOpts()...)...)
	if err != nil {
		return fmt.Errorf("kafka group client for brokers %s: %w", s.cfg.Brokers, err)
	}
	s.reader = reader
	go s.watchStall(s.group, reader)
	sdk.Logger().Info("joining consumer group", "group", s.cfg.Group, "protocol", s.cfg.GroupProtocol, "topic", s.cfg.Topic)
	return nil
}

// rejoinIfLeft replaces a reader that left the group for a stall; the
// partitions it held are reported lost.
func (s *Source) rejoinIfLeft() error {
	g := s.group
	g.mu.Lock()
	left := g.left
	g.mu.Unlock()
	if !left {
		return nil
	}
	g.mu.Lock()
	carried := g.notice
	g.mu.Unlock()
	s.closeReader()
	if err := s.joinGroup(); err != nil {
		return err
	}
	s.group.mu.Lock()
	s.group.notice = carried
	s.group.noticeLocked() // at least an empty notice: the runtime re-reads and seeks
	s.group.mu.Unlock()
	return nil
}

// watchStall leaves the group when the runtime stops calling.
func (s *Source) watchStall(g *groupState, reader *kgo.Client) {
	defer close(g.done)
	tick := time.NewTicker(min(time.Second, s.cfg.StallTimeout/4))
	defer tick.Stop()
	for {
		select {
		case <-g.stop:
			return
		case <-tick.C:
		}
		g.mu.Lock()
		stalled := !g.closing && time.Since(g.lastCall) > s.cfg.StallTimeout
		if stalled {
			g.closing = true // callbacks must not wait for a stalled runtime
		}
		g.mu.Unlock()
		if !stalled {
			continue
		}
		sdk.Logger().Warn("runtime stopped calling the source; leaving the consumer group so its partitions move",
			"group", s.cfg.Group, "stall_timeout", s.cfg.StallTimeout)
		ctx, cancel := context.WithTimeout(context.Background(), s.cfg.RebalanceTimeout)
		err := reader.LeaveGroupContext(ctx)
		cancel()
		if err != nil {
			sdk.Logger().Warn("leaving the consumer group", "group", s.cfg.Group, "err", err)
		}
		g.mu.Lock()
		g.left = true
		lost := g.ownedLocked()
		g.owned, g.waiting = make(map[int32]bool), nil
		if len(lost) > 0 {
			n := g.noticeLocked()
			n.Lost = append(n.Lost, lost...)
		}
		g.mu.Unlock()
		return
	}
}

// stopGroup ends the watchdog and lets callbacks return at once; the
// reader is closed after it.
func (s *Source) stopGroup() {
	g := s.group
	if g == nil {
		return
	}
	g.mu.Lock()
	g.closing = true
	g.mu.Unlock()
	select {
	case <-g.stop:
	default:
		close(g.stop)
	}
	<-g.done
}

// seekGroup places the partitions this member owns at the runtime's
// positions (the others at the configured start), hands positions to an
// assignment waiting for them, and lets revocations proceed: the runtime
// seeks only once nothing it holds uncommitted carries a partition.
func (s *Source) seekGroup(ctx context.Context, positions []sdk.Position) error {
	if s.reader == nil {
		if err := s.joinGroup(); err != nil {
			return fmt.Errorf("seek: %w", err)
		}
	}
	s.group.touch()
	at := make(map[int32]int64, len(positions))
	for _, p := range positions {
		at[p.Partition] = p.NextOffset
	}
	g := s.group
	g.mu.Lock()
	owned := slices.Sorted(maps.Keys(g.owned))
	waiting, place := g.waiting, g.place
	acks := g.acks
	g.acks = nil
	g.mu.Unlock()
	defer func() {
		for _, ack := range acks {
			close(ack)
		}
	}()

	var starts map[int32]int64
	placeAt := func(p int32) (int64, error) {
		if pos, ok := at[p]; ok {
			return pos, nil
		}
		if starts == nil {
			var err error
			if starts, err = s.listStarts(ctx); err != nil {
				return 0, fmt.Errorf("seek: %w", err)
			}
		}
		start, ok := starts[p]
		if !ok {
			return 0, fmt.Errorf("seek: no %s offset listed for topic %s partition %d", s.cfg.Start, s.cfg.Topic, p)
		}
		s.anchors[p] = true
		return start, nil
	}
	moves := make(map[int32]kgo.EpochOffset, len(owned))
	for _, p := range owned {
		pos, err := placeAt(p)
		if err != nil {
			return err
		}
		s.next[p] = pos
		moves[p] = kgo.EpochOffset{Epoch: -1, Offset: pos}
	}
	given := make(map[int32]int64, len(waiting))
	for _, p := range waiting {
		pos, err := placeAt(p)
		if err != nil {
			return err
		}
		s.next[p] = pos
		given[p] = pos
	}
	if len(moves) > 0 {
		// Drops whatever the reader buffered, for every partition.
		s.reader.SetOffsets(map[string]map[int32]kgo.EpochOffset{s.cfg.Topic: moves})
	}
	if place != nil {
		g.mu.Lock()
		if g.place == place {
			for _, p := range waiting {
				g.owned[p] = true
			}
			g.waiting, g.place = nil, nil
			place <- given
		}
		g.mu.Unlock()
	}
	s.lastCut = time.Now()
	return nil
}
