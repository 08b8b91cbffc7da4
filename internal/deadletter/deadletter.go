// Package deadletter is the database-free half of a SQL sink's dead
// letters (sdk.DeadLetterStore): what a sink keeps of a rejected record,
// where a commit's dead letters may lie, which of them a query selects and
// from where a page goes on. mysql-sink and postgres-sink keep the rows in
// their own SQL and share this logic, so that both keep and list alike.
package deadletter

import (
	"fmt"
	"strings"
	"time"

	"github.com/kappa-stream/kappa/internal/sinkconfig"
	"github.com/kappa-stream/kappa/sdk"
)

// ReasonChars bounds a stored reason; a longer one is cut.
const ReasonChars = 1024

// Keeping is what a sink's config says about dead letters; its zero value
// keeps none.
type Keeping struct {
	Table     string // "" when none are kept
	MaxBytes  int
	Retention time.Duration
}

// FromConfig reads the dead-letter keys of a sink's config.
func FromConfig(t sinkconfig.Tables) Keeping {
	if t.DeadLetters == "" {
		return Keeping{}
	}
	return Keeping{Table: t.DeadLetters, MaxBytes: t.DeadLettersMaxBytes, Retention: t.DeadLettersRetention}
}

// Policy is what the sink tells the runtime (sdk.DeadLetterPolicy).
func (k Keeping) Policy() sdk.DeadLetterPolicy {
	return sdk.DeadLetterPolicy{Enabled: k.Table != "", MaxBytes: k.MaxBytes}
}

// Listable refuses a listing when none are kept; plugin names the sink.
func (k Keeping) Listable(plugin string) error {
	if k.Table == "" {
		return sdk.Permanent(fmt.Errorf("%s: no dead letters kept: the sink's config sets no dead_letters table", plugin))
	}
	return nil
}

// ExpireBefore says which dead letters dead_letters_retention lets a
// compaction pass delete: those committed before the time returned; ok is
// false when none expire.
func (k Keeping) ExpireBefore(now time.Time) (cutoff time.Time, ok bool) {
	if k.Table == "" || k.Retention <= 0 {
		return time.Time{}, false
	}
	return now.UTC().Add(-k.Retention), true
}

// LogExpired logs what a compaction pass deleted.
func (k Keeping) LogExpired(deleted int64) {
	if deleted > 0 {
		sdk.Logger().Info("dead letters expired", "table", k.Table, "deleted", deleted, "retention", k.Retention.String())
	}
}

// Stored is what the table keeps of d: its value's first MaxBytes bytes
// (the runtime cut it already; never nil, which drivers send as NULL),
// the value's full length and whether the value was cut.
func (k Keeping) Stored(d sdk.DeadLetter) (value []byte, length int64, truncated bool) {
	value = d.Value
	if len(value) > k.MaxBytes {
		value = value[:k.MaxBytes]
	}
	if value == nil {
		value = []byte{}
	}
	return value, max(d.Length, int64(len(value))), int64(len(value)) < d.Length
}

// Reason keeps a reason within its column, as valid UTF-8: a reason the
// column refused would fail every commit of the batch.
func Reason(r string) string {
	r = strings.ToValidUTF8(r, "\uFFFD")
	if len([]rune(r)) <= ReasonChars {
		return r
	}
	return string([]rune(r)[:ReasonChars-1]) + "…"
}

// InRanges makes sure every dead letter lies inside one of the commit's
// ranges: one outside would be a record no batch row accounts for.
func InRanges(ranges []sdk.RangeStats, dead []sdk.DeadLetter) error {
	for _, d := range dead {
		inside := false
		for _, r := range ranges {
			if r.Partition == d.Partition && d.Offset >= r.Start && d.Offset < r.End {
				inside = true
				break
			}
		}
		if !inside {
			return fmt.Errorf("dead letter of partition %d, offset %d lies outside the commit's ranges", d.Partition, d.Offset)
		}
	}
	return nil
}

// Where is the condition that selects the pipeline's dead letters q asks
// for, in a dialect: quote quotes a column name, arg binds a value and
// returns its placeholder. A page goes on after q.After in the table's
// key order (stream, partition, offset).
func Where(pipeline string, q sdk.DeadLetterQuery, quote func(string) string, arg func(any) string) string {
	where := []string{quote("pipeline") + " = " + arg(pipeline)}
	if q.Stream != "" {
		where = append(where, quote("stream")+" = "+arg(q.Stream))
	}
	if q.Reason != "" {
		where = append(where, quote("reason")+" = "+arg(q.Reason))
	}
	if q.Partition != nil {
		where = append(where, quote("partition_id")+" = "+arg(*q.Partition))
	}
	if a := q.After; a != nil {
		stream, partition, offset := quote("stream"), quote("partition_id"), quote("record_offset")
		where = append(where, fmt.Sprintf("(%s > %s OR %s = %s AND (%s > %s OR %s = %s AND %s > %s))",
			stream, arg(a.Stream), stream, arg(a.Stream), partition, arg(a.Partition), partition, arg(a.Partition), offset, arg(a.Offset)))
	}
	return strings.Join(where, " AND ")
}
