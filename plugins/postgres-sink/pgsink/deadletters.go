package pgsink

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/kappa-stream/kappa/internal/deadletter"
	"github.com/kappa-stream/kappa/sdk"
)

// Dead letters, as in mysql-sink: with `dead_letters: TABLE` the sink keeps
// every rejected record the runtime sends with a commit
// (sdk.Commit.DeadLetters) in TABLE, inserted in the commit's transaction
// (in the same round trip as the rows), so that a batch never lands
// without its dead letters nor they without it. Compaction rewrites only
// the aggregate and batches tables, so it never drops one; only
// dead_letters_retention deletes them, oldest first, in compaction passes.

var _ sdk.DeadLetterStore = (*Sink)(nil)

const (
	// expireBatch bounds one retention DELETE, so that it never holds
	// locks for long beside live commits.
	expireBatch = 10000
)

// deadLetterTable is the sink's dead-letter table and what it keeps; its
// zero value keeps none.
type deadLetterTable struct {
	deadletter.Keeping
	schema string
	insert string
}

func newDeadLetterTable(cfg Config) deadLetterTable {
	if cfg.DeadLetters == "" {
		return deadLetterTable{}
	}
	return deadLetterTable{
		Keeping: deadletter.FromConfig(cfg.Tables), schema: cfg.Schema,
		// A record read again after its positions were deleted by hand
		// replaces its dead letter rather than failing every commit.
		insert: "INSERT INTO " + qualified(cfg.Schema, cfg.DeadLetters) +
			` ("pipeline", "stream", "committed_at", "partition_id", "record_offset", "record_time", "reason", "value", "value_length", "truncated")` +
			` SELECT $1, $2, $3, u.* FROM unnest($4::integer[], $5::bigint[], $6::timestamp[], $7::text[], $8::bytea[], $9::bigint[], $10::boolean[]) AS u` +
			` ON CONFLICT ("pipeline", "stream", "partition_id", "record_offset") DO UPDATE SET "committed_at" = EXCLUDED."committed_at",` +
			` "record_time" = EXCLUDED."record_time", "reason" = EXCLUDED."reason", "value" = EXCLUDED."value",` +
			` "value_length" = EXCLUDED."value_length", "truncated" = EXCLUDED."truncated"`,
	}
}

// args turns dead letters into the insert's arguments, one array per column.
func (t deadLetterTable) args(pipeline, stream string, dead []sdk.DeadLetter, now time.Time) []any {
	n := len(dead)
	parts, offsets, times := make([]int32, n), make([]int64, n), make([]*time.Time, n)
	reasons, values, lengths, truncated := make([]string, n), make([][]byte, n), make([]int64, n), make([]bool, n)
	for i, d := range dead {
		if !d.Time.IsZero() {
			at := d.Time.UTC()
			times[i] = &at
		}
		// PostgreSQL text cannot hold NUL.
		parts[i], offsets[i], reasons[i] = d.Partition, d.Offset, deadletter.Reason(strings.ReplaceAll(d.Reason, "\x00", "\uFFFD"))
		values[i], lengths[i], truncated[i] = t.Stored(d)
	}
	return []any{pipeline, stream, now, parts, offsets, times, reasons, values, lengths, truncated}
}

// DeadLetterPolicy says whether the sink keeps dead letters: whether its
// config names a dead_letters table.
func (s *Sink) DeadLetterPolicy(context.Context) (sdk.DeadLetterPolicy, error) {
	if s.db == nil {
		return sdk.DeadLetterPolicy{}, errNotOpen
	}
	return s.dead.Policy(), nil
}

// DeadLetters lists the pipeline's dead letters that q selects, in the
// order of stream, partition and offset (the table's key; the stream
// column compares bytes, COLLATE "C", as Go compares strings).
func (s *Sink) DeadLetters(ctx context.Context, q sdk.DeadLetterQuery) ([]sdk.StoredDeadLetter, error) {
	if s.db == nil {
		return nil, errNotOpen
	}
	pipeline, _ := s.bound() // a swap rebinds it (generations.go)
	if err := s.dead.Listable("postgres-sink"); err != nil {
		return nil, err
	}
	var args []any
	arg := func(v any) string {
		args = append(args, v)
		return fmt.Sprintf("$%d", len(args))
	}
	where := deadletter.Where(pipeline, q, quoteIdent, arg)
	query := `SELECT "stream", "partition_id", "record_offset", "record_time", "reason", "value", "value_length", "committed_at" FROM ` +
		qualified(s.dead.schema, s.dead.Table) + " WHERE " + where + ` ORDER BY "stream", "partition_id", "record_offset"`
	if q.Limit > 0 {
		query += " LIMIT " + arg(q.Limit)
	}
	rows, err := s.db.Query(ctx, query, args...)
	if err != nil {
		return nil, fmt.Errorf("postgres-sink: read dead letters from %s: %w", s.dead.Table, err)
	}
	out, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (d sdk.StoredDeadLetter, err error) {
		var at *time.Time
		err = r.Scan(&d.Stream, &d.Partition, &d.Offset, &at, &d.Reason, &d.Value, &d.Length, &d.CommittedAt)
		if at != nil {
			d.Time = at.UTC()
		}
		d.CommittedAt = d.CommittedAt.UTC()
		return d, err
	})
	if err != nil {
		return nil, fmt.Errorf("postgres-sink: read dead letters from %s: %w", s.dead.Table, err)
	}
	return out, nil
}

// expireDeadLetters deletes the pipeline's dead letters committed longer
// ago than dead_letters_retention, in bounded DELETEs, and logs how many.
func (s *Sink) expireDeadLetters(ctx context.Context) error {
	cutoff, ok := s.dead.ExpireBefore(time.Now())
	if !ok {
		return nil
	}
	pipeline, _ := s.bound() // a swap rebinds it (generations.go)
	table := qualified(s.dead.schema, s.dead.Table)
	var total int64
	for {
		tag, err := s.db.Exec(ctx, "DELETE FROM "+table+` WHERE ctid IN (SELECT ctid FROM `+table+
			` WHERE "pipeline" = $1 AND "committed_at" < $2 LIMIT `+fmt.Sprint(expireBatch)+`)`, pipeline, cutoff)
		if err != nil {
			return fmt.Errorf("postgres-sink: expire dead letters in %s: %w", s.dead.Table, err)
		}
		total += tag.RowsAffected()
		if tag.RowsAffected() < expireBatch || ctx.Err() != nil {
			break
		}
	}
	s.dead.LogExpired(total)
	return nil
}
