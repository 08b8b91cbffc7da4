// Package kafkasource is Kappa's Kafka source: it reads every partition of
// one topic with franz-go by direct partition assignment (or, with `group:`,
// the partitions a consumer group assigns it: group.go), and hands the
// runtime contiguous offset ranges per partition.
//
// Progress lives in the sink's database, never in Kafka: no group offset is
// ever read as a position. Seek places each partition exactly where the
// database says it stopped.
package kafkasource

import (
	"cmp"
	"context"
	"encoding/base64"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"strings"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/kappa-stream/kappa/sdk"
)

const (
	// partitionCheckInterval is how often Poll lists the topic's partitions,
	// so that partitions added while running are read within seconds
	// without a metadata request on every Poll.
	partitionCheckInterval = 2 * time.Second
	// metadataMinAge bounds how long the clients serve cached metadata
	// (kgo's default is 5s), so a listing sees a new partition promptly and
	// the reader can fetch it right after it is added.
	metadataMinAge = time.Second
	// fetchMaxWait is how long a broker may hold a fetch with no new data.
	// A partition placed while a fetch is held joins only the next fetch, so
	// kgo's 5s default would delay new partitions and Seek that long.
	fetchMaxWait = 500 * time.Millisecond
)

var _ sdk.Source = (*Source)(nil)

// Source reads one Kafka topic. It is not safe for concurrent use; the
// runtime never calls it concurrently.
type Source struct {
	cfg Config

	// metaClient serves metadata, offset listings and watermarks from Open
	// to Close; admin wraps it.
	metaClient *kgo.Client
	admin      *kadm.Client
	// topicID is the topic's ID as Open found it (Kafka's form, see
	// formatTopicID); empty when the brokers serve no topic IDs.
	topicID string

	// reader fetches records. Every Seek replaces it, which drops whatever
	// it had buffered or in flight in one stroke.
	reader *kgo.Client
	// assigned holds every partition the reader consumes.
	assigned map[int32]bool
	// lastPartitionCheck is when the topic's partitions were last listed.
	lastPartitionCheck time.Time

	// next is each partition's next range Start: the previous range's End,
	// the Seek position, or the start or end listed for a partition with no
	// position.
	next map[int32]int64
	// anchors holds the partitions placed at a listed start and not yet
	// reported: the next batch reports each one's range from there, an
	// empty one if it has no records (sdk.Source.Poll's anchors).
	anchors map[int32]bool
	// pending holds fetched records not yet returned, per partition, in
	// offset order, control records included.
	pending        map[int32]*recordQueue
	pendingRecords int
	pendingBytes   int64
	// logEnd is each partition's log end as the last fetch reported it,
	// passed on in every batch so the runtime can report lag.
	logEnd map[int32]int64
	// lostTo holds, for a partition whose position retention deleted and
	// that on_out_of_range: skip moved to the log start, that log start: the
	// partition's next range covers the deleted offsets as Lost.
	lostTo map[int32]int64
	// rotation varies which partition fills a batch first, so that a busy
	// partition cannot starve the others when limits cut a batch short.
	rotation int
	// lastCut is when the previous batch was cut (Poll returned) or Seek
	// placed the reader: the next batch is cut limits.MaxWait after it.
	lastCut time.Time
	// tuneGC is whether Open tunes the process's garbage collector.
	tuneGC bool
	// group is the consumer-group membership (group.go); nil without
	// Config.Group.
	group *groupState
}

// New returns a Source ready for Open.
func New(opts ...Option) *Source {
	s := &Source{}
	for _, opt := range opts {
		opt(s)
	}
	return s
}

