// Package mysqlsink is Kappa's MySQL/MariaDB sink: it stores per-window
// aggregates together with the positions they were read up to, in one
// transaction per batch, so that a crash can neither lose nor double count.
//
// Four tables live in the DSN's database, all created when missing:
//   - the aggregate table, laid out exactly like the 2016 job's table
//     (plus one column per dimension), one row per (range, window[, dims]);
//   - the offsets table, one row per (pipeline, stream, partition) holding
//     next_offset: the single source of truth for progress;
//   - the batches table, one row per committed range with what was read in
//     it, for audits;
//   - the tables table, the pipeline owning each aggregate table
//     (ownership.go): a second pipeline on one table is refused.
//
// Commit advances every partition's position with a conditional UPDATE
// whose matched-row count is checked (the fence), inserts the rows and
// commits; a position that moved makes it roll back with sdk.ErrFenced.
package mysqlsink

import (
	"context"
	"database/sql"
	"database/sql/driver"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"strings"
	"time"

	"github.com/go-sql-driver/mysql"

	"github.com/kappa-stream/kappa/internal/commitcheck"
	"github.com/kappa-stream/kappa/internal/deadletter"
	"github.com/kappa-stream/kappa/internal/sinkconfig"
	"github.com/kappa-stream/kappa/sdk"
)

var _ sdk.Sink = (*Sink)(nil)

// openTimeout bounds Open's connecting and schema work when the caller's
// context has no earlier deadline: a server that accepts TCP but never
// answers must not hang the pipeline's start.
const openTimeout = 15 * time.Second

