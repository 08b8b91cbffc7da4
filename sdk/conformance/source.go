package conformance

import (
	"bytes"
	"cmp"
	"context"
	"errors"
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/kappa-stream/kappa/sdk"
)

// SourceFixture is a source under test and the stream it reads.
type SourceFixture struct {
	// New returns a new, unopened source. The kit opens several at once;
	// each must read the same stream.
	New func() sdk.Source
	// Setup is what each source is opened with; Pipeline and Window
	// default to "conformance" and 1m.
	Setup sdk.Setup
	// Records is how many records the stream holds, all written before the
	// test runs and none while it runs. Give a few per partition: seeking
	// into the middle of a partition needs at least two.
	Records int
	// Timeout bounds each clause; default 60s.
	Timeout time.Duration
}

// TestSource runs the source contract as subtests of t.
func TestSource(t *testing.T, f SourceFixture) {
	t.Helper()
	testChecks(t, orDefault(f.Timeout), sourceChecks(f))
}

// CheckSource runs the source contract and returns every finding.
func CheckSource(ctx context.Context, f SourceFixture) error {
	return runChecks(ctx, orDefault(f.Timeout), sourceChecks(f))
}

func sourceChecks(f SourceFixture) []check {
	f.Setup = withDefaults(f.Setup)
	return []check{
		{"ReadsEveryRecordInContiguousRanges", func(ctx context.Context) error {
			src, err := openSource(ctx, f)
			if err != nil {
				return err
			}
			defer src.Close(context.WithoutCancel(ctx))
			_, err = readAll(ctx, src, nil, f.Records)
			return err
		}},
		{"SeekThenPollStartsAtTheSeekPosition", func(ctx context.Context) error {
			return checkSeek(ctx, f)
		}},
	}
}

func openSource(ctx context.Context, f SourceFixture) (sdk.Source, error) {
	src := f.New()
	if _, err := src.Open(ctx, f.Setup); err != nil {
		return nil, fmt.Errorf("open source: %w", err)
	}
	return src, nil
}

// partitionRead is what reading one partition returned.
type partitionRead struct {
	first   int64 // Start of the first range; -1 before any
	end     int64 // End of the last range
	records []sdk.Record
}

// pollLimits keeps batches small, so that every partition takes several
// polls and contiguity is tested between them.
var pollLimits = sdk.Limits{MaxRecords: 7, MaxBytes: 1 << 20, MaxWait: 200 * time.Millisecond}

// readAll seeks src to positions and polls until every partition reached
// the end its log had at the start, checking the range contract on every
// batch. want is the number of records expected (-1: any).
func readAll(ctx context.Context, src sdk.Source, positions []sdk.Position, want int) (map[int32]*partitionRead, error) {
	if err := src.Seek(ctx, positions); err != nil {
		return nil, fmt.Errorf("seek: %w", err)
	}
	marks, err := src.Watermarks(ctx)
	if err != nil {
		return nil, fmt.Errorf("watermarks: %w", err)
	}
	sought := map[int32]int64{}
	for _, p := range positions {
		sought[p.Partition] = p.NextOffset
	}
	reads := map[int32]*partitionRead{}
	goal := map[int32]int64{}
	for _, w := range marks {
		goal[w.Partition] = w.End
		start := w.Start
		if pos, ok := sought[w.Partition]; ok {
			start = pos
		}
		reads[w.Partition] = &partitionRead{first: -1, end: start}
	}
	done := func() bool {
		for p, end := range goal {
			if reads[p].end < end {
				return false
			}
		}
		return true
	}
	var findings []error
	for !done() {
		if ctx.Err() != nil {
			var behind []string
			for p, end := range goal {
				if reads[p].end < end {
					behind = append(behind, fmt.Sprintf("partition %d at %d of %d", p, reads[p].end, end))
				}
			}
			slices.Sort(behind)
			return reads, joinFindings(append(findings, violation(ErrIncomplete, "watermarks not reached in time: %v", behind)))
		}
		batch, err := src.Poll(ctx, pollLimits)
		if err != nil {
			return reads, fmt.Errorf("poll: %w", err)
		}
		seen := map[int32]bool{}
		for _, pb := range batch.Partitions {
			if seen[pb.Partition] {
				findings = append(findings, violation(ErrNotContiguous, "partition %d has two ranges in one batch", pb.Partition))
			}
			seen[pb.Partition] = true
			r, ok := reads[pb.Partition]
			if !ok { // a partition the watermarks did not know yet
				r = &partitionRead{first: -1, end: pb.Start}
				reads[pb.Partition] = r
			}
			if pb.Start != r.end || pb.End < pb.Start {
				findings = append(findings, violation(ErrNotContiguous, "partition %d: range [%d, %d) follows position %d", pb.Partition, pb.Start, pb.End, r.end))
			}
			prev := pb.Start - 1
			for _, rec := range pb.Records {
				if rec.Offset <= prev || rec.Offset >= pb.End || rec.Partition != pb.Partition {
					findings = append(findings, violation(ErrRecordOutsideRange, "partition %d range [%d, %d): record of partition %d at offset %d after %d",
						pb.Partition, pb.Start, pb.End, rec.Partition, rec.Offset, prev))
				}
				prev = rec.Offset
			}
			if r.first < 0 {
				r.first = pb.Start
			}
			r.end = pb.End
			// Keys and values are the source's until its next Poll.
			for _, rec := range pb.Records {
				rec.Key, rec.Value = bytes.Clone(rec.Key), bytes.Clone(rec.Value)
				r.records = append(r.records, rec)
			}
		}
		if len(findings) > 10 {
			break // enough to go on; a broken source may never finish
		}
	}
	if want >= 0 && len(findings) == 0 {
		var n int
		for _, r := range reads {
			n += len(r.records)
		}
		if n != want {
			findings = append(findings, violation(ErrIncomplete, "read %d records up to the watermarks, the stream holds %d", n, want))
		}
	}
	return reads, joinFindings(findings)
}