// Open decodes the config and checks, within dial_timeout, that the brokers
// answer and that the topic exists.
func (s *Source) Open(ctx context.Context, setup sdk.Setup) (sdk.SourceInfo, error) {
	cfg, err := ParseConfig(setup.Config)
	if err != nil {
		return sdk.SourceInfo{}, err
	}
	s.cfg = cfg
	if s.tuneGC && tuneGC(cfg) {
		sdk.Logger().Debug("garbage collector tuned", "gogc", tunedGCPercent, "memory_limit", cfg.MemoryLimit())
	}

	cl, err := kgo.NewClient(s.clientOpts()...)
	if err != nil {
		return sdk.SourceInfo{}, fmt.Errorf("kafka client for brokers %s: %w", cfg.Brokers, err)
	}
	s.metaClient, s.admin = cl, kadm.NewClient(cl)

	openCtx, cancel := context.WithTimeout(ctx, cfg.DialTimeout)
	defer cancel()
	_, id, err := s.describeTopic(openCtx)
	if err != nil {
		s.metaClient.Close()
		s.metaClient, s.admin = nil, nil
		if errors.Is(err, kerr.UnknownTopicOrPartition) {
			return sdk.SourceInfo{}, fmt.Errorf("open kafka source: %w", err)
		}
		return sdk.SourceInfo{}, fmt.Errorf("open kafka source: brokers %s unreachable (dial_timeout %v): %w",
			strings.Join(cfg.BrokerList(), ","), cfg.DialTimeout, err)
	}
	s.topicID = id
	return sdk.SourceInfo{Stream: cfg.Topic, StreamID: id, Group: cfg.Group}, nil
}

// clientOpts are the options every client of this source shares.
func (s *Source) clientOpts() []kgo.Opt {
	return []kgo.Opt{
		kgo.SeedBrokers(s.cfg.BrokerList()...),
		kgo.ClientID(s.cfg.ClientID),
		kgo.DialTimeout(s.cfg.DialTimeout),
		kgo.MetadataMinAge(metadataMinAge),
		kgo.WithLogger(kgoLogger{sdk.Logger()}),
	}
}

// kgoLogger passes franz-go's warnings and errors to the plugin's log: while
// a broker cannot be reached the client retries with backoff, and each
// failed attempt shows in the runtime's log.
type kgoLogger struct{ log *slog.Logger }

func (kgoLogger) Level() kgo.LogLevel { return kgo.LogLevelWarn }

func (l kgoLogger) Log(level kgo.LogLevel, msg string, keyvals ...any) {
	lvl := slog.LevelWarn
	if level == kgo.LogLevelError {
		lvl = slog.LevelError
	}
	l.log.Log(context.Background(), lvl, "kafka client: "+msg, keyvals...)
}

// Seek forgets everything read so far and places every partition: those in
// positions at their NextOffset, the others at the configured start.
func (s *Source) Seek(ctx context.Context, positions []sdk.Position) error {
	if s.admin == nil {
		return errors.New("kafka source: Seek called before Open")
	}
	if s.cfg.Group == "" {
		s.closeReader()
	}
	s.next = make(map[int32]int64, len(positions))
	s.pending = make(map[int32]*recordQueue)
	s.pendingRecords, s.pendingBytes = 0, 0
	s.logEnd = make(map[int32]int64)
	s.lostTo = make(map[int32]int64)
	s.anchors = make(map[int32]bool)

	partitions, err := s.topicPartitions(ctx)
	if err != nil {
		return fmt.Errorf("seek: %w", err)
	}
	for _, pos := range positions {
		if pos.NextOffset < 0 {
			return fmt.Errorf("seek topic %s partition %d: negative position %d", s.cfg.Topic, pos.Partition, pos.NextOffset)
		}
		if pos.StreamID != "" && s.topicID != "" && pos.StreamID != s.topicID {
			// The runtime checks this too; a source process started again
			// after the topic was recreated is caught here.
			return sdk.Permanent(&TopicRecreatedError{Topic: s.cfg.Topic, Committed: pos.StreamID, Current: s.topicID})
		}
	}
	if s.cfg.Group != "" {
		return s.seekGroup(ctx, positions)
	}
	assign := make(map[int32]kgo.Offset, len(partitions))
	for _, pos := range positions {
		assign[pos.Partition] = kgo.NewOffset().At(pos.NextOffset)
		s.next[pos.Partition] = pos.NextOffset
	}
	var unplaced []int32
	for _, p := range partitions {
		if _, ok := assign[p]; !ok {
			unplaced = append(unplaced, p)
		}
	}
	if len(unplaced) > 0 {
		// The start is listed now rather than left to the reader, which
		// would resolve it later (a latest end would skip records written
		// just after Seek), and reported as an anchor so that the runtime
		// keeps it: listed again at the next Seek, a start would have moved.
		starts, err := s.listStarts(ctx)
		if err != nil {
			return fmt.Errorf("seek: %w", err)
		}
		for _, p := range unplaced {
			start, ok := starts[p]
			if !ok {
				return fmt.Errorf("seek: no %s offset listed for topic %s partition %d", s.cfg.Start, s.cfg.Topic, p)
			}
			assign[p] = kgo.NewOffset().At(start)
			s.next[p] = start
			s.anchors[p] = true
		}
	}

	opts := append(s.readerOpts(), kgo.ConsumePartitions(map[string]map[int32]kgo.Offset{s.cfg.Topic: assign}))
	reader, err := kgo.NewClient(opts...)
	if err != nil {
		return fmt.Errorf("seek: kafka client for brokers %s: %w", s.cfg.Brokers, err)
	}
	s.reader = reader
	s.assigned = make(map[int32]bool, len(assign))
	for p := range assign {
		s.assigned[p] = true
	}
	s.lastPartitionCheck = time.Now()
	s.lastCut = time.Now()
	return nil
}

