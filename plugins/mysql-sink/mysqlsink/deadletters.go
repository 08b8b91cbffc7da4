package mysqlsink

import (
	"context"
	"database/sql"
	"fmt"
	"strings"
	"time"

	"github.com/kappa-stream/kappa/internal/deadletter"
	"github.com/kappa-stream/kappa/sdk"
)

// Dead letters: with `dead_letters: TABLE` the sink keeps every rejected
// record the runtime sends with a commit (sdk.Commit.DeadLetters) in
// TABLE, inserted in the commit's transaction, so that a batch never
// lands without its dead letters nor they without it. Compaction rewrites
// only the aggregate and batches tables, so it never drops one; only
// dead_letters_retention deletes them, oldest first, in compaction passes.

var _ sdk.DeadLetterStore = (*Sink)(nil)

// One INSERT's dead letters are kept under deadLetterChunkBytes so that it
// stays under MariaDB's max_allowed_packet (16 MiB by default); with
// interpolated values a value may take twice its bytes in the statement
// (sinkconfig.MaxDeadLetterBytes bounds a value).
const (
	deadLetterChunkBytes = 2 << 20
	// expireBatch bounds one retention DELETE, so that it never holds
	// locks for long beside live commits.
	expireBatch = 10000
)

// deadLetterTable is the sink's dead-letter table and what it keeps; its
// zero value keeps none.
type deadLetterTable struct {
	deadletter.Keeping
	insert  string // the INSERT's head, without its VALUES
	columns int
}

func newDeadLetterTable(cfg Config) deadLetterTable {
	if cfg.DeadLetters == "" {
		return deadLetterTable{}
	}
	schema := deadLettersSchema(cfg.DeadLetters)
	names := columnNames(schema)
	set := make([]string, 0, len(names))
	for _, n := range names[4:] {
		set = append(set, quoteIdent(n)+" = VALUES("+quoteIdent(n)+")")
	}
	return deadLetterTable{
		Keeping: deadletter.FromConfig(cfg.Tables),
		// A record read again after its positions were deleted by hand
		// replaces its dead letter rather than failing every commit.
		insert:  "INSERT INTO " + quoteIdent(cfg.DeadLetters) + " (" + quoteIdents(names) + ") VALUES %s ON DUPLICATE KEY UPDATE " + strings.Join(set, ", "),
		columns: len(names),
	}
}

// DeadLetterPolicy says whether the sink keeps dead letters: whether its
// config names a dead_letters table.
func (s *Sink) DeadLetterPolicy(context.Context) (sdk.DeadLetterPolicy, error) {
	if s.db == nil {
		return sdk.DeadLetterPolicy{}, errNotOpen
	}
	return s.dead.Policy(), nil
}

// insertDeadLetters stores a commit's dead letters inside its transaction,
// in INSERTs of at most deadLetterChunkBytes of values each.
func (s *Sink) insertDeadLetters(ctx context.Context, tx *sql.Tx, stream string, dead []sdk.DeadLetter, now time.Time) error {
	if s.dead.Table == "" || len(dead) == 0 {
		return nil
	}
	for len(dead) > 0 {
		n, size := 0, 0
		for n < len(dead) && n < maxRowsPerInsert && (n == 0 || size+len(dead[n].Value) <= deadLetterChunkBytes) {
			size += len(dead[n].Value)
			n++
		}
		args := make([]any, 0, n*s.dead.columns)
		for _, d := range dead[:n] {
			value, length, truncated := s.dead.Stored(d)
			var at any // NULL: no timestamp
			if !d.Time.IsZero() {
				at = d.Time.UTC()
			}
			args = append(args, s.pipeline, stream, d.Partition, d.Offset, at, deadletter.Reason(d.Reason),
				append([]byte{}, value...), length, truncated, now)
		}
		query := fmt.Sprintf(s.dead.insert, placeholders(n, s.dead.columns))
		if _, err := tx.ExecContext(ctx, query, args...); err != nil {
			return fmt.Errorf("insert %d dead letters into %s: %w", n, s.dead.Table, err)
		}
		dead = dead[n:]
	}
	return nil
}

// placeholders is "(?, …), (?, …)": rows groups of cols.
func placeholders(rows, cols int) string {
	one := "(" + strings.TrimSuffix(strings.Repeat("?, ", cols), ", ") + ")"
	return strings.TrimSuffix(strings.Repeat(one+", ", rows), ", ")
}

// DeadLetters lists the pipeline's dead letters that q selects, in the
// order of stream, partition and offset (the table's key).
func (s *Sink) DeadLetters(ctx context.Context, q sdk.DeadLetterQuery) ([]sdk.StoredDeadLetter, error) {
	if s.db == nil {
		return nil, errNotOpen
	}
	s.gen.mu.RLock() // a swap rebinds the pipeline key and statements (generations.go)
	defer s.gen.mu.RUnlock()
	if err := s.dead.Listable("mysql-sink"); err != nil {
		return nil, err
	}
	var args []any
	where := deadletter.Where(s.pipeline, q, quoteIdent, func(v any) string {
		args = append(args, v)
		return "?"
	})
	query := "SELECT `stream`, `partition_id`, `record_offset`, `record_time`, `reason`, `value`, `value_length`, `committed_at` FROM " +
		quoteIdent(s.dead.Table) + " WHERE " + where + " ORDER BY `stream`, `partition_id`, `record_offset`"
	if q.Limit > 0 {
		query += fmt.Sprintf(" LIMIT %d", q.Limit)
	}
	rows, err := s.db.QueryContext(ctx, query, args...)
	if err != nil {
		return nil, fmt.Errorf("mysql-sink: read dead letters from %s: %w", s.dead.Table, err)
	}
	defer rows.Close()
	var out []sdk.StoredDeadLetter
	for rows.Next() {
		var d sdk.StoredDeadLetter
		var at sql.NullTime
		if err := rows.Scan(&d.Stream, &d.Partition, &d.Offset, &at, &d.Reason, &d.Value, &d.Length, &d.CommittedAt); err != nil {
			return nil, fmt.Errorf("mysql-sink: read dead letters from %s: %w", s.dead.Table, err)
		}
		if at.Valid {
			d.Time = at.Time.UTC()
		}
		d.CommittedAt = d.CommittedAt.UTC()
		out = append(out, d)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("mysql-sink: read dead letters from %s: %w", s.dead.Table, err)
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
	var total int64
	defer func() { s.dead.LogExpired(total) }()
	for {
		res, err := s.db.ExecContext(ctx, "DELETE FROM "+quoteIdent(s.dead.Table)+" WHERE `pipeline` = ? AND `committed_at` < ? LIMIT "+fmt.Sprint(expireBatch),
			s.pipeline, cutoff)
		if err != nil {
			return fmt.Errorf("mysql-sink: expire dead letters in %s: %w", s.dead.Table, err)
		}
		n, _ := res.RowsAffected()
		total += n
		if n < expireBatch || ctx.Err() != nil {
			return nil
		}
	}
}
