package main

import (
	"context"
	"encoding/csv"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/kappa-stream/kappa/sdk"
)

// Config is the `config:` block.
type Config struct {
	// Dir holds the files; created when missing. Required.
	Dir string `yaml:"dir" required:"true" doc:"folder of the CSV and positions files; created when missing"`
	// Table names the files: TABLE.csv for the rows, TABLE.positions.json
	// for the positions, TABLE.lock to serialize writers. Default: the
	// pipeline's name.
	Table string `yaml:"table" doc:"base name of the files; default: the pipeline's name"`
}

// Validate implements sdk.Validator.
func (c *Config) Validate() error {
	if c.Dir == "" {
		return sdk.ConfigError{Path: "dir", Message: "must not be empty: the folder for the CSV and positions files"}
	}
	if strings.ContainsAny(c.Table, `/\`) {
		return sdk.ConfigError{Path: "table", Message: "must be a file name, not a path"}
	}
	return nil
}

// CSV is the sink. Rows are appended to TABLE.csv; TABLE.positions.json
// holds every partition's position and how many bytes of TABLE.csv are
// committed. A commit appends, syncs, then replaces the positions file by
// rename: that rename is the commit. Bytes past the committed length are
// a commit that never happened, and the next commit cuts them off.
type CSV struct {
	pipeline string
	header   []string
	rows     string // paths
	state    string
	lock     string
}

// Describe implements sdk.Describer, for kappa-runtime plugins and validate.
func (*CSV) Describe() sdk.Info {
	return sdk.Info{Version: "0.1.0", Description: "Appends aggregate rows to a CSV file; positions kept beside it, swapped atomically.", Config: &Config{}}
}

// state is the positions file.
type state struct {
	// RowsBytes is the committed length of the CSV file.
	RowsBytes int64 `json:"rows_bytes"`
	// Positions maps pipeline → stream → partition → next offset.
	Positions map[string]map[string]map[int32]int64 `json:"positions"`
}

func (s *CSV) Open(_ context.Context, setup sdk.Setup) error {
	var cfg Config
	if err := sdk.DecodeConfig(setup.Config, &cfg); err != nil {
		return err
	}
	if cfg.Table == "" {
		cfg.Table = setup.Pipeline
	}
	if setup.Sums() {
		// Kept small on purpose: this example stores counts only.
		return errors.New("csv-sink: stores counts only; drop `sum` from the pipeline's aggregates")
	}
	if err := os.MkdirAll(cfg.Dir, 0o755); err != nil {
		return fmt.Errorf("csv-sink: %w", err)
	}
	base := filepath.Join(cfg.Dir, cfg.Table)
	s.pipeline = setup.Pipeline
	s.rows, s.state, s.lock = base+".csv", base+".positions.json", base+".lock"
	s.header = append(append([]string{"partition_id", "start_offset", "end_offset", "timestamp"}, setup.Dimensions...), "count")
	st, err := s.read()
	if err != nil || st.RowsBytes == 0 {
		return err
	}
	f, err := os.Open(s.rows)
	if err != nil {
		return fmt.Errorf("csv-sink: %w", err)
	}
	defer f.Close()
	have, err := csv.NewReader(f).Read()
	if err != nil || !slices.Equal(have, s.header) {
		return fmt.Errorf("csv-sink: %s has columns %v, this pipeline writes %v; use another table", s.rows, have, s.header)
	}
	return nil
}

// read returns the committed state; a missing file is the empty state.
func (s *CSV) read() (state, error) {
	st := state{Positions: map[string]map[string]map[int32]int64{}}
	data, err := os.ReadFile(s.state)
	if errors.Is(err, fs.ErrNotExist) {
		return st, nil
	}
	if err == nil {
		err = json.Unmarshal(data, &st)
	}
	if err != nil {
		return state{}, fmt.Errorf("csv-sink: read positions: %w", err)
	}
	return st, nil
}

func (s *CSV) Positions(_ context.Context, stream string) ([]sdk.Position, error) {
	st, err := s.read()
	if err != nil {
		return nil, err
	}
	var ps []sdk.Position
	for p, next := range st.Positions[s.pipeline][stream] {
		ps = append(ps, sdk.Position{Partition: p, NextOffset: next})
	}
	return ps, nil
}

func (s *CSV) Commit(_ context.Context, c sdk.Commit) error {
	// The lock makes read-check-write one step for every writer, this
	// process or another: a zombie's commit waits, then finds the
	// positions moved and is fenced.
	lock, err := os.OpenFile(s.lock, os.O_CREATE|os.O_RDWR, 0o644)
	if err != nil {
		return fmt.Errorf("csv-sink: %w", err)
	}
	defer lock.Close() // closing releases the lock
	if err := syscall.Flock(int(lock.Fd()), syscall.LOCK_EX); err != nil {
		return fmt.Errorf("csv-sink: lock %s: %w", s.lock, err)
	}
	st, err := s.read()
	if err != nil {
		return err
	}
	if st.Positions[s.pipeline] == nil {
		st.Positions[s.pipeline] = map[string]map[int32]int64{}
	}
	positions := st.Positions[s.pipeline][c.Stream]
	if positions == nil {
		positions = map[int32]int64{}
		st.Positions[s.pipeline][c.Stream] = positions
	}
	for _, r := range c.Ranges {
		if at, ok := positions[r.Partition]; ok && at != r.Start {
			return fmt.Errorf("csv-sink: partition %d is at %d, the batch starts at %d: %w", r.Partition, at, r.Start, sdk.ErrFenced)
		}
	}
	if st.RowsBytes, err = s.append(st.RowsBytes, c.Rows); err != nil {
		return fmt.Errorf("csv-sink: %w", err)
	}
	for _, r := range c.Ranges {
		positions[r.Partition] = r.End
	}
	return s.replaceState(st)
}

// append cuts the CSV file to its committed length, appends rows (and the
// header to an empty file), syncs, and returns the new length.
func (s *CSV) append(committed int64, rows []sdk.Row) (int64, error) {
	f, err := os.OpenFile(s.rows, os.O_CREATE|os.O_WRONLY, 0o644)
	if err != nil {
		return 0, err
	}
	defer f.Close()
	if err := f.Truncate(committed); err != nil {
		return 0, err
	}
	if _, err := f.Seek(committed, 0); err != nil {
		return 0, err
	}
	w := csv.NewWriter(f)
	if committed == 0 {
		w.Write(s.header)
	}
	for _, r := range rows {
		if r.Sum != 0 {
			return 0, fmt.Errorf("row of partition %d: sum %v has no column", r.Partition, r.Sum)
		}
		rec := []string{strconv.Itoa(int(r.Partition)), strconv.FormatInt(r.Start, 10), strconv.FormatInt(r.End, 10), r.Window.UTC().Format(time.DateTime)}
		w.Write(append(append(rec, r.Dims...), strconv.FormatInt(r.Count, 10)))
	}
	w.Flush()
	if err := w.Error(); err != nil {
		return 0, err
	}
	if err := f.Sync(); err != nil {
		return 0, err
	}
	return f.Seek(0, 1)
}

// replaceState writes st to a temporary file and renames it over the
// positions file, syncing both so that the rename survives a power cut.
func (s *CSV) replaceState(st state) error {
	data, err := json.Marshal(st)
	if err != nil {
		return fmt.Errorf("csv-sink: %w", err)
	}
	tmp := s.state + ".tmp"
	f, err := os.Create(tmp)
	if err != nil {
		return fmt.Errorf("csv-sink: %w", err)
	}
	_, err = f.Write(data)
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Rename(tmp, s.state)
	}
	if err == nil {
		err = syncDir(filepath.Dir(s.state))
	}
	if err != nil {
		return fmt.Errorf("csv-sink: commit positions (outcome unknown, re-read positions): %w", err)
	}
	return nil
}

func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	defer d.Close()
	return d.Sync()
}

func (s *CSV) Close(context.Context) error { return nil }
