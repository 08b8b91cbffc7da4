package kafkasource

import (
	"context"
	"errors"
	"fmt"
	"net"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/kappa-stream/kappa/sdk"
)

func TestReadsEveryPartitionOnce(t *testing.T) {
	_, brokers := newBroker(t, 8)
	produce(t, newProducer(t, brokers), numbered(8, 0, 50)...)

	src := openSource(t, brokers, "")
	if err := src.Seek(context.Background(), nil); err != nil {
		t.Fatal(err)
	}
	r := newReader(t, src, quick)
	r.readUntil(8*50, 10*time.Second)
	r.expectNoMore()

	marks, err := src.Watermarks(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if len(marks) != 8 {
		t.Fatalf("%d watermarks, want 8", len(marks))
	}
	for p := range int32(8) {
		if got, want := r.values(p), wantValues(p, 0, 50); !slices.Equal(got, want) {
			t.Errorf("partition %d: values %q, want %q", p, got, want)
		}
		if r.starts[p] != 0 || r.ends[p] != 50 {
			t.Errorf("partition %d: read [%d, %d), want [0, 50)", p, r.starts[p], r.ends[p])
		}
		if m := marks[p]; m.Partition != p || m.Start != 0 || m.End != 50 {
			t.Errorf("watermark %+v, want {%d 0 50}", m, p)
		}
	}
}

func TestSeekResumesAtPositions(t *testing.T) {
	_, brokers := newBroker(t, 8)
	produce(t, newProducer(t, brokers), numbered(8, 0, 20)...)
	src := openSource(t, brokers, "")

	// Partitions 0-3 have positions; 4-7 have none and start at the log start.
	var positions []sdk.Position
	for p := range int32(4) {
		positions = append(positions, sdk.Position{Partition: p, NextOffset: int64(p + 5)})
	}
	if err := src.Seek(context.Background(), positions); err != nil {
		t.Fatal(err)
	}
	r := newReader(t, src, quick)
	r.readUntil((15+14+13+12)+4*20, 10*time.Second)
	for p := range int32(8) {
		from := int64(0)
		if p < 4 {
			from = int64(p + 5)
		}
		if r.starts[p] != from || r.ends[p] != 20 {
			t.Errorf("partition %d: read [%d, %d), want [%d, 20)", p, r.starts[p], r.ends[p], from)
		}
		if got, want := r.offsets(p), seq(from, 20); !slices.Equal(got, want) {
			t.Errorf("partition %d: offsets %v, want %v", p, got, want)
		}
	}
}

func TestReseekForgetsBufferedRecords(t *testing.T) {
	_, brokers := newBroker(t, 8)
	produce(t, newProducer(t, brokers), numbered(8, 0, 20)...)
	src := openSource(t, brokers, "")
	if err := src.Seek(context.Background(), nil); err != nil {
		t.Fatal(err)
	}

	// A tiny byte limit leaves most fetched records buffered in the source.
	small := newReader(t, src, sdk.Limits{MaxRecords: 1000, MaxBytes: 10, MaxWait: time.Second})
	for deadline := time.Now().Add(10 * time.Second); small.total == 0 && time.Now().Before(deadline); {
		small.poll()
	}
	if src.pendingRecords == 0 {
		t.Fatal("nothing buffered after a small batch; the test would not show a re-seek forgetting it")
	}

	var positions []sdk.Position
	for p := range int32(8) {
		positions = append(positions, sdk.Position{Partition: p, NextOffset: 15})
	}
	if err := src.Seek(context.Background(), positions); err != nil {
		t.Fatal(err)
	}
	r := newReader(t, src, quick)
	r.readUntil(8*5, 10*time.Second)
	r.expectNoMore()
	for p := range int32(8) {
		if r.starts[p] != 15 {
			t.Errorf("partition %d: first range starts at %d, want 15", p, r.starts[p])
		}
		if got, want := r.values(p), wantValues(p, 15, 20); !slices.Equal(got, want) {
			t.Errorf("partition %d: values %q, want %q", p, got, want)
		}
	}
}

func TestStartLatestReadsOnlyNewRecords(t *testing.T) {
	_, brokers := newBroker(t, 8)
	producer := newProducer(t, brokers)
	produce(t, producer, numbered(8, 0, 10)...)
	src := openSource(t, brokers, "start: latest\n")
	if err := src.Seek(context.Background(), nil); err != nil {
		t.Fatal(err)
	}
	// Written right after Seek, before any Poll: these must be read.
	produce(t, producer, numbered(8, 10, 3)...)

	r := newReader(t, src, quick)
	r.readUntil(8*3, 10*time.Second)
	r.expectNoMore()
	for p := range int32(8) {
		if got, want := r.values(p), wantValues(p, 10, 13); !slices.Equal(got, want) {
			t.Errorf("partition %d: values %q, want %q", p, got, want)
		}
		if r.starts[p] != 10 || r.ends[p] != 13 {
			t.Errorf("partition %d: read [%d, %d), want [10, 13)", p, r.starts[p], r.ends[p])
		}
	}
}

func TestReadsPartitionAddedWhileRunning(t *testing.T) {
	_, brokers := newBroker(t, 2)
	produce(t, newProducer(t, brokers), numbered(2, 0, 5)...)
	src := openSource(t, brokers, "")
	if err := src.Seek(context.Background(), []sdk.Position{{Partition: 0, NextOffset: 0}}); err != nil {
		t.Fatal(err)
	}
	r := newReader(t, src, quick)
	r.readUntil(2*5, 10*time.Second)

	admin := kadm.NewClient(newProducer(t, brokers))
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	resp, err := admin.CreatePartitions(ctx, 2, testTopic)
	if err == nil {
		err = resp.Error()
	}
	if err != nil {
		t.Fatalf("create partitions: %v", err)
	}
	// A fresh producer learns the new partitions from its first metadata.
	produce(t, newProducer(t, brokers), numbered(4, 5, 5)...)

	r.readUntil(2*5+4*5, 15*time.Second)
	r.expectNoMore()
	for p := int32(2); p < 4; p++ {
		if got, want := r.values(p), wantValues(p, 5, 10); !slices.Equal(got, want) {
			t.Errorf("new partition %d: values %q, want %q", p, got, want)
		}
		if r.starts[p] != 0 {
			t.Errorf("new partition %d: first range starts at %d, want 0", p, r.starts[p])
		}
	}
	for p := range int32(2) {
		if got, want := r.values(p), wantValues(p, 0, 10); !slices.Equal(got, want) {
			t.Errorf("partition %d: values %q, want %q", p, got, want)
		}
	}
}

func TestPollHonoursLimits(t *testing.T) {
	_, brokers := newBroker(t, 8)
	var recs []*kgo.Record
	for i := range 100 {
		for p := range int32(8) {
			// Sizes vary so that byte limits fall mid-record.
			value := fmt.Sprintf("p%d-%d-%s", p, i, strings.Repeat("x", 50+(i*7)%200))
			recs = append(recs, &kgo.Record{Partition: p, Key: []byte("k"), Value: []byte(value)})
		}
	}
	produce(t, newProducer(t, brokers), recs...)

	for _, limits := range []sdk.Limits{
		{MaxRecords: 7, MaxWait: time.Second},
		{MaxBytes: 1000, MaxWait: time.Second},
		{MaxRecords: 50, MaxBytes: 3000, MaxWait: time.Second},
	} {
		t.Run(fmt.Sprintf("records=%d,bytes=%d", limits.MaxRecords, limits.MaxBytes), func(t *testing.T) {
			src := openSource(t, brokers, "")
			if err := src.Seek(context.Background(), nil); err != nil {
				t.Fatal(err)
			}
			r := newReader(t, src, limits)
			deadline := time.Now().Add(20 * time.Second)
			for r.total < len(recs) && time.Now().Before(deadline) {
				batch := r.poll()
				var n int
				var bytes, largest int64
				for _, pb := range batch.Partitions {
					for _, rec := range pb.Records {
						n++
						size := int64(len(rec.Key) + len(rec.Value))
						bytes += size
						largest = max(largest, size)
					}
				}
				if limits.MaxRecords > 0 && n > limits.MaxRecords {
					t.Fatalf("batch of %d records, limit %d", n, limits.MaxRecords)
				}
				if limits.MaxBytes > 0 && bytes-largest >= limits.MaxBytes {
					t.Fatalf("batch of %d bytes passes limit %d by more than one record (largest %d)", bytes, limits.MaxBytes, largest)
				}
			}
			if r.total != len(recs) {
				t.Fatalf("read %d records, want %d", r.total, len(recs))
			}
			for p := range int32(8) {
				if got := r.offsets(p); !slices.Equal(got, seq(0, 100)) {
					t.Errorf("partition %d: offsets %v, want 0..99", p, got)
				}
			}
		})
	}
}

func TestPollFillsBatchAcrossFetches(t *testing.T) {
	cluster, brokers := newBroker(t, 1)
	// 40 produce requests of 10 records of 1 KB: 40 record batches, of
	// which one 16 KiB fetch carries one (uncompressed: the repeated bytes
	// would shrink to almost nothing).
	producer := newProducer(t, brokers, kgo.ProducerBatchCompression(kgo.NoCompression()))
	for i := range 40 {
		var recs []*kgo.Record
		for j := range 10 {
			recs = append(recs, &kgo.Record{Value: fmt.Appendf(nil, "%03d-%d-%s", i, j, strings.Repeat("x", 1000))})
		}
		produce(t, producer, recs...)
	}
	// Every fetch takes 5 ms, so a poll finds at most one fetch buffered.
	var fetches atomic.Int64
	cluster.ControlKey(kmsg.Fetch.Int16(), func(kmsg.Request) (kmsg.Response, error, bool) {
		cluster.KeepControl()
		fetches.Add(1)
		cluster.SleepControl(func() { time.Sleep(5 * time.Millisecond) })
		return nil, nil, false
	})
	src := openSource(t, brokers, "fetch_max_bytes: 16384")
	if err := src.Seek(context.Background(), nil); err != nil {
		t.Fatal(err)
	}
	limits := sdk.Limits{MaxBytes: 100_000, MaxWait: 10 * time.Second}
	r := newReader(t, src, limits)
	batch := r.poll()
	var bytes int64
	for _, pb := range batch.Partitions {
		for _, rec := range pb.Records {
			bytes += int64(len(rec.Key) + len(rec.Value))
		}
	}
	// 400 KB wait at the broker: the batch fills to its limit over several
	// fetches rather than being cut at the first.
	if bytes < limits.MaxBytes {
		t.Fatalf("first batch of %d bytes after %d fetches while 400 KB wait at the broker, want at least %d", bytes, fetches.Load(), limits.MaxBytes)
	}
	r.readUntil(400, 20*time.Second)
	if got := r.offsets(0); !slices.Equal(got, seq(0, 400)) {
		t.Errorf("offsets %v, want 0..399", got)
	}
}

// A trickle of records is cut into one batch per interval, not one batch
// per record: the rows a pipeline writes grow with intervals, not traffic.
func TestPollCutsOneBatchPerInterval(t *testing.T) {
	_, brokers := newBroker(t, 2)
	producer := newProducer(t, brokers)
	src := openSource(t, brokers, "")
	if err := src.Seek(context.Background(), nil); err != nil {
		t.Fatal(err)
	}
	// 60 records over ~3 s, one every 50 ms, alternating partitions.
	ctx, stop := context.WithCancel(context.Background())
	produced := make(chan struct{})
	go func() {
		defer close(produced)
		for i := range 60 {
			if ctx.Err() != nil {
				return
			}
			rec := &kgo.Record{Partition: int32(i % 2), Value: fmt.Appendf(nil, "r%d", i)}
			if err := producer.ProduceSync(ctx, rec).FirstErr(); err != nil {
				return
			}
			time.Sleep(50 * time.Millisecond)
		}
	}()
	t.Cleanup(func() { stop(); <-produced })
	r := newReader(t, src, sdk.Limits{MaxRecords: 1000, MaxBytes: 1 << 20, MaxWait: time.Second})
	batches := 0
	for len(r.offsets(0))+len(r.offsets(1)) < 60 && batches < 60 {
		if b := r.poll(); len(b.Partitions) > 0 {
			batches++
		}
	}
	if got := len(r.offsets(0)) + len(r.offsets(1)); got != 60 {
		t.Fatalf("read %d records in %d batches, want 60", got, batches)
	}
	// ~3 s of records at a 1 s interval: 3 or 4 batches (5 allows for a
	// slow start); a batch cut per arrival would make dozens.
	if batches > 5 {
		t.Errorf("60 records arriving over ~3 s made %d non-empty batches at a 1 s interval, want at most 5", batches)
	}
}

func TestTransactions(t *testing.T) {
	_, brokers := newBroker(t, 2)
	txn := newProducer(t, brokers, kgo.TransactionalID("kappa-test"))
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	inTxn := func(commit kgo.TransactionEndTry, prefix string, n int) {
		t.Helper()
		if err := txn.BeginTransaction(); err != nil {
			t.Fatal(err)
		}
		for i := range n {
			produce(t, txn, &kgo.Record{Partition: 0, Value: fmt.Appendf(nil, "%s-%d", prefix, i)})
		}
		if err := txn.EndTransaction(ctx, commit); err != nil {
			t.Fatal(err)
		}
	}
	// Offsets 0-4 committed, 5 marker, 6-10 aborted, 11 marker, 12-14
	// committed, 15 marker: the log ends in a marker.
	inTxn(kgo.TryCommit, "committed", 5)
	inTxn(kgo.TryAbort, "aborted", 5)
	inTxn(kgo.TryCommit, "again", 3)
	// Partition 1 holds plain records, to show both kinds side by side.
	plain := newProducer(t, brokers)
	for i := range 4 {
		produce(t, plain, &kgo.Record{Partition: 1, Value: fmt.Appendf(nil, "plain-%d", i)})
	}

	t.Run("read_committed", func(t *testing.T) {
		src := openSource(t, brokers, "")
		if err := src.Seek(context.Background(), nil); err != nil {
			t.Fatal(err)
		}
		marks, err := src.Watermarks(context.Background())
		if err != nil {
			t.Fatal(err)
		}
		if marks[0].End != 16 || marks[1].End != 4 {
			t.Fatalf("watermarks %+v, want partition 0 ending at 16, 1 at 4", marks)
		}
		r := newReader(t, src, quick)
		r.readUntil(8+4, 10*time.Second)
		waitForEnd(t, r, 0, marks[0].End)
		r.expectNoMore()
		want := []string{"committed-0", "committed-1", "committed-2", "committed-3", "committed-4", "again-0", "again-1", "again-2"}
		if got := r.values(0); !slices.Equal(got, want) {
			t.Errorf("values %q, want %q", got, want)
		}
		if got, want := r.offsets(0), []int64{0, 1, 2, 3, 4, 12, 13, 14}; !slices.Equal(got, want) {
			t.Errorf("offsets %v, want %v", got, want)
		}
		if r.starts[0] != 0 || r.ends[0] != 16 || r.ends[1] != 4 {
			t.Errorf("ranges end at %v, want partition 0 [0, 16), 1 at 4", r.ends)
		}
	})

	t.Run("read_uncommitted", func(t *testing.T) {
		src := openSource(t, brokers, "isolation: read_uncommitted\n")
		if err := src.Seek(context.Background(), nil); err != nil {
			t.Fatal(err)
		}
		r := newReader(t, src, quick)
		r.readUntil(13+4, 10*time.Second)
		waitForEnd(t, r, 0, 16)
		r.expectNoMore()
		// Every data record, aborted ones included, and no marker.
		want := slices.Concat(seq(0, 5), seq(6, 11), seq(12, 15))
		if got := r.offsets(0); !slices.Equal(got, want) {
			t.Errorf("offsets %v, want %v", got, want)
		}
	})
}

// waitForEnd polls until partition p's ranges reach end: a trailing marker
// may arrive in a Poll of its own, as a range without records.
func waitForEnd(t *testing.T, r *reader, p int32, end int64) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for r.ends[p] < end {
		if time.Now().After(deadline) {
			t.Fatalf("partition %d: ranges reach %d, want %d", p, r.ends[p], end)
		}
		r.poll()
	}
}