// readerOpts are the options of the client that fetches records.
func (s *Source) readerOpts() []kgo.Opt {
	return append(s.clientOpts(),
		kgo.FetchMaxBytes(int32(s.cfg.FetchMaxBytes)),
		kgo.FetchIsolationLevel(s.isolationLevel()),
		// Markers are how a range's End reaches past a transaction's last
		// record; they are never handed to the runtime.
		kgo.KeepControlRecords(),
		// Resetting an out-of-range position would skip or repeat records
		// behind the database's back; surface it instead.
		kgo.ConsumeResetOffset(kgo.NoResetOffset()),
		kgo.FetchMaxWait(fetchMaxWait),
	)
}

// listStarts lists where a partition with no position begins, by the
// configured start: the log start for earliest, the end a caught-up reader
// reaches for latest.
func (s *Source) listStarts(ctx context.Context) (map[int32]int64, error) {
	if s.cfg.Start == StartLatest {
		return s.listEnds(ctx)
	}
	return s.listOffsets(ctx, "start", s.admin.ListStartOffsets)
}

func (s *Source) isolationLevel() kgo.IsolationLevel {
	if s.cfg.Isolation == ReadUncommitted {
		return kgo.ReadUncommitted()
	}
	return kgo.ReadCommitted()
}

// Poll cuts the next batch: up to limits.MaxRecords records and about
// limits.MaxBytes bytes, returned once either is reached or once
// limits.MaxWait has passed since the previous batch was cut (the batch
// interval, Spark's batch duration). A zero or negative MaxRecords or
// MaxBytes leaves that dimension unbounded.
func (s *Source) Poll(ctx context.Context, limits sdk.Limits) (sdk.Batch, error) {
	if s.reader == nil {
		return sdk.Batch{}, errPollBeforeSeek
	}
	if s.group != nil {
		s.group.touch()
		if err := s.rejoinIfLeft(); err != nil {
			return sdk.Batch{}, fmt.Errorf("poll: %w", err)
		}
		if err := s.takeNotice(); err != nil {
			return sdk.Batch{}, err
		}
	} else if time.Since(s.lastPartitionCheck) >= partitionCheckInterval {
		if err := s.assignNewPartitions(ctx); err != nil {
			return sdk.Batch{}, err
		}
	}
	if err := s.fill(ctx, limits); err != nil {
		return sdk.Batch{}, err
	}
	s.lastCut = time.Now()
	return s.takeBatch(limits), nil
}

// fill tops up pending from the reader until it holds a full batch or the
// batch interval since the last cut has passed. Cutting at a steady
// cadence rather than whenever a record arrives is what keeps the
// aggregate table growing with partitions × windows per interval, not with
// traffic (at 45 records/s a batch per record made one row per record); a
// backlog still drains at full speed, since its batches fill before the
// interval ends.
func (s *Source) fill(ctx context.Context, limits sdk.Limits) error {
	// A nil context is PollRecords' documented way to return only what the
	// reader has already buffered, without waiting.
	if err := s.absorb(ctx, s.reader.PollRecords(nil, s.room(limits))); err != nil {
		return err
	}
	cut := s.lastCut.Add(limits.MaxWait)
	if s.full(limits) || limits.MaxWait <= 0 || !time.Now().Before(cut) {
		return nil
	}
	waitCtx, cancel := context.WithDeadline(ctx, cut)
	defer cancel()
	for !s.full(limits) && waitCtx.Err() == nil {
		if err := s.absorb(ctx, s.reader.PollRecords(waitCtx, s.room(limits))); err != nil {
			return err
		}
	}
	return nil
}

