package sdk

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"reflect"
	"slices"
	"testing"
	"time"

	"github.com/hashicorp/go-plugin"
)

// The shims are tested over a real gRPC connection (go-plugin's in-process
// test connection), without starting processes.

type echoSource struct {
	sought  []Position
	batch   Batch
	pollErr error // returned by Poll instead of batch when set
}

func (s *echoSource) Open(_ context.Context, setup Setup) (SourceInfo, error) {
	if string(setup.Config) == "bad" {
		return SourceInfo{}, ConfigErrors{{Path: "topic", Message: "must not be empty"}, {Path: "start", Message: "must be earliest or latest"}}
	}
	return SourceInfo{Stream: setup.Pipeline + "-stream", Group: string(setup.Config)}, nil
}
func (s *echoSource) Seek(_ context.Context, ps []Position) error { s.sought = ps; return nil }
func (s *echoSource) Poll(context.Context, Limits) (Batch, error) {
	if s.pollErr != nil {
		return Batch{}, s.pollErr
	}
	return s.batch, nil
}
func (s *echoSource) Watermarks(context.Context) ([]Watermark, error) {
	return []Watermark{{Partition: 3, Start: 1, End: 9}}, nil
}
func (s *echoSource) Close(context.Context) error { return errors.New("close failed") }

type recordingSink struct{ got Commit }

func (s *recordingSink) Open(context.Context, Setup) error { return nil }
func (s *recordingSink) Positions(context.Context, string) ([]Position, error) {
	return []Position{{Partition: 0, NextOffset: 42}}, nil
}
func (s *recordingSink) Commit(_ context.Context, c Commit) error {
	s.got = c
	if c.Stream == "stale" {
		return fmt.Errorf("partition 0 at 50, not 42: %w", ErrFenced)
	}
	return nil
}
func (s *recordingSink) Close(context.Context) error { return nil }

type lengthExtractor struct{}

func (lengthExtractor) Open(context.Context, Setup) error { return nil }
func (lengthExtractor) Close(context.Context) error       { return nil }
func (lengthExtractor) Extract(_ context.Context, rs []Record, out *Extraction) error {
	for i, r := range rs {
		switch {
		case len(r.Value) == 0:
			out.Reject(i, "empty payload")
		case r.Value[0] == '!':
			out.Skip(i, "notice")
		default:
			out.Fact(Fact{Record: i, Time: r.Time, Dims: []string{string(r.Key)}, Value: float64(len(r.Value))})
		}
	}
	return nil
}

func dispense(t *testing.T, kind string, p plugin.Plugin) any {
	t.Helper()
	client, _ := plugin.TestPluginGRPCConn(t, false, map[string]plugin.Plugin{kind: p})
	t.Cleanup(func() { client.Close() })
	raw, err := client.Dispense(kind)
	if err != nil {
		t.Fatal(err)
	}
	return raw
}

func TestSourceShimRoundTrip(t *testing.T) {
	when := time.Date(2016, 6, 1, 19, 36, 0, 0, time.UTC)
	impl := &echoSource{batch: Batch{Partitions: []PartitionBatch{{
		OffsetRange:   OffsetRange{Partition: 2, Start: 10, End: 13},
		HighWatermark: 20,
		Records: []Record{
			{Partition: 2, Offset: 10, Key: []byte("k"), Value: []byte("v\x00\xff"), Time: when},
			{Partition: 2, Offset: 12, Value: []byte("w"), Time: when},
		},
	}}}}
	src := dispense(t, KindSource, &sourcePlugin{impl: impl}).(Source)
	ctx := context.Background()

	info, err := src.Open(ctx, Setup{Pipeline: "p"})
	if err != nil || info.Stream != "p-stream" {
		t.Fatalf("Open = %+v, %v", info, err)
	}
	if err := src.Seek(ctx, []Position{{Partition: 1, NextOffset: 7}}); err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(impl.sought, []Position{{Partition: 1, NextOffset: 7}}) {
		t.Errorf("Seek delivered %v", impl.sought)
	}
	got, err := src.Poll(ctx, Limits{MaxRecords: 5})
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(got.Partitions, impl.batch.Partitions) {
		t.Errorf("Poll = %+v, want %+v", got.Partitions, impl.batch.Partitions)
	}
	ws, err := src.Watermarks(ctx)
	if err != nil || !reflect.DeepEqual(ws, []Watermark{{Partition: 3, Start: 1, End: 9}}) {
		t.Errorf("Watermarks = %v, %v", ws, err)
	}
	if err := src.Close(ctx); err == nil || err.Error() != "source close: close failed" {
		t.Errorf("Close = %v, want the plugin's error with its operation", err)
	}
}

func TestConfigErrorsCrossTheBoundary(t *testing.T) {
	src := dispense(t, KindSource, &sourcePlugin{impl: &echoSource{}}).(Source)
	_, err := src.Open(context.Background(), Setup{Config: []byte("bad")})
	var errs ConfigErrors
	if !errors.As(err, &errs) {
		t.Fatalf("Open = %v, want ConfigErrors", err)
	}
	want := ConfigErrors{{Path: "topic", Message: "must not be empty"}, {Path: "start", Message: "must be earliest or latest"}}
	if !reflect.DeepEqual(errs, want) {
		t.Errorf("got %v, want %v", errs, want)
	}
}