// checkSeek reads everything, then with a second source seeks into the
// middle of every partition that has two records or more and reads again:
// each such partition's first range must start at the seek position and
// its records must equal the first read's from that offset on. Seeking the
// same source back to the start must then replay the first read.
func checkSeek(ctx context.Context, f SourceFixture) error {
	first, err := openSource(ctx, f)
	if err != nil {
		return err
	}
	defer first.Close(context.WithoutCancel(ctx))
	all, err := readAll(ctx, first, nil, f.Records)
	if err != nil {
		return fmt.Errorf("first read: %w", err)
	}
	var positions []sdk.Position
	for p, r := range all {
		if len(r.records) >= 2 {
			positions = append(positions, sdk.Position{Partition: p, NextOffset: r.records[len(r.records)/2].Offset})
		}
	}
	if len(positions) == 0 {
		return fmt.Errorf("fixture: no partition holds two records; write more")
	}
	second, err := openSource(ctx, f)
	if err != nil {
		return err
	}
	defer second.Close(context.WithoutCancel(ctx))
	var findings []error
	for round, seek := range [][]sdk.Position{positions, startPositions(all)} {
		got, err := readAll(ctx, second, seek, -1)
		if err != nil {
			return fmt.Errorf("read after seek %d: %w", round+1, err)
		}
		for _, pos := range seek {
			r := got[pos.Partition]
			if r == nil {
				findings = append(findings, violation(ErrNotContiguous, "seek %d: partition %d sought to %d, then not read", round+1, pos.Partition, pos.NextOffset))
				continue
			}
			if r.first >= 0 && r.first != pos.NextOffset {
				findings = append(findings, violation(ErrNotContiguous, "seek %d: partition %d sought to %d, first range starts at %d", round+1, pos.Partition, pos.NextOffset, r.first))
				continue
			}
			want := recordsFrom(all[pos.Partition].records, pos.NextOffset)
			if d := diffRecords(r.records, want); d != "" {
				findings = append(findings, violation(ErrReplayDiffers, "seek %d: partition %d from %d: %s", round+1, pos.Partition, pos.NextOffset, d))
			}
		}
	}
	return joinFindings(findings)
}

func startPositions(all map[int32]*partitionRead) []sdk.Position {
	var ps []sdk.Position
	for p, r := range all {
		if r.first >= 0 {
			ps = append(ps, sdk.Position{Partition: p, NextOffset: r.first})
		}
	}
	return ps
}

func recordsFrom(rs []sdk.Record, offset int64) []sdk.Record {
	i, _ := slices.BinarySearchFunc(rs, offset, func(r sdk.Record, o int64) int { return cmp.Compare(r.Offset, o) })
	return rs[i:]
}

func diffRecords(got, want []sdk.Record) string {
	for i := range min(len(got), len(want)) {
		g, w := got[i], want[i]
		if g.Offset != w.Offset || !bytes.Equal(g.Key, w.Key) || !bytes.Equal(g.Value, w.Value) {
			return fmt.Sprintf("record %d is offset %d %q, was offset %d %q", i, g.Offset, g.Value, w.Offset, w.Value)
		}
	}
	if len(got) != len(want) {
		return fmt.Sprintf("%d records, was %d", len(got), len(want))
	}
	return ""
}

func joinFindings(errs []error) error { return errors.Join(errs...) }