func TestOpenUnreachableBroker(t *testing.T) {
	if testing.Short() {
		t.Skip("integration test: dials the network; run without -short")
	}
	// A broker that accepts connections and never answers: only the
	// timeout can end Open.
	silent, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	var held []net.Conn // owned by the accepting goroutine until done closes
	done := make(chan struct{})
	go func() {
		defer close(done)
		for {
			c, err := silent.Accept()
			if err != nil {
				return // the listener was closed at the end of the test
			}
			held = append(held, c)
		}
	}()
	t.Cleanup(func() {
		silent.Close()
		<-done
		for _, c := range held {
			c.Close()
		}
	})

	for _, addr := range []string{"127.0.0.1:1", silent.Addr().String()} {
		t.Run(addr, func(t *testing.T) {
			began := time.Now()
			_, err := New().Open(context.Background(), sdk.Setup{
				Config: fmt.Appendf(nil, "brokers: %s\ntopic: twitter\ndial_timeout: 1s\n", addr),
			})
			took := time.Since(began)
			if err == nil {
				t.Fatalf("open against %s succeeded", addr)
			}
			if !strings.Contains(err.Error(), addr) {
				t.Errorf("error does not name the broker %s: %v", addr, err)
			}
			if took > 2*time.Second {
				t.Errorf("open took %v with dial_timeout 1s", took)
			}
			t.Logf("after %v: %v", took.Round(time.Millisecond), err)
		})
	}
}

