package main

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/kappa-stream/kappa/sdk"
	"github.com/kappa-stream/kappa/sdk/conformance"
)

func setup(dir string, dims ...string) sdk.Setup {
	return sdk.Setup{Pipeline: "test", Window: time.Minute, Config: []byte("dir: " + dir + "\ntable: counts\n"), Dimensions: dims}
}

func TestConformance(t *testing.T) {
	dir := t.TempDir()
	conformance.TestSink(t, conformance.SinkFixture{New: func() sdk.Sink { return &CSV{} }, Setup: setup(dir)})
	conformance.TestSink(t, conformance.SinkFixture{New: func() sdk.Sink { return &CSV{} }, Setup: setup(filepath.Join(dir, "dims"), "lang")})
}

var minute = time.Date(2016, 6, 1, 19, 36, 0, 0, time.UTC)

func commit(p int32, start, end int64, dims ...string) sdk.Commit {
	r := sdk.OffsetRange{Partition: p, Start: start, End: end}
	return sdk.Commit{
		Stream: "twitter",
		Ranges: []sdk.RangeStats{{OffsetRange: r, Records: end - start, Facts: end - start}},
		Rows:   []sdk.Row{{OffsetRange: r, Window: minute, Dims: dims, Count: end - start}},
	}
}

// TestTornCommitIsCutOff: rows appended by a commit that died before its
// positions were renamed into place are not part of the table; the next
// commit replaces them.
func TestTornCommitIsCutOff(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	s := &CSV{}
	if err := s.Open(ctx, setup(dir, "lang")); err != nil {
		t.Fatal(err)
	}
	if err := s.Commit(ctx, commit(0, 0, 10, "en")); err != nil {
		t.Fatal(err)
	}
	rows := filepath.Join(dir, "counts.csv")
	f, err := os.OpenFile(rows, os.O_APPEND|os.O_WRONLY, 0)
	if err != nil {
		t.Fatal(err)
	}
	f.WriteString("0,10,20,2016-06-01 19:36:00,en,10\n0,10,2") // the dead commit's rows
	f.Close()
	if err := s.Commit(ctx, commit(0, 10, 15, "fr")); err != nil {
		t.Fatal(err)
	}
	got, err := os.ReadFile(rows)
	if err != nil {
		t.Fatal(err)
	}
	want := "partition_id,start_offset,end_offset,timestamp,lang,count\n" +
		"0,0,10,2016-06-01 19:36:00,en,10\n" +
		"0,10,15,2016-06-01 19:36:00,fr,5\n"
	if string(got) != want {
		t.Errorf("%s:\n%s\nwant\n%s", rows, got, want)
	}
	ps, err := s.Positions(ctx, "twitter")
	if err != nil || len(ps) != 1 || ps[0].NextOffset != 15 {
		t.Errorf("positions %v, %v; want partition 0 at 15", ps, err)
	}
}

func TestOpenRefusesAFileWithOtherColumns(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	s := &CSV{}
	if err := s.Open(ctx, setup(dir)); err != nil {
		t.Fatal(err)
	}
	if err := s.Commit(ctx, commit(0, 0, 10)); err != nil {
		t.Fatal(err)
	}
	if err := (&CSV{}).Open(ctx, setup(dir, "lang")); err == nil {
		t.Error("opened counts.csv, written without dimensions, for a pipeline with dimension lang")
	}
}

func TestConfigNeedsADir(t *testing.T) {
	err := (&CSV{}).Open(context.Background(), sdk.Setup{Pipeline: "p", Config: []byte("{}")})
	var problems sdk.ConfigErrors
	if !errors.As(err, &problems) || problems[0].Path != "dir" {
		t.Errorf("Open without dir: %v, want a problem at dir", err)
	}
}