func TestSinkShimCarriesCommitsAndFencing(t *testing.T) {
	impl := &recordingSink{}
	sink := dispense(t, KindSink, &sinkPlugin{impl: impl}).(Sink)
	ctx := context.Background()
	ps, err := sink.Positions(ctx, "twitter")
	if err != nil || !reflect.DeepEqual(ps, []Position{{Partition: 0, NextOffset: 42}}) {
		t.Fatalf("Positions = %v, %v", ps, err)
	}
	commit := Commit{
		Stream: "twitter",
		Ranges: []RangeStats{{OffsetRange: OffsetRange{Partition: 0, Start: 42, End: 50}, Records: 8, Facts: 6, Skipped: 1, Rejected: 1}},
		Rows:   []Row{{OffsetRange: OffsetRange{Partition: 0, Start: 42, End: 50}, Window: time.Date(2016, 6, 1, 19, 36, 0, 0, time.UTC), Dims: []string{"en"}, Count: 6, Sum: 1.5, FirstOffset: 44}},
	}
	if err := sink.Commit(ctx, commit); err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(impl.got, commit) {
		t.Errorf("sink received %+v, want %+v", impl.got, commit)
	}
	commit.Stream = "stale"
	if err := sink.Commit(ctx, commit); !errors.Is(err, ErrFenced) {
		t.Errorf("stale commit = %v, want ErrFenced", err)
	}
}

func TestExtractorShimKeepsOneOutcomePerRecord(t *testing.T) {
	x := dispense(t, KindExtractor, &extractorPlugin{impl: lengthExtractor{}}).(Extractor)
	when := time.Date(2016, 6, 1, 19, 36, 5, 0, time.UTC)
	records := []Record{
		{Partition: 4, Offset: 1, Key: []byte("en"), Value: []byte("hello"), Time: when},
		{Partition: 5, Offset: 2, Value: []byte("!delete")},
		{Partition: 4, Offset: 3},
	}
	var out Extraction
	if err := x.Extract(context.Background(), records, &out); err != nil {
		t.Fatal(err)
	}
	want := Extraction{
		Facts:    []Fact{{Record: 0, Time: when, Dims: []string{"en"}, Value: 5}},
		Skipped:  []Verdict{{Record: 1, Reason: "notice"}},
		Rejected: []Verdict{{Record: 2, Reason: "empty payload"}},
	}
	if !reflect.DeepEqual(out, want) {
		t.Errorf("Extract = %+v, want %+v", out, want)
	}

	// The plugin reuses its memory from call to call: a smaller batch
	// after a larger one is read alone.
	var again Extraction
	if err := x.Extract(context.Background(), records[1:2], &again); err != nil {
		t.Fatal(err)
	}
	if want := (Extraction{Skipped: []Verdict{{Record: 0, Reason: "notice"}}}); !reflect.DeepEqual(again, want) {
		t.Errorf("second Extract = %+v, want %+v", again, want)
	}
}

// keepingExtractor copies the records it is given: their bytes are valid
// only during Extract.
type keepingExtractor struct{ got []Record }

func (*keepingExtractor) Open(context.Context, Setup) error { return nil }
func (*keepingExtractor) Close(context.Context) error       { return nil }
func (x *keepingExtractor) Extract(_ context.Context, rs []Record, out *Extraction) error {
	for i, r := range rs {
		r.Key, r.Value = bytes.Clone(r.Key), bytes.Clone(r.Value)
		x.got = append(x.got, r)
		out.Skip(i, "kept")
	}
	return nil
}

func TestPolledBatchReachesTheExtractorAsPolled(t *testing.T) {
	when := time.Date(2016, 6, 1, 19, 36, 5, 0, time.UTC)
	batch := Batch{Partitions: []PartitionBatch{
		{OffsetRange: OffsetRange{Partition: 3, Start: 5, End: 7}, Records: []Record{
			{Partition: 3, Offset: 5, Value: []byte(`{"a":1}`), Time: when},
			{Partition: 3, Offset: 6, Key: []byte("k"), Value: []byte(`{"a":2}`)},
		}},
		{OffsetRange: OffsetRange{Partition: 0, Start: 9, End: 9}},
		{OffsetRange: OffsetRange{Partition: 1, Start: 0, End: 4}, Lost: 3, Records: []Record{
			{Partition: 1, Offset: 3, Value: []byte(`{"b":1}`), Time: when.Add(time.Second)},
		}},
	}}
	src := dispense(t, KindSource, &sourcePlugin{impl: &echoSource{batch: batch}}).(Source)
	impl := &keepingExtractor{}
	x := dispense(t, KindExtractor, &extractorPlugin{impl: impl}).(batchExtractor)

	polled, err := src.Poll(context.Background(), Limits{})
	if err != nil {
		t.Fatal(err)
	}
	if polled.wire == nil {
		t.Fatal("the polled batch kept no wire form to forward")
	}
	var out Extraction
	if err := x.ExtractBatch(context.Background(), polled, &out); err != nil {
		t.Fatal(err)
	}
	want := append(slices.Clone(batch.Partitions[0].Records), batch.Partitions[2].Records...)
	if !reflect.DeepEqual(impl.got, want) {
		t.Errorf("extractor got %+v, want %+v", impl.got, want)
	}
	if len(out.Skipped) != 3 {
		t.Errorf("outcomes %+v, want one per record", out)
	}

	// A batch made in the runtime, not polled, is encoded for the extractor.
	impl.got = nil
	if err := x.ExtractBatch(context.Background(), batch, &Extraction{}); err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(impl.got, want) {
		t.Errorf("extractor got %+v, want %+v", impl.got, want)
	}
}

// The runtime's views of a plugin (internal/pluginclient's Inspector and
// BatchExtractor), as the tests here reach the client halves.
type inspector interface {
	Describe(ctx context.Context) (Info, error)
	Validate(ctx context.Context, setup Setup) error
}

type batchExtractor interface {
	Extractor
	ExtractBatch(ctx context.Context, b Batch, out *Extraction) error
}