// Sink is the MySQL sink. Once Open has returned, Positions and Commit may
// be called from several goroutines; Open and Close must not race them.
type Sink struct {
	pipeline   string
	dimensions int
	// sums is whether the aggregate table has a sum column.
	sums bool
	// server names the server in messages without the password.
	server string
	db     *sql.DB
	stmts  statements
	// database and tablesTable name the DSN's database and the ownership
	// table, for Adopt.
	database, tablesTable string
	// adopting is Setup.Adopting: the table is not claimed at Open, and
	// nothing is committed (adopt.go).
	adopting bool
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

var errNotOpen = errors.New("mysql-sink: not open")

// Open checks the config, connects, creates the database and the tables
// when missing and checks the layout of those that exist.
func (s *Sink) Open(ctx context.Context, setup sdk.Setup) error {
	if s.db != nil {
		return errors.New("mysql-sink: already open")
	}
	cfg, err := ParseConfig(setup.Config)
	if err != nil {
		return err
	}
	if err := checkSetup(setup); err != nil {
		return fmt.Errorf("mysql-sink: %w", err)
	}
	dc, err := cfg.driverConfig()
	if err != nil { // Validate already parsed it; kept for safety.
		return fmt.Errorf("mysql-sink: dsn: %w", err)
	}
	server := fmt.Sprintf("%s as %s", dc.Addr, dc.User)

	ctx, cancel := context.WithTimeout(ctx, openTimeout)
	defer cancel()
	db, err := connect(ctx, dc)
	if err != nil {
		return fmt.Errorf("mysql-sink: connect to %s: %w", server, err)
	}
	aggregate := aggregateSchema(cfg.Table, setup.Dimensions, setup.Sums())
	offsets := offsetsSchema(cfg.OffsetsTable)
	batches := batchesSchema(cfg.BatchesTable)
	schemas := []tableSchema{offsets, batches, tablesSchema(cfg.TablesTable), generationsSchema()}
	if cfg.DeadLetters != "" {
		schemas = append(schemas, deadLettersSchema(cfg.DeadLetters))
	}
	for _, t := range schemas {
		if err := ensureTable(ctx, db, dc.DBName, t); err != nil {
			db.Close()
			return fmt.Errorf("mysql-sink: %s: %w", server, err)
		}
	}
	// The generation decides which physical table and positions the
	// pipeline file stands for (generations.go); an adopting sink works on
	// the configured table as it is.
	var gen *generation
	if !setup.Adopting {
		if gen, err = openGeneration(ctx, db, dc.DBName, cfg, setup); err != nil {
			db.Close()
			return fmt.Errorf("mysql-sink: %s: %w", server, err)
		}
		if gen != nil && gen.Physical != cfg.Table {
			aggregate.Name = gen.Physical
		}
	}
	// A reprocess not bound yet makes its own table later; the one under
	// the configured name may have another layout.
	if !setup.Reprocessing || gen != nil {
		if err := ensureTable(ctx, db, dc.DBName, aggregate); err != nil {
			db.Close()
			return fmt.Errorf("mysql-sink: %s: %w", server, err)
		}
		suggestTimeIndex(ctx, s.log, db, dc.DBName, aggregate)
	}
	stmts := newStatements(offsets, aggregate, batches)
	// A sink opened to adopt the table claims it in Adopt's transaction,
	// once its rows proved adoptable; one opened to reprocess claims its
	// generation's table when it makes it.
	if !setup.Adopting && !setup.Reprocessing && (gen == nil || gen.Number == 1) {
		if err := claimTable(ctx, db, dc.DBName, setup.Pipeline, stmts, cfg.TablesTable); err != nil {
			db.Close()
			return fmt.Errorf("mysql-sink: %s: %w", server, err)
		}
		if gen == nil {
			// The table was claimed now (it was empty, or its rows are
			// this pipeline's): a generation 1 of another name, with no
			// generation after it, becomes this pipeline's.
			if err := reclaimGeneration1(ctx, db, cfg.Table, setup); err != nil {
				db.Close()
				return fmt.Errorf("mysql-sink: %s: %w", server, err)
			}
			if gen, err = openGeneration(ctx, db, dc.DBName, cfg, setup); err != nil || gen == nil {
				db.Close()
				if err == nil {
					err = fmt.Errorf("table %s.%s: no generation of pipeline %q", dc.DBName, cfg.Table, setup.Pipeline)
				}
				return fmt.Errorf("mysql-sink: %s: %w", server, err)
			}
		}
	}
	s.pipeline = setup.Pipeline
	s.dimensions = len(setup.Dimensions)
	s.sums = setup.Sums()
	s.server = server
	s.db = db
	s.stmts = stmts
	s.database, s.tablesTable, s.adopting = dc.DBName, cfg.TablesTable, setup.Adopting
	s.dead = newDeadLetterTable(cfg)
	s.gen.logical, s.gen.setup, s.gen.cfg = cfg.Table, setup, cfg
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
	// Column names are case-insensitive in MySQL.
	return sinkconfig.CheckSetup(setup, columns, "DATETIME", checkIdentifier, strings.ToLower)
}

// connect opens a pool on dc's database, creating the database first if the
// server does not know it.
func connect(ctx context.Context, dc *mysql.Config) (*sql.DB, error) {
	db, err := openPool(dc)
	if err != nil {
		return nil, err
	}
	err = db.PingContext(ctx)
	if isMySQLError(err, errUnknownDatabase) {
		err = createDatabase(ctx, dc)
		if err == nil {
			err = db.PingContext(ctx)
		}
	}
	if err != nil {
		db.Close()
		return nil, err
	}
	return db, nil
}

// createDatabase connects without a database to create dc's.
func createDatabase(ctx context.Context, dc *mysql.Config) error {
	bare := dc.Clone()
	bare.DBName = ""
	db, err := openPool(bare)
	if err != nil {
		return err
	}
	defer db.Close()
	if _, err := db.ExecContext(ctx, "CREATE DATABASE IF NOT EXISTS "+quoteIdent(dc.DBName)); err != nil {
		return fmt.Errorf("create database %s: %w", dc.DBName, err)
	}
	return nil
}

func openPool(dc *mysql.Config) (*sql.DB, error) {
	connector, err := mysql.NewConnector(dc)
	if err != nil {
		return nil, err
	}
	db := sql.OpenDB(sessionConnector{connector})
	// Commits are serial; a few connections leave room for Positions and
	// for a Close that races a Commit, and no more hold server threads.
	db.SetMaxOpenConns(4)
	db.SetMaxIdleConns(4)
	db.SetConnMaxIdleTime(5 * time.Minute)
	return db, nil
}

// sessionConnector prepares every new connection of the pool.
type sessionConnector struct{ driver.Connector }

// readCommitted makes the fence race cleanly. Under the default REPEATABLE
// READ, two writers that both find no position row take gap locks and then
// deadlock on their INSERTs (1213); under READ COMMITTED the second INSERT
// waits for the first writer and fails with a duplicate key, which reads as
// fenced. The commit reads nothing it relies on without a lock, so the
// weaker isolation costs nothing. Set per session, not per transaction,
// to save a round trip on every commit.
const readCommitted = "SET SESSION TRANSACTION ISOLATION LEVEL READ COMMITTED"

func (c sessionConnector) Connect(ctx context.Context) (driver.Conn, error) {
	conn, err := c.Connector.Connect(ctx)
	if err != nil {
		return nil, err
	}
	execer, ok := conn.(driver.ExecerContext)
	if !ok {
		conn.Close()
		return nil, errors.New("driver connection cannot execute statements")
	}
	if _, err := execer.ExecContext(ctx, readCommitted, nil); err != nil {
		conn.Close()
		return nil, fmt.Errorf("set isolation level: %w", err)
	}
	return conn, nil
}

// Positions returns the committed positions of this pipeline in stream.
func (s *Sink) Positions(ctx context.Context, stream string) ([]sdk.Position, error) {
	if s.db == nil {
		return nil, errNotOpen
	}
	// A swap rebinds the statements (generations.go).
	s.gen.mu.RLock()
	defer s.gen.mu.RUnlock()
	rows, err := s.db.QueryContext(ctx, s.stmts.positions, s.pipeline, stream)
	if err != nil {
		return nil, fmt.Errorf("mysql-sink: read positions of stream %s: %w", stream, err)
	}
	defer rows.Close()
	var positions []sdk.Position
	for rows.Next() {
		var p sdk.Position
		if err := rows.Scan(&p.Partition, &p.NextOffset, &p.StreamID, &p.CommittedAt); err != nil {
			return nil, fmt.Errorf("mysql-sink: read positions of stream %s: %w", stream, err)
		}
		positions = append(positions, p)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("mysql-sink: read positions of stream %s: %w", stream, err)
	}
	return positions, nil
}

// Commit stores c in one transaction: for each range, in partition order,
// the position advances from Start to End only if it still is Start (or is
// created at End if the partition has none); then the aggregate rows and one
// batches row per range are inserted. If a position differs, nothing is
// stored and the error is a *FencedError wrapping sdk.ErrFenced.
func (s *Sink) Commit(ctx context.Context, c sdk.Commit) error {
	if s.db == nil {
		return errNotOpen
	}
	if s.adopting {
		return sdk.Permanent(errors.New("mysql-sink: commit: the sink was opened to adopt its table (Setup.Adopting), which it may not have claimed"))
	}
	ranges, err := s.checkCommit(c)
	if err == nil {
		err = deadletter.InRanges(ranges, c.DeadLetters)
	}
	if err != nil {
		// The same commit would fail the same way at every try.
		return sdk.Permanent(fmt.Errorf("mysql-sink: commit to stream %s: %w", c.Stream, err))
	}
	if len(ranges) == 0 {
		return nil
	}
	// A swap of the generation's table waits for the commit in flight.
	s.gen.mu.RLock()
	defer s.gen.mu.RUnlock()
	if err := s.commit(ctx, c.Stream, c.StreamID, ranges, c.Rows, c.DeadLetters); err != nil {
		err = fmt.Errorf("mysql-sink: commit to stream %s: %w", c.Stream, err)
		if retryable(err) {
			// Tells the runtime, across the process boundary, that trying
			// again at once may succeed (sdk.ErrRetryable).
			return sdk.Retryable(err)
		}
		return err
	}
	return nil
}

// errPositionsDiffer says that the one-statement advance did not find every
// partition at its range's Start.
var errPositionsDiffer = errors.New("positions differ from the ranges' starts")

func (s *Sink) commit(ctx context.Context, stream, streamID string, ranges []sdk.RangeStats, rows []sdk.Row, dead []sdk.DeadLetter) error {
	err := s.commitTx(ctx, stream, streamID, ranges, rows, dead, s.advanceAll)
	if errors.Is(err, errPositionsDiffer) {
		// Some partition has no position yet, or another writer moved it.
		// Only the partition-by-partition advance tells the two apart and
		// creates missing positions; it runs in a fresh transaction, so it
		// judges positions as they are now.
		err = s.commitTx(ctx, stream, streamID, ranges, rows, dead, s.advanceEach)
	}
	return err
}

// advanceFunc moves every range's position from Start to End inside tx,
// storing streamID with it.
type advanceFunc func(ctx context.Context, tx *sql.Tx, stream, streamID string, ranges []sdk.RangeStats, now time.Time) error

func (s *Sink) commitTx(ctx context.Context, stream, streamID string, ranges []sdk.RangeStats, rows []sdk.Row, dead []sdk.DeadLetter, advance advanceFunc) (err error) {
	tx, err := s.db.BeginTx(ctx, nil)
	if err != nil {
		return fmt.Errorf("begin: %w", err)
	}
	defer func() {
		if err != nil {
			// The rollback's own error adds nothing: the server discards an
			// unfinished transaction when its connection goes.
			_ = tx.Rollback()
		}
	}()
	// First, so that a freeze waits for this commit or this commit sees it.
	if err := s.checkGeneration(ctx, tx); err != nil {
		return err
	}
	now := time.Now().UTC()
	if err := advance(ctx, tx, stream, streamID, ranges, now); err != nil {
		return err
	}
	cols := len(s.stmts.aggregateColumns)
	for chunk := range slices.Chunk(rows, maxRowsPerInsert) {
		args := make([]any, 0, len(chunk)*cols)
		for _, r := range chunk {
			args = append(args, r.Start, r.End, r.Window.UTC(), r.Partition, r.Count)
			if s.sums {
				args = append(args, r.Sum)
			}
			for _, d := range r.Dims {
				args = append(args, d)
			}
		}
		if _, err := tx.ExecContext(ctx, s.stmts.insertRowsSQL(len(chunk)), args...); err != nil {
			return fmt.Errorf("insert %d aggregate rows into %s: %w", len(chunk), s.stmts.aggregateTable, err)
		}
	}
	// An anchor (an empty range) has nothing to account for; its batch row
	// would also take the key of the range that follows it.
	read := slices.DeleteFunc(slices.Clone(ranges), func(r sdk.RangeStats) bool { return r.End == r.Start })
	for chunk := range slices.Chunk(read, maxRowsPerInsert) {
		args := make([]any, 0, len(chunk)*len(s.stmts.batchesColumns))
		for _, r := range chunk {
			args = append(args, s.pipeline, stream, r.Partition, r.Start, r.End,
				r.Records, r.Facts, r.Skipped, r.Rejected, r.Lost, now)
		}
		if _, err := tx.ExecContext(ctx, s.stmts.insertBatchesSQL(len(chunk)), args...); err != nil {
			return fmt.Errorf("insert %d batch records into %s: %w", len(chunk), s.stmts.batchesTable, err)
		}
	}
	if err := s.insertDeadLetters(ctx, tx, stream, dead, now); err != nil {
		return err
	}
	testFault(beforeCommit)
	if err := tx.Commit(); err != nil {
		return fmt.Errorf("commit transaction (outcome unknown, re-read positions): %w", err)
	}
	testFault(afterCommit)
	return nil
}

// advanceAll is the fence in one round trip, the common case: one UPDATE
// moves every position that still is its range's Start, and the number of
// rows it matched says whether that was all of them.
func (s *Sink) advanceAll(ctx context.Context, tx *sql.Tx, stream, streamID string, ranges []sdk.RangeStats, now time.Time) error {
	args := make([]any, 0, 4*len(ranges)+4)
	for _, r := range ranges {
		args = append(args, r.Partition, r.End)
	}
	args = append(args, streamID, now, s.pipeline, stream)
	for _, r := range ranges {
		args = append(args, r.Partition, r.Start)
	}
	res, err := tx.ExecContext(ctx, advanceAllSQL(s.stmts.offsetsTable, len(ranges)), args...)
	if err != nil {
		return fmt.Errorf("advance %d partitions: %w", len(ranges), err)
	}
	// clientFoundRows makes this the number of rows that held Start.
	n, err := res.RowsAffected()
	if err != nil {
		return fmt.Errorf("advance %d partitions: %w", len(ranges), err)
	}
	if n != int64(len(ranges)) {
		return errPositionsDiffer
	}
	return nil
}

// advanceEach is the fence one partition at a time, in partition order.
func (s *Sink) advanceEach(ctx context.Context, tx *sql.Tx, stream, streamID string, ranges []sdk.RangeStats, now time.Time) error {
	for _, r := range ranges {
		if err := s.advance(ctx, tx, stream, streamID, r.OffsetRange, now); err != nil {
			return err
		}
	}
	return nil
}

// advance moves r.Partition's position from r.Start to r.End inside tx, or
// creates it at r.End if the partition has none, or returns a *FencedError.
func (s *Sink) advance(ctx context.Context, tx *sql.Tx, stream, streamID string, r sdk.OffsetRange, now time.Time) error {
	res, err := tx.ExecContext(ctx, s.stmts.advance, r.End, streamID, now, s.pipeline, stream, r.Partition, r.Start)
	if err != nil {
		return fmt.Errorf("advance partition %d: %w", r.Partition, err)
	}
	// clientFoundRows makes this the number of rows that held Start.
	n, err := res.RowsAffected()
	if err != nil {
		return fmt.Errorf("advance partition %d: %w", r.Partition, err)
	}
	if n == 1 {
		return nil
	}
	// No row held Start: the partition has no position yet, or another
	// writer moved it. Creating the row tells the two apart atomically: a
	// concurrent creator makes this INSERT wait for it and then fail.
	_, err = tx.ExecContext(ctx, s.stmts.insertPosition, s.pipeline, stream, r.Partition, r.End, streamID, now)
	if err == nil {
		return nil
	}
	if !isMySQLError(err, errDuplicateKey) {
		return fmt.Errorf("insert position of partition %d: %w", r.Partition, err)
	}
	fenced := &FencedError{Stream: stream, Partition: r.Partition, Expected: r.Start, Found: -1}
	// The found position only makes the message useful; the commit is
	// fenced whether or not it can be read.
	_ = tx.QueryRowContext(ctx, s.stmts.readPosition, s.pipeline, stream, r.Partition).Scan(&fenced.Found)
	return fenced
}

// checkCommit rejects a commit the tables cannot hold faithfully, before
// anything is sent, and returns its ranges in partition order
// (commitcheck.Check).
func (s *Sink) checkCommit(c sdk.Commit) ([]sdk.RangeStats, error) {
	return commitcheck.Check(c, commitcheck.Limits{
		StreamIDLength: streamIDLength,
		EarliestWindow: minDatetime, LatestWindow: maxDatetime, WindowRange: "DATETIME's range",
		CountColumn: "int", Sums: s.sums,
		Dimensions: s.dimensions, DimensionLength: dimensionLength, Dimension: checkPadSpace,
	})
}

// Bounds of a DATETIME column.
var (
	minDatetime = time.Date(1000, 1, 1, 0, 0, 0, 0, time.UTC)
	maxDatetime = time.Date(9999, 12, 31, 23, 59, 59, 0, time.UTC)
)

// checkPadSpace refuses a dimension value ending in a space: the column's
// PAD SPACE collation holds "en" and "en " as one key, and two such rows
// of a commit would fail it as a duplicate.
func checkPadSpace(d string) error {
	if strings.HasSuffix(d, " ") {
		return fmt.Errorf("dimension value %.40q ends in a space, which the table does not tell apart from the value without it", d)
	}
	return nil
}

// Close releases the connections.
func (s *Sink) Close(ctx context.Context) error {
	if s.db == nil {
		return nil
	}
	err := s.db.Close()
	s.db = nil
	if err != nil {
		return fmt.Errorf("mysql-sink: close connections to %s: %w", s.server, err)
	}
	return nil
}