// room is how many more records pending may take; 0 means no bound, as
// PollRecords reads it.
func (s *Source) room(limits sdk.Limits) int {
	if limits.MaxRecords <= 0 {
		return 0
	}
	return max(limits.MaxRecords-s.pendingRecords, 1)
}

func (s *Source) full(limits sdk.Limits) bool {
	return limits.MaxRecords > 0 && s.pendingRecords >= limits.MaxRecords ||
		limits.MaxBytes > 0 && s.pendingBytes >= limits.MaxBytes
}

// absorb moves fetched records into pending and turns fetch errors into
// Poll errors. ctx is Poll's own context: its end is an error, while the end
// of the MaxWait wait is not.
func (s *Source) absorb(ctx context.Context, fetches kgo.Fetches) error {
	for _, f := range fetches {
		for _, t := range f.Topics {
			for i := range t.Partitions {
				fp := &t.Partitions[i]
				if fp.Err != nil {
					if err := s.fetchError(ctx, t.Topic, fp); err != nil {
						return err
					}
					continue
				}
				if t.Topic != s.cfg.Topic {
					continue
				}
				s.noteLogEnd(fp)
				if err := s.enqueue(fp.Partition, fp.Records); err != nil {
					return err
				}
			}
		}
	}
	return nil
}

func (s *Source) fetchError(ctx context.Context, topic string, fp *kgo.FetchPartition) error {
	err := fp.Err
	switch {
	case errors.Is(err, context.DeadlineExceeded) || errors.Is(err, context.Canceled):
		// The client injects the poll context's end as a fetch error.
		if ctx.Err() != nil {
			return fmt.Errorf("poll topic %s: %w", s.cfg.Topic, ctx.Err())
		}
		return nil
	case errors.Is(err, kerr.OffsetOutOfRange):
		oor := s.outOfRange(ctx, fp)
		if s.cfg.OnOutOfRange == OutOfRangeSkip && s.skipDeleted(oor) {
			return nil
		}
		// Re-reading positions finds the same deleted offsets: stop.
		return sdk.Permanent(oor)
	case fp.Partition < 0:
		return fmt.Errorf("poll topic %s: %w", s.cfg.Topic, err)
	default:
		return fmt.Errorf("fetch topic %s partition %d: %w", topic, fp.Partition, err)
	}
}

// outOfRange describes an out-of-range partition, asking the brokers for
// the log bounds when the fetch response did not carry them.
func (s *Source) outOfRange(ctx context.Context, fp *kgo.FetchPartition) *OffsetOutOfRangeError {
	e := &OffsetOutOfRangeError{
		Topic:         s.cfg.Topic,
		Partition:     fp.Partition,
		Offset:        s.fetchOffset(fp.Partition),
		LogStart:      -1,
		HighWatermark: -1,
		Err:           fp.Err,
	}
	if marks, err := s.Watermarks(ctx); err == nil {
		for _, m := range marks {
			if m.Partition == fp.Partition {
				e.LogStart, e.HighWatermark = m.Start, m.End
			}
		}
	}
	return e
}

// skipDeleted moves an out-of-range partition to its log start when the
// records at its position were deleted, and reports whether it did. A
// position past the log end (a truncated or recreated topic) is never
// skipped: moving back would count other records under offsets already
// counted. Records still pending are returned first: the runtime re-seeks
// after the error, and the skip happens on a clean position.
func (s *Source) skipDeleted(e *OffsetOutOfRangeError) bool {
	at, known := s.next[e.Partition]
	if q := s.pending[e.Partition]; q != nil && q.len() > 0 {
		return false
	}
	if !known || at != e.Offset || e.LogStart <= at {
		return false
	}
	s.lostTo[e.Partition] = e.LogStart
	if s.group != nil {
		s.reader.SetOffsets(map[string]map[int32]kgo.EpochOffset{s.cfg.Topic: {e.Partition: {Epoch: -1, Offset: e.LogStart}}})
	} else {
		s.reader.RemoveConsumePartitions(map[string][]int32{s.cfg.Topic: {e.Partition}})
		s.reader.AddConsumePartitions(map[string]map[int32]kgo.Offset{s.cfg.Topic: {e.Partition: kgo.NewOffset().At(e.LogStart)}})
	}
	sdk.Logger().Warn("offsets deleted before they were read; skipping to the log start (on_out_of_range: skip)",
		"topic", s.cfg.Topic, "partition", e.Partition, "from", at, "to", e.LogStart)
	return true
}

