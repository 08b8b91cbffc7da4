package command

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"strconv"
	"text/tabwriter"
	"time"
	"unicode/utf8"

	"github.com/kappa-stream/kappa/internal/pipeline"
	"github.com/kappa-stream/kappa/internal/pluginclient"
	"github.com/kappa-stream/kappa/sdk"
)

// rejectedPage is how many dead letters one call to the sink returns: at
// the default 64 KiB each, at most 16 MiB an answer.
const rejectedPage = 256

// RejectedQuery selects the dead letters `kappa-runtime rejected` lists.
type RejectedQuery struct {
	Reason    string
	Partition *int32
	// Limit is the most dead letters listed; 0 for all.
	Limit int
}

// ReadRejected starts and opens only the pipeline's sink and hands each
// dead letter q selects to each, in the order of stream, partition and offset,
// reading them a page at a time.
func ReadRejected(ctx context.Context, file string, q RejectedQuery, each func(sdk.StoredDeadLetter) error) error {
	p, err := pipeline.Load(file)
	if err != nil {
		return err
	}
	sink, closeSink, err := openSinkOnly(ctx, p)
	if err != nil {
		return err
	}
	defer closeSink()
	store, ok := sink.(sdk.DeadLetterStore)
	if !ok {
		return fmt.Errorf("%s: sink: %w", p.File, pluginclient.ErrDeadLettersUnsupported)
	}
	policy, err := store.DeadLetterPolicy(ctx)
	if errors.Is(err, pluginclient.ErrDeadLettersUnsupported) || err == nil && !policy.Enabled {
		return fmt.Errorf("%s: the sink keeps no dead letters: its config sets none (mysql-sink: dead_letters: TABLE)", p.File)
	}
	if err != nil {
		return fmt.Errorf("%s: sink: %w", p.File, err)
	}
	listed := 0
	var after *sdk.DeadLetterPosition
	for q.Limit == 0 || listed < q.Limit {
		n := rejectedPage
		if q.Limit > 0 {
			n = min(n, q.Limit-listed)
		}
		page, err := store.DeadLetters(ctx, sdk.DeadLetterQuery{Reason: q.Reason, Partition: q.Partition, After: after, Limit: n})
		if err != nil {
			return fmt.Errorf("%s: sink: %w", p.File, err)
		}
		for _, d := range page {
			if err := each(d); err != nil {
				return err
			}
		}
		listed += len(page)
		if len(page) < n {
			break
		}
		last := page[len(page)-1]
		after = &sdk.DeadLetterPosition{Stream: last.Stream, Partition: last.Partition, Offset: last.Offset}
	}
	return nil
}

// RejectedTable lists dead letters readably: one line each, with its
// position, times, reason, length and the start of its bytes, quoted.
type RejectedTable struct {
	tw    *tabwriter.Writer
	lines int
}

// previewBytes is how many bytes of a value a listed line shows.
const previewBytes = 60

// NewRejectedTable writes a table to w; Flush ends it.
func NewRejectedTable(w io.Writer) *RejectedTable {
	t := &RejectedTable{tw: tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)}
	fmt.Fprintln(t.tw, "PARTITION\tOFFSET\tRECORD TIME\tCOMMITTED\tREASON\tBYTES\tVALUE")
	return t
}

// Add lists d.
func (t *RejectedTable) Add(d sdk.StoredDeadLetter) {
	size := strconv.FormatInt(d.Length, 10)
	if d.Truncated() {
		size += fmt.Sprintf(" (kept %d)", len(d.Value))
	}
	fmt.Fprintf(t.tw, "%d\t%d\t%s\t%s\t%s\t%s\t%s\n", d.Partition, d.Offset, timeOrDash(d.Time), timeOrDash(d.CommittedAt),
		d.Reason, size, preview(d.Value))
	t.lines++
}

// Flush writes the table out, and a line counting what it listed.
func (t *RejectedTable) Flush() error {
	if err := t.tw.Flush(); err != nil {
		return err
	}
	_, err := fmt.Fprintf(t.tw, "%d rejected records\n", t.lines)
	if err == nil {
		err = t.tw.Flush()
	}
	return err
}

func timeOrDash(t time.Time) string {
	if t.IsZero() {
		return "-"
	}
	return t.UTC().Format("2006-01-02T15:04:05.000Z")
}

// preview quotes the first bytes of v (Go syntax: escapes for control
// characters and bytes that are not UTF-8), with … when there are more.
func preview(v []byte) string {
	cut := v
	if len(cut) > previewBytes {
		cut = cut[:previewBytes]
		for i := 0; i < utf8.UTFMax && len(cut) > 0 && !utf8.Valid(cut); i++ {
			cut = cut[:len(cut)-1] // do not split a character
		}
		if len(cut) == 0 {
			cut = v[:previewBytes]
		}
	}
	s := strconv.Quote(string(cut))
	if len(cut) < len(v) {
		s += "…"
	}
	return s
}

// RawWriter writes dead letters' bytes exactly, each followed by a
// delimiter ("\n" by default), for `kcat -P` to produce them again. A
// record it cannot write so that the replay gets it back as it was is
// left out and counted: one whose bytes hold the delimiter (kcat would
// split it in two; choose another delimiter, kcat -D takes the same), an
// empty one (kcat -P skips empty lines), and one the sink kept only the
// start of (truncated).
type RawWriter struct {
	w     io.Writer
	delim []byte
	// Written counts the records written, LeftOut those left out, and
	// Reasons says, per left-out record, why.
	Written, LeftOut int
	Reasons          []string
}

// NewRawWriter writes to w, each record followed by delim ("\n" when empty).
func NewRawWriter(w io.Writer, delim []byte) *RawWriter {
	if len(delim) == 0 {
		delim = []byte("\n")
	}
	return &RawWriter{w: w, delim: delim}
}

// Write writes d's bytes and the delimiter, or leaves d out.
func (r *RawWriter) Write(d sdk.StoredDeadLetter) error {
	why := ""
	switch {
	case d.Truncated():
		why = fmt.Sprintf("truncated: the sink kept %d of its %d bytes", len(d.Value), d.Length)
	case len(d.Value) == 0:
		why = "empty: kcat -P skips empty lines, so it would not be produced again"
	case bytes.Contains(d.Value, r.delim):
		why = fmt.Sprintf("its bytes contain the delimiter %s, which would split it in two (choose another with --delimiter)", strconv.Quote(string(r.delim)))
	}
	if why != "" {
		r.LeftOut++
		r.Reasons = append(r.Reasons, fmt.Sprintf("partition %d, offset %d: left out: %s", d.Partition, d.Offset, why))
		return nil
	}
	if _, err := r.w.Write(d.Value); err != nil {
		return err
	}
	if _, err := r.w.Write(r.delim); err != nil {
		return err
	}
	r.Written++
	return nil
}

// ParseDelimiter reads a delimiter written with Go's escapes, as kcat's
// -D takes it: `\n`, `\x1e`, `\t`, `;;`.
func ParseDelimiter(s string) ([]byte, error) {
	u, err := strconv.Unquote(`"` + s + `"`)
	if err != nil || u == "" {
		return nil, fmt.Errorf("delimiter %q: want bytes written with Go's escapes, such as \\n or \\x1e", s)
	}
	return []byte(u), nil
}
