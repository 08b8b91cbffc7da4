package mysqlsink

import (
	"context"
	"database/sql"
	"fmt"
	"strings"
	"time"

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
	// deadLetterReasonChars bounds the stored reason; a longer one is cut.
	deadLetterReasonChars = 1024
	// expireBatch bounds one retention DELETE, so that it never holds
	// locks for long beside live commits.
	expireBatch = 10000
)

func deadLettersSchema(table string) tableSchema {
	return tableSchema{
		Name: table,
		Columns: []column{
			{Name: "pipeline", Type: "varchar(191) NOT NULL", DataType: "varchar", Length: 191},
			{Name: "stream", Type: "varchar(255) NOT NULL", DataType: "varchar", Length: 255},
			{Name: "partition_id", Type: "int NOT NULL", DataType: "int"},
			{Name: "record_offset", Type: "bigint NOT NULL", DataType: "bigint"},
			// the record's Kafka timestamp, UTC; NULL when the source gave none
			{Name: "record_time", Type: "datetime(6) NULL", DataType: "datetime", Nullable: true},
			{Name: "reason", Type: fmt.Sprintf("varchar(%d) NOT NULL", deadLetterReasonChars), DataType: "varchar", Length: deadLetterReasonChars},
			// the value's first dead_letters_max_bytes bytes
			{Name: "value", Type: "mediumblob NOT NULL", DataType: "mediumblob"},
			{Name: "value_length", Type: "bigint NOT NULL", DataType: "bigint"},
			{Name: "truncated", Type: "tinyint NOT NULL", DataType: "tinyint"},
			{Name: "committed_at", Type: "datetime(6) NOT NULL", DataType: "datetime"},
		},
		PrimaryKey: []string{"pipeline", "stream", "partition_id", "record_offset"},
		Indexes:    []index{{Name: "kappa_committed", Columns: []string{"pipeline", "committed_at"}}},
		Charset:    "utf8mb4 COLLATE=utf8mb4_bin",
	}
}

// deadLetterTable is the sink's dead-letter table and what it keeps; its
// zero value keeps none.
type deadLetterTable struct {
	name      string // "" when off
	maxBytes  int
	retention time.Duration
	insert    string // the INSERT's head, without its VALUES
	columns   int
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
		name: cfg.DeadLetters, maxBytes: cfg.DeadLettersMaxBytes, retention: cfg.DeadLettersRetention,
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
	return sdk.DeadLetterPolicy{Enabled: s.dead.name != "", MaxBytes: s.dead.maxBytes}, nil
}

// insertDeadLetters stores a commit's dead letters inside its transaction,
// in INSERTs of at most deadLetterChunkBytes of values each.
func (s *Sink) insertDeadLetters(ctx context.Context, tx *sql.Tx, stream string, dead []sdk.DeadLetter, now time.Time) error {
	if s.dead.name == "" || len(dead) == 0 {
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
			value := d.Value
			if len(value) > s.dead.maxBytes {
				value = value[:s.dead.maxBytes] // the runtime cut it already
			}
			var at any // NULL: no timestamp
			if !d.Time.IsZero() {
				at = d.Time.UTC()
			}
			// Never nil: the driver sends a nil []byte as NULL.
			args = append(args, s.pipeline, stream, d.Partition, d.Offset, at, cutReason(d.Reason),
				append([]byte{}, value...), max(d.Length, int64(len(value))), int64(len(value)) < d.Length, now)
		}
		query := fmt.Sprintf(s.dead.insert, placeholders(n, s.dead.columns))
		if _, err := tx.ExecContext(ctx, query, args...); err != nil {
			return fmt.Errorf("insert %d dead letters into %s: %w", n, s.dead.name, err)
		}
		dead = dead[n:]
	}
	return nil
}