// fetchOffset is the offset the reader is at for partition p: past the last
// pending record, or the next range's Start; -1 if not yet known.
func (s *Source) fetchOffset(p int32) int64 {
	if q := s.pending[p]; q != nil && q.len() > 0 {
		return q.last().Offset + 1
	}
	if next, ok := s.next[p]; ok {
		return next
	}
	return -1
}

func (s *Source) enqueue(p int32, records []*kgo.Record) error {
	if len(records) == 0 || !s.owns(p) {
		// In a group, a partition is read only once Seek placed it, and
		// not after it left.
		return nil
	}
	q := s.pending[p]
	if q == nil {
		q = &recordQueue{}
		s.pending[p] = q
	}
	// The reader must never hand back an offset already covered: that would
	// count a record twice.
	if at := s.fetchOffset(p); at >= 0 && records[0].Offset < at {
		return fmt.Errorf("topic %s partition %d: reader returned offset %d below position %d",
			s.cfg.Topic, p, records[0].Offset, at)
	}
	for _, r := range records {
		q.push(r)
		if !r.Attrs.IsControl() {
			s.pendingRecords++
			s.pendingBytes += recordBytes(r)
		}
	}
	return nil
}

// noteLogEnd keeps the end a caught-up reader reaches, as Watermarks
// defines it: the last stable offset under read_committed.
func (s *Source) noteLogEnd(fp *kgo.FetchPartition) {
	end := fp.HighWatermark
	if s.cfg.Isolation == ReadCommitted && fp.LastStableOffset >= 0 {
		end = fp.LastStableOffset
	}
	if end > s.logEnd[fp.Partition] {
		s.logEnd[fp.Partition] = end
	}
}

func recordBytes(r *kgo.Record) int64 { return int64(len(r.Key) + len(r.Value)) }

// takeBatch cuts the next batch from pending within limits. A batch may pass
// MaxBytes by the one record that crosses it. Markers cost nothing, so those
// that directly follow the last record taken go with it.
func (s *Source) takeBatch(limits sdk.Limits) sdk.Batch {
	partitions := make([]int32, 0, len(s.pending)+len(s.lostTo)+len(s.anchors))
	for p, q := range s.pending {
		if _, gap := s.lostTo[p]; q.len() > 0 && !gap {
			partitions = append(partitions, p)
		}
	}
	for p := range s.lostTo {
		partitions = append(partitions, p)
	}
	for p := range s.anchors {
		_, gap := s.lostTo[p]
		if q := s.pending[p]; (q == nil || q.len() == 0) && !gap {
			partitions = append(partitions, p)
		}
	}
	if len(partitions) == 0 {
		return sdk.Batch{}
	}
	slices.Sort(partitions)
	first := s.rotation % len(partitions)
	s.rotation++

	var (
		batch   sdk.Batch
		records int
		bytes   int64
	)
	full := func() bool {
		return limits.MaxRecords > 0 && records >= limits.MaxRecords ||
			limits.MaxBytes > 0 && bytes >= limits.MaxBytes
	}
	for i := range partitions {
		p := partitions[(first+i)%len(partitions)]
		q := s.pending[p]
		start, known := s.next[p]
		if !known {
			start = q.peek().Offset
		}
		end := start
		var out []sdk.Record
		for q != nil && q.len() > 0 {
			r := q.peek()
			if !r.Attrs.IsControl() {
				if full() {
					break
				}
				if out == nil {
					out = make([]sdk.Record, 0, min(q.len(), max(limits.MaxRecords-records, 1)))
				}
				out = append(out, sdk.Record{
					Partition: p,
					Offset:    r.Offset,
					Key:       r.Key,
					Value:     r.Value,
					Time:      r.Timestamp,
				})
				records++
				bytes += recordBytes(r)
				s.pendingRecords--
				s.pendingBytes -= recordBytes(r)
			}
			end = r.Offset + 1
			q.pop()
		}
		var lost int64
		if logStart, gap := s.lostTo[p]; gap {
			// Every record read here lies at or past the log start.
			end = max(end, logStart)
			lost = logStart - start
			delete(s.lostTo, p)
		}
		if end == start && !s.anchors[p] {
			continue
		}
		delete(s.anchors, p)
		s.next[p] = end
		batch.Partitions = append(batch.Partitions, sdk.PartitionBatch{
			OffsetRange:   sdk.OffsetRange{Partition: p, Start: start, End: end},
			Records:       out,
			HighWatermark: s.logEnd[p],
			Lost:          lost,
		})
	}
	return batch
}

