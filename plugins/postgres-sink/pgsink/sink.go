// Package pgsink is Kappa's PostgreSQL sink: it stores per-window
// aggregates together with the positions they were read up to, in one
// transaction per batch, so that a crash can neither lose nor double count.
// It keeps mysql-sink's contract and tables, in a schema of the DSN's
// database (`aggregates` by default):
//   - the aggregate table, laid out like the 2016 job's table (plus one
//     column per dimension, and `sum` when declared), one row per
//     (range, window[, dims]), so that the original query runs unchanged;
//   - the offsets table, one row per (pipeline, stream, partition) holding
//     next_offset: the single source of truth for progress;
//   - the batches table, one row per committed range, for audits;
//   - the tables table, the pipeline owning each aggregate table.
//
// Commit sends, in one round trip, an UPDATE that advances every
// partition's position only where it still is the range's Start, and the
// INSERTs of the rows and batch records (each one statement over arrays,
// whatever the number of rows); the UPDATE's row count is the fence.
package pgsink

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/kappa-stream/kappa/internal/commitcheck"
	"github.com/kappa-stream/kappa/internal/deadletter"
	"github.com/kappa-stream/kappa/internal/sinkconfig"
	"github.com/kappa-stream/kappa/sdk"
)

var _ sdk.Sink = (*Sink)(nil)

// openTimeout bounds Open's connecting and schema work when the caller's
// context has no earlier deadline.
const openTimeout = 15 * time.Second

// Sink is the PostgreSQL sink. Once Open has returned, Positions and
// Commit may be called from several goroutines; Open and Close must not
// race them.
type Sink struct {
	pipeline   string
	dimensions int
	// sums is whether the aggregate table has a sum column.
	sums bool
	// server names the server in messages, without the password.
	server string
	schema string
	db     *pgxpool.Pool
	stmts  statements
	// dead is the dead-letter table; zero when the config sets none
	// (deadletters.go).
	dead deadLetterTable
	// gen is the generation the sink commits as (generations.go).
	gen binding
	// log takes Open's advice (sdk.Logger(); a test's own).
	log *slog.Logger
}

// New returns a sink that is ready to be opened.
func New() *Sink { return &Sink{log: sdk.Logger()} }

var errNotOpen = errors.New("postgres-sink: not open")

// Open checks the config, connects, creates the schema and the tables when
// missing, checks the layout of those that exist and claims the aggregate
// table for the pipeline.
func (s *Sink) Open(ctx context.Context, setup sdk.Setup) error {
	if s.db != nil {
		return errors.New("postgres-sink: already open")
	}
	cfg, err := ParseConfig(setup.Config)
	if err != nil {
		return err
	}
	if err := checkSetup(setup); err != nil {
		return fmt.Errorf("postgres-sink: %w", err)
	}
	if setup.Adopting {
		return sdk.Permanent(errors.New("postgres-sink: adopting a table another program wrote is MySQL-only (the 2016 job wrote MySQL)"))
	}
	pc, err := cfg.poolConfig()
	if err != nil {
		return fmt.Errorf("postgres-sink: dsn: %w", err)
	}
	cc := pc.ConnConfig
	server := fmt.Sprintf("%s:%d/%s as %s", cc.Host, cc.Port, cc.Database, cc.User)
	password := cc.Password

	ctx, cancel := context.WithTimeout(ctx, openTimeout)
	defer cancel()
	db, err := pgxpool.NewWithConfig(ctx, pc)
	if err == nil {
		err = db.Ping(ctx)
		if err != nil {
			db.Close()
		}
	}
	if err != nil {
		return fmt.Errorf("postgres-sink: connect to %s: %s", server, redact(err.Error(), password))
	}
	aggregate := aggregateSchema(cfg.Table, setup.Dimensions, setup.Sums())
	offsets := offsetsSchema(cfg.OffsetsTable)
	batches := batchesSchema(cfg.BatchesTable)
	err = ensureSchema(ctx, db, cfg.Schema)
	schemas := []tableSchema{offsets, batches, tablesSchema(cfg.TablesTable), generationsSchema()}
	if cfg.DeadLetters != "" {
		schemas = append(schemas, deadLettersSchema(cfg.DeadLetters))
	}
	for _, t := range schemas {
		if err == nil {
			err = ensureTable(ctx, db, cfg.Schema, t)
		}
	}
	// The generation decides which physical table and positions the
	// pipeline file stands for (generations.go).
	var gen *generation
	if err == nil {
		gen, err = openGeneration(ctx, db, cfg, setup)
		if gen != nil && gen.Physical != cfg.Table {
			aggregate.Name = gen.Physical
		}
	}
	// A reprocess not bound yet makes its own table later; the one under
	// the configured name may have another layout.
	if err == nil && (!setup.Reprocessing || gen != nil) {
		err = ensureTable(ctx, db, cfg.Schema, aggregate)
		if err == nil {
			suggestTimeIndex(ctx, s.log, db, cfg.Schema, aggregate)
		}
	}
	stmts := newStatements(cfg.Schema, offsets, aggregate, batches, cfg.TablesTable, len(setup.Dimensions), setup.Sums())
	// One opened to reprocess claims its generation's table when it makes
	// it; a later generation's table was handed over at its cutover.
	if err == nil && !setup.Reprocessing && (gen == nil || gen.Number == 1) {
		err = claimTable(ctx, db, setup.Pipeline, stmts)
		if err == nil && gen == nil {
			// The table was claimed now (it was empty, or its rows are
			// this pipeline's): a generation 1 of another name, with no
			// generation after it, becomes this pipeline's.
			err = reclaimGeneration1(ctx, db, cfg, setup)
			if err == nil {
				gen, err = openGeneration(ctx, db, cfg, setup)
			}
			if err == nil && gen == nil {
				err = fmt.Errorf("table %s.%s: no generation of pipeline %q", cfg.Schema, cfg.Table, setup.Pipeline)
			}
		}
	}
	if err != nil {
		db.Close()
		return fmt.Errorf("postgres-sink: %s: %w", server, err)
	}
	s.pipeline = setup.Pipeline
	s.dimensions = len(setup.Dimensions)
	s.sums = setup.Sums()
	s.server = server
	s.schema = cfg.Schema
	s.db = db
	s.stmts = stmts
	s.dead = newDeadLetterTable(cfg)
	s.gen.logical, s.gen.setup, s.gen.cfg = cfg.Table, setup, cfg
	s.gen.check = `SELECT "state" FROM ` + qualified(cfg.Schema, generationsTable) + ` WHERE "table_name" = $1 AND "generation" = $2 FOR SHARE`
	if gen != nil {
		s.bind(gen)
	}
	return nil
}

