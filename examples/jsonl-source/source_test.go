package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/kappa-stream/kappa/sdk"
	"github.com/kappa-stream/kappa/sdk/conformance"
)

// writeFiles writes n files of the given line counts and returns the
// config naming them.
func writeFiles(t *testing.T, lines ...int) (sdk.Setup, []string) {
	t.Helper()
	dir := t.TempDir()
	var paths []string
	for i, n := range lines {
		var b strings.Builder
		for j := range n {
			fmt.Fprintf(&b, `{"file":%d,"line":%d}`+"\n", i, j)
		}
		path := filepath.Join(dir, fmt.Sprintf("part-%d.jsonl", i))
		if err := os.WriteFile(path, []byte(b.String()), 0o644); err != nil {
			t.Fatal(err)
		}
		paths = append(paths, path)
	}
	return sdk.Setup{Config: []byte("files: ['" + strings.Join(paths, "', '") + "']\n")}, paths
}

func TestConformance(t *testing.T) {
	setup, _ := writeFiles(t, 30, 1, 17, 0)
	conformance.TestSource(t, conformance.SourceFixture{
		New:     func() sdk.Source { return &Files{} },
		Setup:   setup,
		Records: 48,
	})
}

func TestLineNumbersAreOffsetsAndPartialLinesWait(t *testing.T) {
	ctx := context.Background()
	setup, paths := writeFiles(t, 5)
	s := &Files{}
	if _, err := s.Open(ctx, setup); err != nil {
		t.Fatal(err)
	}
	if err := s.Seek(ctx, []sdk.Position{{Partition: 0, NextOffset: 3}}); err != nil {
		t.Fatal(err)
	}
	f, err := os.OpenFile(paths[0], os.O_APPEND|os.O_WRONLY, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	f.WriteString(`{"file":0,"line":5}` + "\n" + `{"file":0,"li`) // the last line is still being written
	b, err := s.Poll(ctx, sdk.Limits{MaxRecords: 100})
	if err != nil {
		t.Fatal(err)
	}
	if len(b.Partitions) != 1 || b.Partitions[0].Start != 3 || b.Partitions[0].End != 6 {
		t.Fatalf("batch %+v, want lines [3, 6) of partition 0", b)
	}
	if got := string(b.Partitions[0].Records[2].Value); got != `{"file":0,"line":5}` || b.Partitions[0].Records[2].Offset != 5 {
		t.Errorf("record at line 5 = %d %q", b.Partitions[0].Records[2].Offset, got)
	}
	f.WriteString("ne\":6}\n")
	b, err = s.Poll(ctx, sdk.Limits{MaxRecords: 100})
	if err != nil {
		t.Fatal(err)
	}
	if len(b.Partitions) != 1 || b.Partitions[0].Start != 6 || b.Partitions[0].End != 7 || string(b.Partitions[0].Records[0].Value) != `{"file":0,"line":6}` {
		t.Fatalf("after the line was finished: batch %+v, want line 6 alone", b)
	}
}

func TestSeekPastTheEndFails(t *testing.T) {
	ctx := context.Background()
	setup, _ := writeFiles(t, 5)
	s := &Files{}
	if _, err := s.Open(ctx, setup); err != nil {
		t.Fatal(err)
	}
	if err := s.Seek(ctx, []sdk.Position{{Partition: 0, NextOffset: 6}}); err == nil {
		t.Error("seek to line 6 of a 5-line file succeeded; a committed position past the end means the file was rewritten")
	}
}

func TestConfigProblemsNameTheirKey(t *testing.T) {
	for config, path := range map[string]string{
		"files: []\n":              "files",
		"files: [/no/such/file]\n": "files[0]",
		"files: [a]\nstreem: x\n":  "streem",
		"files: {a: b}\n":          "files",
	} {
		_, err := (&Files{}).Open(context.Background(), sdk.Setup{Config: []byte(config)})
		var problems sdk.ConfigErrors
		if !errors.As(err, &problems) || problems[0].Path != path {
			t.Errorf("config %q: error %v, want a problem at %s", config, err, path)
		}
	}
}