// assignNewPartitions starts reading partitions added to the topic since
// Seek. They start at their beginning whatever Config.Start says: every
// record in a partition created after Seek is newer than the Seek, and
// starting at its end would lose what was written before it was noticed.
func (s *Source) assignNewPartitions(ctx context.Context) error {
	partitions, err := s.topicPartitions(ctx)
	if err != nil {
		return fmt.Errorf("poll: %w", err)
	}
	s.lastPartitionCheck = time.Now()
	var added []int32
	for _, p := range partitions {
		if !s.assigned[p] {
			added = append(added, p)
		}
	}
	if len(added) == 0 {
		return nil
	}
	starts, err := s.listOffsets(ctx, "start", s.admin.ListStartOffsets)
	if err != nil {
		return fmt.Errorf("poll: %w", err)
	}
	assign := make(map[int32]kgo.Offset, len(added))
	for _, p := range added {
		start, ok := starts[p]
		if !ok {
			return fmt.Errorf("poll: no start offset listed for new partition %d of topic %s", p, s.cfg.Topic)
		}
		assign[p] = kgo.NewOffset().At(start)
		s.next[p] = start
		s.anchors[p] = true
		s.assigned[p] = true
	}
	s.reader.AddConsumePartitions(map[string]map[int32]kgo.Offset{s.cfg.Topic: assign})
	return nil
}

// topicPartitions lists the topic's partitions, sorted, and checks that
// the topic is still the one Open found: a topic deleted and created again
// under the same name starts its offsets anew, and reading it at positions
// of the old one would skip or misattribute records.
func (s *Source) topicPartitions(ctx context.Context) ([]int32, error) {
	partitions, id, err := s.describeTopic(ctx)
	if err != nil {
		return nil, err
	}
	if s.topicID != "" && id != "" && id != s.topicID {
		return nil, sdk.Permanent(&TopicRecreatedError{Topic: s.cfg.Topic, Committed: s.topicID, Current: id, WhileRunning: true})
	}
	return partitions, nil
}

// describeTopic lists the topic's partitions, sorted, and its ID.
func (s *Source) describeTopic(ctx context.Context) ([]int32, string, error) {
	topics, err := s.admin.ListTopics(ctx, s.cfg.Topic)
	if err != nil {
		return nil, "", fmt.Errorf("list partitions of topic %s on brokers %s: %w", s.cfg.Topic, s.cfg.Brokers, err)
	}
	detail, ok := topics[s.cfg.Topic]
	if !ok {
		return nil, "", fmt.Errorf("topic %s does not exist on brokers %s: %w", s.cfg.Topic, s.cfg.Brokers, kerr.UnknownTopicOrPartition)
	}
	if detail.Err != nil {
		return nil, "", fmt.Errorf("topic %s on brokers %s: %w", s.cfg.Topic, s.cfg.Brokers, detail.Err)
	}
	partitions := detail.Partitions.Numbers()
	slices.Sort(partitions)
	return partitions, formatTopicID(detail.ID), nil
}

// formatTopicID writes a topic ID as Kafka's tools show it (unpadded
// URL-safe base64, as kafka-topics.sh --describe prints TopicId), or ""
// for the zero ID of brokers that serve none.
func formatTopicID(id kadm.TopicID) string {
	if id == (kadm.TopicID{}) {
		return ""
	}
	return base64.RawURLEncoding.EncodeToString(id[:])
}

