package main

import (
	"bufio"
	"context"
	"fmt"
	"os"

	"github.com/kappa-stream/kappa/runtime/internal/command"
	"github.com/kappa-stream/kappa/sdk"
)

const rejectedUsage = `usage: kappa-runtime rejected [--reason R] [--partition P] [--limit N] [--raw [--delimiter D]] PIPELINE.yaml

Lists the records the pipeline rejected, as its sink kept them (dead
letters; mysql-sink: dead_letters: TABLE), in the order of stream, partition and
offset: position, the record's timestamp, when its batch committed, the
reason, its length and the start of its bytes. Only the sink is started.

--raw writes each record's bytes exactly, followed by the delimiter (a
newline by default), and nothing else, for a replay after a fix:

    kappa-runtime rejected --raw PIPELINE.yaml | kcat -b BROKER -P -t TOPIC

A record that could not come back as it was is left out and named on
stderr, and the exit status is 4: one whose bytes contain the delimiter
(kcat would split it; pick one they lack, e.g. --delimiter '\x1e' with
kcat -D '\x1e'), an empty one (kcat -P skips empty lines), and one the
sink kept only the start of (truncated).
`

func rejectedCommand(ctx context.Context, args []string) int {
	flags := newFlags("rejected", rejectedUsage)
	reason := flags.String("reason", "", "only records rejected for this reason (exactly as listed)")
	partition := flags.Int("partition", -1, "only this partition's records")
	limit := flags.Int("limit", 0, "list at most this many records (0: all)")
	raw := flags.Bool("raw", false, "write the records' bytes exactly, one record a line, for kcat -P")
	delimiter := flags.String("delimiter", `\n`, "with --raw: what follows each record, in Go's escapes (as kcat -D)")
	file, ok := pipelineArg(flags, args, func() bool { return *limit >= 0 && *partition >= -1 })
	if !ok {
		return 2
	}
	delim, err := command.ParseDelimiter(*delimiter)
	if err != nil {
		fmt.Fprintf(os.Stderr, "kappa-runtime rejected: %v\n", err)
		return 2
	}
	q := command.RejectedQuery{Reason: *reason, Limit: *limit}
	if *partition >= 0 {
		p := int32(*partition)
		q.Partition = &p
	}
	out := bufio.NewWriterSize(os.Stdout, 1<<20)
	if !*raw {
		table := command.NewRejectedTable(out)
		err := command.ReadRejected(ctx, file, q, func(d sdk.StoredDeadLetter) error { table.Add(d); return nil })
		if err == nil {
			err = table.Flush()
		}
		if err == nil {
			err = out.Flush()
		}
		if err != nil {
			return fail(err)
		}
		return 0
	}
	w := command.NewRawWriter(out, delim)
	err = command.ReadRejected(ctx, file, q, w.Write)
	if err == nil {
		err = out.Flush()
	}
	if err != nil {
		return fail(err)
	}
	for _, r := range w.Reasons {
		fmt.Fprintf(os.Stderr, "kappa-runtime rejected: %s\n", r)
	}
	if w.LeftOut > 0 {
		fmt.Fprintf(os.Stderr, "kappa-runtime rejected: wrote %d records, left out %d\n", w.Written, w.LeftOut)
		return 4
	}
	return 0
}