func TestOpenMissingTopic(t *testing.T) {
	_, brokers := newBroker(t, 1)
	src := New()
	_, err := src.Open(context.Background(), sdk.Setup{Config: fmt.Appendf(nil, "brokers: %s\ntopic: no-such-topic\n", brokers)})
	if !errors.Is(err, kerr.UnknownTopicOrPartition) {
		t.Fatalf("got %v, want an unknown topic error", err)
	}
	if !strings.Contains(err.Error(), "no-such-topic") {
		t.Errorf("error does not name the topic: %v", err)
	}
}

func TestOpenRejectsBadConfig(t *testing.T) {
	_, err := New().Open(context.Background(), sdk.Setup{Config: []byte("brokers: a:1\n")})
	var errs sdk.ConfigErrors
	if !errors.As(err, &errs) || len(errs) != 1 || errs[0].Path != "topic" {
		t.Fatalf("got %v, want one config error at topic", err)
	}
}

func TestPollFailsWhenPositionWasDeleted(t *testing.T) {
	cluster, brokers := newBroker(t, 2)
	produce(t, newProducer(t, brokers), numbered(2, 0, 10)...)
	if err := cluster.DeleteRecords(testTopic, 0, 6); err != nil {
		t.Fatalf("delete records: %v", err)
	}
	src := openSource(t, brokers, "")
	if err := src.Seek(context.Background(), []sdk.Position{{Partition: 0, NextOffset: 2}}); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(10 * time.Second)
	for time.Now().Before(deadline) {
		batch, err := src.Poll(context.Background(), quick)
		if err == nil {
			for _, pb := range batch.Partitions {
				if pb.Partition == 0 {
					t.Fatalf("partition 0 read [%d, %d) past deleted records", pb.Start, pb.End)
				}
			}
			continue
		}
		var oor *OffsetOutOfRangeError
		if !errors.As(err, &oor) || !errors.Is(err, kerr.OffsetOutOfRange) {
			t.Fatalf("got %v, want an OffsetOutOfRangeError", err)
		}
		if oor.Partition != 0 || oor.Offset != 2 || oor.LogStart != 6 || oor.HighWatermark != 10 {
			t.Errorf("got %+v, want partition 0 offset 2 log start 6 high watermark 10", oor)
		}
		t.Logf("error reads: %v", err)
		return
	}
	t.Fatal("no out-of-range error within 10s")
}