// Watermarks reports each partition's log start and the offset a reader
// reaches when caught up: the last stable offset under read_committed (a
// transactional topic ends in a marker no record reaches), else the high
// watermark. With group: set, a source that is no member of the group
// (opened by `kappa-runtime status`, never sought) also says which member
// owns each partition.
func (s *Source) Watermarks(ctx context.Context) ([]sdk.Watermark, error) {
	if s.admin == nil {
		return nil, errors.New("kafka source: Watermarks called before Open")
	}
	if s.group != nil {
		s.group.touch()
	}
	starts, err := s.listOffsets(ctx, "start", s.admin.ListStartOffsets)
	if err != nil {
		return nil, err
	}
	ends, err := s.listEnds(ctx)
	if err != nil {
		return nil, err
	}
	marks := make([]sdk.Watermark, 0, len(starts))
	for p, start := range starts {
		end, ok := ends[p]
		if !ok {
			return nil, fmt.Errorf("list end offsets of topic %s: partition %d missing", s.cfg.Topic, p)
		}
		marks = append(marks, sdk.Watermark{Partition: p, Start: start, End: end})
	}
	slices.SortFunc(marks, func(a, b sdk.Watermark) int { return cmp.Compare(a.Partition, b.Partition) })
	if s.cfg.Group != "" && s.group == nil {
		// Not a member (yet): say who is. A failure only leaves the owners
		// out; the log ends stand.
		owners, err := s.groupOwners(ctx)
		if err != nil {
			sdk.Logger().Warn("cannot tell the group's partition owners", "group", s.cfg.Group, "err", err)
		}
		for i := range marks {
			marks[i].Owner = owners[marks[i].Partition]
		}
	}
	return marks, nil
}

// listEnds lists the offset a caught-up reader reaches in each partition.
func (s *Source) listEnds(ctx context.Context) (map[int32]int64, error) {
	if s.cfg.Isolation == ReadCommitted {
		// Kafka lists the last stable offset as the "committed" end.
		return s.listOffsets(ctx, "last stable", s.admin.ListCommittedOffsets)
	}
	return s.listOffsets(ctx, "end", s.admin.ListEndOffsets)
}

// listOffsets runs one of kadm's offset listings for the topic and fails if
// any partition failed.
func (s *Source) listOffsets(ctx context.Context, what string,
	list func(context.Context, ...string) (kadm.ListedOffsets, error),
) (map[int32]int64, error) {
	listed, err := list(ctx, s.cfg.Topic)
	if err == nil {
		err = listed.Error()
	}
	if err != nil {
		return nil, fmt.Errorf("list %s offsets of topic %s: %w", what, s.cfg.Topic, err)
	}
	offsets := make(map[int32]int64, len(listed[s.cfg.Topic]))
	for p, o := range listed[s.cfg.Topic] {
		offsets[p] = o.Offset
	}
	return offsets, nil
}

// Close releases both clients. The source is not used afterwards.
func (s *Source) Close(context.Context) error {
	s.stopGroup()
	s.closeReader()
	if s.metaClient != nil {
		s.metaClient.Close()
		s.metaClient, s.admin = nil, nil
	}
	return nil
}

func (s *Source) closeReader() {
	if s.reader != nil {
		s.reader.Close()
		s.reader = nil
	}
}

// recordQueue is a FIFO of one partition's fetched records.
type recordQueue struct {
	records []*kgo.Record
	head    int
}

func (q *recordQueue) len() int           { return len(q.records) - q.head }
func (q *recordQueue) peek() *kgo.Record  { return q.records[q.head] }
func (q *recordQueue) last() *kgo.Record  { return q.records[len(q.records)-1] }
func (q *recordQueue) push(r *kgo.Record) { q.records = append(q.records, r) }

// pop drops the head, reusing the backing array once the queue empties so a
// steady stream does not keep growing it.
func (q *recordQueue) pop() {
	q.records[q.head] = nil
	q.head++
	if q.head == len(q.records) {
		q.records, q.head = q.records[:0], 0
	}
}
