package sdk

import (
	"context"
	"fmt"
	"reflect"
	"sync/atomic"
	"testing"
	"time"
)

// overlapExtractor is lengthExtractor, noting how many of its calls ran at
// once.
type overlapExtractor struct {
	lengthExtractor
	running, most atomic.Int32
}

func (x *overlapExtractor) Extract(ctx context.Context, rs []Record, out *Extraction) error {
	n := x.running.Add(1)
	defer x.running.Add(-1)
	for m := x.most.Load(); n > m && !x.most.CompareAndSwap(m, n); m = x.most.Load() {
	}
	time.Sleep(20 * time.Millisecond) // time for the other shares to start
	return x.lengthExtractor.Extract(ctx, rs, out)
}

func TestConcurrentExtractSplitsABatchAndJoinsItInOrder(t *testing.T) {
	records := make([]Record, 1000)
	for i := range records {
		switch i % 7 {
		case 0:
			records[i] = Record{Partition: int32(i % 3), Offset: int64(i)} // rejected: empty
		case 1:
			records[i] = Record{Partition: int32(i % 3), Offset: int64(i), Value: []byte("!notice")}
		default:
			records[i] = Record{Partition: int32(i % 3), Offset: int64(i), Key: []byte(fmt.Sprint(i % 5)), Value: make([]byte, i%13+1), Time: time.Unix(int64(i), 0).UTC()}
		}
	}
	var want Extraction
	if err := (lengthExtractor{}).Extract(context.Background(), records, &want); err != nil {
		t.Fatal(err)
	}
	impl := &overlapExtractor{}
	x := dispense(t, KindExtractor, &extractorPlugin{impl: impl, share: 3}).(Extractor)
	var got Extraction
	if err := x.Extract(context.Background(), records, &got); err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("a batch split into shares gave other outcomes than one call")
	}
	if impl.most.Load() < 2 {
		t.Errorf("at most %d calls ran at once, want the shares at once", impl.most.Load())
	}

	// Below two shares' worth of records, one call.
	impl.most.Store(0)
	if err := x.Extract(context.Background(), records[:300], &Extraction{}); err != nil {
		t.Fatal(err)
	}
	if impl.most.Load() != 1 {
		t.Errorf("%d calls at once for 300 records, want 1", impl.most.Load())
	}
}