// checkSetup checks what the runtime passes besides the config block.
func checkSetup(setup sdk.Setup) error {
	var columns []string
	for _, c := range aggregateSchema("", nil, setup.Sums()).Columns {
		columns = append(columns, c.Name)
	}
	return sinkconfig.CheckSetup(setup, columns, "timestamp", checkIdentifier, nil)
}

// Positions returns the committed positions of this pipeline in stream.
func (s *Sink) Positions(ctx context.Context, stream string) ([]sdk.Position, error) {
	if s.db == nil {
		return nil, errNotOpen
	}
	// A swap rebinds the statements (generations.go).
	s.gen.mu.RLock()
	defer s.gen.mu.RUnlock()
	rows, err := s.db.Query(ctx, s.stmts.positions, s.pipeline, stream)
	if err != nil {
		return nil, fmt.Errorf("postgres-sink: read positions of stream %s: %w", stream, err)
	}
	positions, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (p sdk.Position, err error) {
		err = r.Scan(&p.Partition, &p.NextOffset, &p.StreamID, &p.CommittedAt)
		return p, err
	})
	if err != nil {
		return nil, fmt.Errorf("postgres-sink: read positions of stream %s: %w", stream, err)
	}
	return positions, nil
}

// Commit stores c in one transaction: for each range the position advances
// from Start to End only if it still is Start (or is created at End if the
// partition has none); the aggregate rows and one batches row per range
// are inserted. If a position differs, nothing is stored and the error is
// a *FencedError wrapping sdk.ErrFenced.
func (s *Sink) Commit(ctx context.Context, c sdk.Commit) error {
	if s.db == nil {
		return errNotOpen
	}
	ranges, err := s.checkCommit(c)
	if err == nil {
		err = deadletter.InRanges(ranges, c.DeadLetters)
	}
	if err != nil {
		// The same commit would fail the same way at every try.
		return sdk.Permanent(fmt.Errorf("postgres-sink: commit to stream %s: %w", c.Stream, err))
	}
	if len(ranges) == 0 {
		return nil
	}
	// A swap rebinds the statements (generations.go).
	s.gen.mu.RLock()
	defer s.gen.mu.RUnlock()
	err = s.commitTx(ctx, c.Stream, c.StreamID, ranges, c.Rows, c.DeadLetters, false)
	if errors.Is(err, errPositionsDiffer) {
		// Some partition has no position yet, or another writer moved it.
		// Only the partition-by-partition advance tells the two apart and
		// creates missing positions; it runs in a fresh transaction, so it
		// judges positions as they are now.
		err = s.commitTx(ctx, c.Stream, c.StreamID, ranges, c.Rows, c.DeadLetters, true)
	}
	// A statement that failed before the generation check (its table was
	// renamed by a swap) still reports a generation that ended.
	err = s.endedInstead(ctx, err)
	if err != nil {
		err = fmt.Errorf("postgres-sink: commit to stream %s: %w", c.Stream, err)
		if retryable(err) {
			// Trying again at once may succeed (sdk.ErrRetryable); the
			// runtime re-reads positions first, which resolves a COMMIT
			// whose outcome is unknown.
			return sdk.Retryable(err)
		}
		return err
	}
	return nil
}