// cutReason keeps a reason within its column, as valid UTF-8: a reason
// the column refused would fail every commit of the batch.
func cutReason(r string) string {
	r = strings.ToValidUTF8(r, "\uFFFD")
	if len([]rune(r)) <= deadLetterReasonChars {
		return r
	}
	return string([]rune(r)[:deadLetterReasonChars-1]) + "…"
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
	if s.dead.name == "" {
		return nil, sdk.Permanent(fmt.Errorf("mysql-sink: no dead letters kept: the sink's config sets no dead_letters table"))
	}
	where := []string{"`pipeline` = ?"}
	args := []any{s.pipeline}
	if q.Stream != "" {
		where, args = append(where, "`stream` = ?"), append(args, q.Stream)
	}
	if q.Reason != "" {
		where, args = append(where, "`reason` = ?"), append(args, q.Reason)
	}
	if q.Partition != nil {
		where, args = append(where, "`partition_id` = ?"), append(args, *q.Partition)
	}
	if q.After != nil {
		where = append(where, "(`stream` > ? OR `stream` = ? AND (`partition_id` > ? OR `partition_id` = ? AND `record_offset` > ?))")
		args = append(args, q.After.Stream, q.After.Stream, q.After.Partition, q.After.Partition, q.After.Offset)
	}
	query := "SELECT `stream`, `partition_id`, `record_offset`, `record_time`, `reason`, `value`, `value_length`, `committed_at` FROM " +
		quoteIdent(s.dead.name) + " WHERE " + strings.Join(where, " AND ") + " ORDER BY `stream`, `partition_id`, `record_offset`"
	if q.Limit > 0 {
		query += fmt.Sprintf(" LIMIT %d", q.Limit)
	}
	rows, err := s.db.QueryContext(ctx, query, args...)
	if err != nil {
		return nil, fmt.Errorf("mysql-sink: read dead letters from %s: %w", s.dead.name, err)
	}
	defer rows.Close()
	var out []sdk.StoredDeadLetter
	for rows.Next() {
		var d sdk.StoredDeadLetter
		var at sql.NullTime
		if err := rows.Scan(&d.Stream, &d.Partition, &d.Offset, &at, &d.Reason, &d.Value, &d.Length, &d.CommittedAt); err != nil {
			return nil, fmt.Errorf("mysql-sink: read dead letters from %s: %w", s.dead.name, err)
		}
		if at.Valid {
			d.Time = at.Time.UTC()
		}
		d.CommittedAt = d.CommittedAt.UTC()
		out = append(out, d)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("mysql-sink: read dead letters from %s: %w", s.dead.name, err)
	}
	return out, nil
}

// expireDeadLetters deletes the pipeline's dead letters committed longer
// ago than dead_letters_retention, in bounded DELETEs; it returns how many.
func (s *Sink) expireDeadLetters(ctx context.Context) (int64, error) {
	if s.dead.name == "" || s.dead.retention <= 0 {
		return 0, nil
	}
	cutoff := time.Now().UTC().Add(-s.dead.retention)
	var total int64
	for {
		res, err := s.db.ExecContext(ctx, "DELETE FROM "+quoteIdent(s.dead.name)+" WHERE `pipeline` = ? AND `committed_at` < ? LIMIT "+fmt.Sprint(expireBatch),
			s.pipeline, cutoff)
		if err != nil {
			return total, fmt.Errorf("mysql-sink: expire dead letters in %s: %w", s.dead.name, err)
		}
		n, _ := res.RowsAffected()
		total += n
		if n < expireBatch || ctx.Err() != nil {
			return total, nil
		}
	}
}

// checkDeadLetters makes sure every dead letter lies inside one of the
// commit's ranges: one outside would be a record no batch row accounts for.
func checkDeadLetters(ranges []sdk.RangeStats, dead []sdk.DeadLetter) error {
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

// expireDeadLettersLogged is expireDeadLetters for a compaction pass,
// which logs what it deleted.
func (s *Sink) expireDeadLettersLogged(ctx context.Context) error {
	n, err := s.expireDeadLetters(ctx)
	if n > 0 {
		sdk.Logger().Info("dead letters expired", "table", s.dead.name, "deleted", n, "retention", s.dead.retention.String())
	}
	return err
}