func TestPollBeforeSeek(t *testing.T) {
	if _, err := New().Poll(context.Background(), quick); !errors.Is(err, errPollBeforeSeek) {
		t.Fatalf("got %v, want errPollBeforeSeek", err)
	}
}

func TestPollReturnsContextError(t *testing.T) {
	_, brokers := newBroker(t, 1)
	src := openSource(t, brokers, "")
	if err := src.Seek(context.Background(), nil); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
	defer cancel()
	_, err := src.Poll(ctx, sdk.Limits{MaxRecords: 10, MaxWait: 10 * time.Second})
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("got %v, want the caller's deadline", err)
	}
	// MaxWait passing on an empty topic is not an error; the first batch
	// reports where the partition starts, as an empty range.
	batch, err := src.Poll(context.Background(), sdk.Limits{MaxRecords: 10, MaxWait: 100 * time.Millisecond})
	if err != nil || len(batch.Partitions) != 1 || batch.Partitions[0].OffsetRange != (sdk.OffsetRange{}) {
		t.Fatalf("got %+v, %v; want only the anchor [0, 0) of partition 0", batch, err)
	}
	batch, err = src.Poll(context.Background(), sdk.Limits{MaxRecords: 10, MaxWait: 100 * time.Millisecond})
	if err != nil || len(batch.Partitions) != 0 {
		t.Fatalf("got %+v, %v; want an empty batch", batch, err)
	}
}