// errPositionsDiffer says that the one-statement advance did not find every
// partition at its range's Start.
var errPositionsDiffer = errors.New("positions differ from the ranges' starts")

// commitTx runs one commit's transaction. Without each, the advance is one
// UPDATE sent with the INSERTs in one round trip; with it, each partition
// is advanced (or its position created) in turn, which tells a missing
// position from a moved one.
func (s *Sink) commitTx(ctx context.Context, stream, streamID string, ranges []sdk.RangeStats, rows []sdk.Row, dead []sdk.DeadLetter, each bool) (err error) {
	tx, err := s.db.Begin(ctx)
	if err != nil {
		return fmt.Errorf("begin: %w", err)
	}
	defer func() {
		if err != nil {
			// The rollback's own error adds nothing: the server discards an
			// unfinished transaction when its connection goes.
			_ = tx.Rollback(context.WithoutCancel(ctx))
		}
	}()
	now := time.Now().UTC()
	if each {
		for _, r := range ranges {
			if err := s.advance(ctx, tx, stream, streamID, r.OffsetRange, now); err != nil {
				return err
			}
		}
	}
	b := &pgx.Batch{}
	if !each {
		parts, starts, ends := make([]int32, len(ranges)), make([]int64, len(ranges)), make([]int64, len(ranges))
		for i, r := range ranges {
			parts[i], starts[i], ends[i] = r.Partition, r.Start, r.End
		}
		b.Queue(s.stmts.advanceAll, parts, starts, ends, streamID, now, s.pipeline, stream)
	}
	if len(rows) > 0 {
		b.Queue(s.stmts.insertRows, s.rowArgs(rows)...)
	}
	// An anchor (an empty range) has nothing to account for; its batch row
	// would also take the key of the range that follows it.
	read := slices.DeleteFunc(slices.Clone(ranges), func(r sdk.RangeStats) bool { return r.End == r.Start })
	if len(read) > 0 {
		b.Queue(s.stmts.insertBatches, batchArgs(s.pipeline, stream, read, now)...)
	}
	deadLetters := 0
	if s.dead.Table != "" && len(dead) > 0 {
		b.Queue(s.dead.insert, s.dead.args(s.pipeline, stream, dead, now)...)
		deadLetters = len(dead)
	}
	// Last: see generations.go.
	s.queueCheck(b)
	if err := s.sendCommitBatch(ctx, tx, b, len(ranges), !each, len(rows), len(read), deadLetters); err != nil {
		return err
	}
	testFault(beforeCommit)
	if err := tx.Commit(ctx); err != nil {
		return fmt.Errorf("commit transaction (outcome unknown, re-read positions): %w", err)
	}
	testFault(afterCommit)
	return nil
}

// sendCommitBatch sends b and checks its results in order: the advance
// first when withAdvance, whose matched-row count must be n.
func (s *Sink) sendCommitBatch(ctx context.Context, tx pgx.Tx, b *pgx.Batch, n int, withAdvance bool, rows, batches, deadLetters int) (err error) {
	br := tx.SendBatch(ctx, b)
	defer func() {
		if cerr := br.Close(); err == nil && cerr != nil {
			err = fmt.Errorf("send commit statements: %w", cerr)
		}
	}()
	if withAdvance {
		tag, err := br.Exec()
		if err != nil {
			return fmt.Errorf("advance %d partitions: %w", n, err)
		}
		if tag.RowsAffected() != int64(n) {
			// The INSERTs behind may fail on keys of the writer that moved
			// first; what matters is this.
			return errPositionsDiffer
		}
	}
	if rows > 0 {
		if _, err := br.Exec(); err != nil {
			return fmt.Errorf("insert %d aggregate rows into %s: %w", rows, s.stmts.aggregateTable, err)
		}
	}
	if batches > 0 {
		if _, err := br.Exec(); err != nil {
			return fmt.Errorf("insert %d batch records into %s: %w", batches, s.stmts.batchesTable, err)
		}
	}
	if deadLetters > 0 {
		if _, err := br.Exec(); err != nil {
			return fmt.Errorf("insert %d dead letters into %s: %w", deadLetters, s.dead.Table, err)
		}
	}
	return s.checkGeneration(ctx, tx, br)
}

