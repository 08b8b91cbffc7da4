package firehose

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"
)

// maxBufferedRecords bounds how far the generator runs ahead of the
// broker: some 50 MB of tweets.
const maxBufferedRecords = 20_000

// ProducerOpts are the kgo options that make a preload fast: batches that
// linger a little, compressed with snappy (about 6:1 on these tweets, and the
// cheapest codec in CPU here: lz4 cost 1.5x, no compression more copying),
// and a bounded buffer. Records are unkeyed; kgo's default partitioner
// spreads them over all partitions.
func ProducerOpts(topic string) []kgo.Opt {
	return []kgo.Opt{
		kgo.DefaultProduceTopic(topic),
		kgo.ProducerBatchCompression(kgo.SnappyCompression()),
		kgo.ProducerLinger(5 * time.Millisecond),
		kgo.MaxBufferedRecords(maxBufferedRecords),
		kgo.MaxBufferedBytes(64 << 20),
		// A broker that stops answering fails the run instead of hanging it.
		kgo.RecordDeliveryTimeout(2 * time.Minute),
	}
}

// ErrProduceFailed is wrapped when some records could not be written.
var ErrProduceFailed = errors.New("records failed to produce")

// Result is what Produce wrote.
type Result struct {
	Counts
	// Bytes is the sum of the record values' lengths.
	Bytes int64
	// Elapsed is the wall time from the first record to the final flush.
	Elapsed time.Duration
	// Failed is the number of records the broker did not acknowledge.
	Failed int64
}

// Produce writes every record of gen through client (whose default produce
// topic names the topic), at most rate records per second when rate > 0,
// then flushes. It returns an error wrapping ErrProduceFailed, with the
// count and the first cause, if any record was not acknowledged; the Result
// is filled either way.
func Produce(ctx context.Context, client *kgo.Client, gen *Generator, rate float64) (Result, error) {
	return ProduceWith(ctx, client, gen, rate, nil)
}

// Produced is a record the broker acknowledged, where it landed.
type Produced struct {
	Partition int32
	Offset    int64
	Record
}

// ProduceWith is Produce that also hands every acknowledged malformed
// record, with its partition and offset, to onMalformed (when not nil):
// the truth a test compares dead letters with. Its Value is a copy; it
// may be called from several goroutines, never at once.
func ProduceWith(ctx context.Context, client *kgo.Client, gen *Generator, rate float64, onMalformed func(Produced)) (Result, error) {
	// Only malformed records are looked up, and only when asked for.
	var (
		malformedMu sync.Mutex
		malformed   = map[*kgo.Record]Record{}
	)
	// Records and their value buffers are recycled once kgo is done with
	// them, so a million-record run allocates only what is in flight. A
	// channel rather than a sync.Pool: the pool is emptied by every GC, and
	// reallocating the buffers took a sixth of the producer's CPU.
	free := make(chan *kgo.Record, maxBufferedRecords)
	var (
		failed   atomic.Int64
		errOnce  sync.Once
		firstErr error
	)
	promise := func(r *kgo.Record, err error) {
		if err != nil {
			// Recording the cause before counting makes it visible to
			// whoever sees a non-zero count.
			errOnce.Do(func() { firstErr = err })
			failed.Add(1)
		}
		if onMalformed != nil {
			malformedMu.Lock()
			rec, ok := malformed[r]
			delete(malformed, r)
			if ok && err == nil {
				rec.Value = append([]byte(nil), r.Value...)
				onMalformed(Produced{Partition: r.Partition, Offset: r.Offset, Record: rec})
			}
			malformedMu.Unlock()
		}
		*r = kgo.Record{Value: r.Value[:0]}
		select {
		case free <- r:
		default:
		}
	}
	newRecord := func() *kgo.Record {
		select {
		case r := <-free:
			return r
		default:
			return &kgo.Record{Value: make([]byte, 0, 4096)}
		}
	}

	var res Result
	start := time.Now()
	for {
		if err := ctx.Err(); err != nil {
			res.Counts, res.Elapsed = gen.Emitted(), time.Since(start)
			return res, fmt.Errorf("produce stopped after %d records: %w", res.Records(), err)
		}
		r := newRecord()
		rec, ok := gen.Next(r.Value)
		if !ok {
			break
		}
		r.Value = rec.Value
		res.Bytes += int64(len(rec.Value))
		if onMalformed != nil && rec.Kind == KindMalformed {
			malformedMu.Lock()
			malformed[r] = rec
			malformedMu.Unlock()
		}
		client.Produce(ctx, r, promise)
		if rate > 0 {
			pace(ctx, start, gen.Emitted().Records(), rate)
		}
	}
	flushErr := client.Flush(ctx)
	res.Counts = gen.Emitted()
	res.Elapsed = time.Since(start)
	res.Failed = failed.Load()
	if res.Failed > 0 {
		return res, fmt.Errorf("%w: %d of %d: first error: %w", ErrProduceFailed, res.Failed, res.Records(), firstErr)
	}
	if flushErr != nil {
		return res, fmt.Errorf("flush: %w", flushErr)
	}
	return res, nil
}

// pace sleeps until the n-th record is due at rate records per second.
func pace(ctx context.Context, start time.Time, n int, rate float64) {
	due := start.Add(time.Duration(float64(n) / rate * float64(time.Second)))
	wait := time.Until(due)
	if wait <= 0 {
		return
	}
	t := time.NewTimer(wait)
	defer t.Stop()
	select {
	case <-ctx.Done():
	case <-t.C:
	}
}