// With on_out_of_range: skip, a position whose records were deleted moves
// to the log start, and the next range covers the deleted offsets as Lost:
// nothing deleted is counted, nothing after it is missed, ranges stay
// contiguous.
func TestSkipDeletedRecordsRecordsTheGap(t *testing.T) {
	cluster, brokers := newBroker(t, 2)
	produce(t, newProducer(t, brokers), numbered(2, 0, 10)...)
	if err := cluster.DeleteRecords(testTopic, 0, 6); err != nil {
		t.Fatalf("delete records: %v", err)
	}
	src := openSource(t, brokers, "on_out_of_range: skip\n")
	if err := src.Seek(context.Background(), []sdk.Position{{Partition: 0, NextOffset: 2}}); err != nil {
		t.Fatal(err)
	}
	var ranges []sdk.PartitionBatch
	deadline := time.Now().Add(10 * time.Second)
	for next := int64(2); next < 10 && time.Now().Before(deadline); {
		batch, err := src.Poll(context.Background(), quick)
		if err != nil {
			t.Fatalf("poll with on_out_of_range: skip: %v", err)
		}
		for _, pb := range batch.Partitions {
			if pb.Partition != 0 {
				continue
			}
			if pb.Start != next {
				t.Fatalf("range [%d, %d) does not start at %d", pb.Start, pb.End, next)
			}
			next = pb.End
			ranges = append(ranges, pb)
		}
	}
	var lost int64
	var offsets []int64
	for _, r := range ranges {
		lost += r.Lost
		for _, rec := range r.Records {
			offsets = append(offsets, rec.Offset)
		}
	}
	if lost != 4 || !slices.Equal(offsets, []int64{6, 7, 8, 9}) {
		t.Fatalf("lost %d offsets and read %v; want 4 lost ([2, 6)) and 6..9 read; ranges %+v", lost, offsets, ranges)
	}
}