// rowArgs turns rows into the insertRows statement's arrays, one per column.
func (s *Sink) rowArgs(rows []sdk.Row) []any {
	n := len(rows)
	starts, ends, windows, parts, counts := make([]int64, n), make([]int64, n), make([]time.Time, n), make([]int32, n), make([]int32, n)
	var sums []float64
	if s.sums {
		sums = make([]float64, n)
	}
	dims := make([][]string, s.dimensions)
	for d := range dims {
		dims[d] = make([]string, n)
	}
	for i, r := range rows {
		starts[i], ends[i], parts[i] = r.Start, r.End, r.Partition
		// pgx writes a timestamp's wall clock: it must be UTC's.
		windows[i] = r.Window.UTC()
		counts[i] = int32(r.Count) // checkCommit bounds it
		if s.sums {
			sums[i] = r.Sum
		}
		for d := range dims {
			dims[d][i] = r.Dims[d]
		}
	}
	args := []any{starts, ends, windows, parts, counts}
	if s.sums {
		args = append(args, sums)
	}
	for _, d := range dims {
		args = append(args, d)
	}
	return args
}

func batchArgs(pipeline, stream string, ranges []sdk.RangeStats, now time.Time) []any {
	n := len(ranges)
	parts := make([]int32, n)
	cols := make([][]int64, 7) // start, end, records, facts, skipped, rejected, lost
	for c := range cols {
		cols[c] = make([]int64, n)
	}
	for i, r := range ranges {
		parts[i] = r.Partition
		for c, v := range []int64{r.Start, r.End, r.Records, r.Facts, r.Skipped, r.Rejected, r.Lost} {
			cols[c][i] = v
		}
	}
	args := []any{pipeline, stream, now, parts}
	for _, c := range cols {
		args = append(args, c)
	}
	return args
}

// advance moves r.Partition's position from r.Start to r.End inside tx, or
// creates it at r.End if the partition has none, or returns a *FencedError.
func (s *Sink) advance(ctx context.Context, tx pgx.Tx, stream, streamID string, r sdk.OffsetRange, now time.Time) error {
	tag, err := tx.Exec(ctx, s.stmts.advance, r.End, streamID, now, s.pipeline, stream, r.Partition, r.Start)
	if err != nil {
		return fmt.Errorf("advance partition %d: %w", r.Partition, err)
	}
	if tag.RowsAffected() == 1 {
		return nil
	}
	// No row held Start: the partition has no position yet, or another
	// writer moved it. Creating the row tells the two apart atomically: a
	// concurrent creator makes this INSERT wait for it, then do nothing.
	tag, err = tx.Exec(ctx, s.stmts.insertPosition, s.pipeline, stream, r.Partition, r.End, streamID, now)
	if err != nil {
		return fmt.Errorf("insert position of partition %d: %w", r.Partition, err)
	}
	if tag.RowsAffected() == 1 {
		return nil
	}
	fenced := &FencedError{Stream: stream, Partition: r.Partition, Expected: r.Start, Found: -1}
	// The found position only makes the message useful; the commit is
	// fenced whether or not it can be read.
	_ = tx.QueryRow(ctx, s.stmts.readPosition, s.pipeline, stream, r.Partition).Scan(&fenced.Found)
	return fenced
}

// checkCommit rejects a commit the tables cannot hold faithfully, before
// anything is sent, and returns its ranges in partition order
// (commitcheck.Check).
func (s *Sink) checkCommit(c sdk.Commit) ([]sdk.RangeStats, error) {
	return commitcheck.Check(c, commitcheck.Limits{
		StreamIDLength: streamIDLength, UTF8: true,
		EarliestWindow: minWindow, LatestWindow: maxWindow, WindowRange: "the stored range",
		CountColumn: "integer", Sums: s.sums,
		Dimensions: s.dimensions, DimensionLength: dimensionLength, Dimension: checkNUL,
	})
}

// checkNUL refuses a dimension value holding NUL, which PostgreSQL text
// cannot.
func checkNUL(d string) error {
	if strings.IndexByte(d, 0) >= 0 {
		return fmt.Errorf("dimension value %.40q holds a NUL character, which PostgreSQL text cannot", d)
	}
	return nil
}

// Close releases the connections.
func (s *Sink) Close(ctx context.Context) error {
	if s.db == nil {
		return nil
	}
	s.db.Close()
	s.db = nil
	return nil
}
