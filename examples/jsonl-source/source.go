package main

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"time"

	"github.com/kappa-stream/kappa/sdk"
)

// Config is the `config:` block.
type Config struct {
	// Files are the JSON-lines files, partition i being Files[i]. Relative
	// paths are relative to the folder kappa-runtime runs in. Append lines
	// to them freely; never reorder the list or rewrite a file.
	Files []string `yaml:"files" required:"true" doc:"JSON-lines files, one partition each, in order"`
	// Stream names what is read; positions are kept under it. Default "jsonl".
	Stream string `yaml:"stream" doc:"names what is read; positions are kept under it"`
}

// defaultConfig is what a config block is decoded over: the defaults, in
// one place, for Open and Describe.
func defaultConfig() Config { return Config{Stream: "jsonl"} }

// Validate implements sdk.Validator.
func (c *Config) Validate() error {
	if len(c.Files) == 0 {
		return sdk.ConfigError{Path: "files", Message: "must list at least one file"}
	}
	return nil
}

// Describe implements sdk.Describer, for kappa-runtime plugins and validate.
func (*Files) Describe() sdk.Info {
	cfg := defaultConfig()
	return sdk.Info{Version: "0.1.0", Description: "Reads JSON-lines files; offsets are line numbers.", Config: &cfg}
}

// Files reads the lines of files. A line is a record once it ends in a
// newline, so a line still being written is read on a later poll.
type Files struct {
	cfg   Config
	parts []partition
}

// partition is one file and where reading continues in it.
type partition struct {
	path string
	line int64 // the next line to read: the offset of the next record
	byte int64 // where that line starts
}

func (s *Files) Open(_ context.Context, setup sdk.Setup) (sdk.SourceInfo, error) {
	s.cfg = defaultConfig()
	if err := sdk.DecodeConfig(setup.Config, &s.cfg); err != nil {
		return sdk.SourceInfo{}, err
	}
	s.parts = make([]partition, len(s.cfg.Files))
	var errs sdk.ConfigErrors
	for i, path := range s.cfg.Files {
		if _, err := os.Stat(path); err != nil {
			errs = append(errs, sdk.ConfigError{Path: fmt.Sprintf("files[%d]", i), Message: err.Error()})
		}
		s.parts[i] = partition{path: path}
	}
	if len(errs) > 0 {
		return sdk.SourceInfo{}, errs
	}
	return sdk.SourceInfo{Stream: s.cfg.Stream}, nil
}

// Seek finds the byte where each position's line starts by counting
// newlines from the top of the file.
func (s *Files) Seek(_ context.Context, positions []sdk.Position) error {
	at := map[int32]int64{}
	for _, p := range positions {
		at[p.Partition] = p.NextOffset
	}
	for i := range s.parts {
		p := &s.parts[i]
		p.line, p.byte = 0, 0
		if err := p.scan(at[int32(i)], 1<<62, func([]byte) {}); err != nil {
			return err
		}
		if p.line != at[int32(i)] {
			return fmt.Errorf("jsonl-source: %s has %d complete lines, cannot seek to line %d", p.path, p.line, at[int32(i)])
		}
	}
	return nil
}

// scan reads up to n complete lines (and about maxBytes) from the current
// position, calling emit with each line without its newline.
func (p *partition) scan(n, maxBytes int64, emit func([]byte)) error {
	f, err := os.Open(p.path)
	if err != nil {
		return fmt.Errorf("jsonl-source: %w", err)
	}
	defer f.Close()
	if _, err := f.Seek(p.byte, io.SeekStart); err != nil {
		return fmt.Errorf("jsonl-source: %s: %w", p.path, err)
	}
	r := bufio.NewReaderSize(f, 1<<16)
	var read int64
	for i := int64(0); i < n && read < maxBytes; i++ {
		line, err := r.ReadBytes('\n')
		if errors.Is(err, io.EOF) {
			return nil // a line without its newline is not complete yet
		}
		if err != nil {
			return fmt.Errorf("jsonl-source: %s line %d: %w", p.path, p.line, err)
		}
		emit(bytes.TrimSuffix(line, []byte("\n")))
		p.line++
		p.byte += int64(len(line))
		read += int64(len(line))
	}
	return nil
}

// Poll reads the next lines of every file, waiting up to MaxWait for
// lines to be appended when there are none.
func (s *Files) Poll(ctx context.Context, limits sdk.Limits) (sdk.Batch, error) {
	deadline := time.Now().Add(limits.MaxWait)
	for {
		var b sdk.Batch
		records, budget := unlimited(int64(limits.MaxRecords)), unlimited(limits.MaxBytes)
		for i := range s.parts {
			p := &s.parts[i]
			pb := sdk.PartitionBatch{OffsetRange: sdk.OffsetRange{Partition: int32(i), Start: p.line}}
			err := p.scan(records, budget, func(line []byte) {
				pb.Records = append(pb.Records, sdk.Record{Partition: int32(i), Offset: p.line, Value: line})
				budget -= int64(len(line))
			})
			if err != nil {
				return sdk.Batch{}, err
			}
			if pb.End = p.line; pb.End > pb.Start {
				records -= pb.End - pb.Start
				b.Partitions = append(b.Partitions, pb)
			}
		}
		if len(b.Partitions) > 0 || !time.Now().Before(deadline) {
			return b, nil
		}
		select {
		case <-ctx.Done():
			return sdk.Batch{}, ctx.Err()
		case <-time.After(min(50*time.Millisecond, time.Until(deadline))):
		}
	}
}

func unlimited(n int64) int64 {
	if n <= 0 {
		return 1 << 62
	}
	return n
}

// Watermarks counts each file's complete lines.
func (s *Files) Watermarks(context.Context) ([]sdk.Watermark, error) {
	marks := make([]sdk.Watermark, len(s.parts))
	for i, p := range s.parts {
		lines, err := countLines(p.path)
		if err != nil {
			return nil, err
		}
		marks[i] = sdk.Watermark{Partition: int32(i), End: lines}
	}
	return marks, nil
}

func countLines(path string) (int64, error) {
	f, err := os.Open(path)
	if err != nil {
		return 0, fmt.Errorf("jsonl-source: %w", err)
	}
	defer f.Close()
	var n int64
	buf := make([]byte, 1<<16)
	for {
		k, err := f.Read(buf)
		n += int64(bytes.Count(buf[:k], []byte("\n")))
		if errors.Is(err, io.EOF) {
			return n, nil
		}
		if err != nil {
			return 0, fmt.Errorf("jsonl-source: %s: %w", path, err)
		}
	}
}

func (s *Files) Close(context.Context) error { return nil }
