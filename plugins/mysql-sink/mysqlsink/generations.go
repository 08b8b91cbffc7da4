package mysqlsink

import (
	"cmp"
	"context"
	"database/sql"
	"errors"
	"fmt"
	"slices"
	"sync"
	"time"

	"github.com/kappa-stream/kappa/internal/gencatalog"
	"github.com/kappa-stream/kappa/sdk"
)

// Generations (the Kappa recipe; internal/gencatalog explains the catalog
// and decides each step), in the DSN's database.
//
// Every commit and compaction reads its generation's row LOCK IN SHARE
// MODE first; the freeze is an UPDATE of that row, which waits for the
// commits in flight and makes every later one fail with
// sdk.ErrGenerationEnded: no commit of a frozen generation lands.

var _ sdk.Generations = (*Sink)(nil)

// generationsTable is the catalog's name, in the DSN's database.
const generationsTable = "kappa_generations"

// generation is one row of the catalog.
type generation = gencatalog.Generation

// binding is what the sink commits as: set in Open, or by a Generations
// call for a sink opened with Setup.Reprocessing.
type binding struct {
	// mu is held for reading by every commit and compaction and for
	// writing while the tables are renamed and the statements rebuilt.
	mu sync.RWMutex
	// logical is the configured table; number the bound generation (0:
	// none yet).
	logical string
	number  int64
	// setup and cfg are kept to build the aggregate table's schema.
	setup sdk.Setup
	cfg   Config
}

const generationColumns = "`generation`, `pipeline`, `definition`, `offsets_key`, `physical_table`, `state`, `step`, `previous`, `updated_at`"

type querier interface {
	QueryContext(ctx context.Context, query string, args ...any) (*sql.Rows, error)
}

// readGenerations reads the catalog rows of logical, oldest first;
// forUpdate locks them (tx only).
func readGenerations(ctx context.Context, q querier, logical string, forUpdate bool) ([]generation, error) {
	stmt := "SELECT " + generationColumns + " FROM " + quoteIdent(generationsTable) + " WHERE `table_name` = ? ORDER BY `generation`"
	if forUpdate {
		stmt += " FOR UPDATE"
	}
	rows, err := q.QueryContext(ctx, stmt, logical)
	if err != nil {
		return nil, fmt.Errorf("read the generations of table %s: %w", logical, err)
	}
	defer rows.Close()
	var gens []generation
	for rows.Next() {
		var g generation
		if err := rows.Scan(&g.Number, &g.Pipeline, &g.Definition, &g.Key, &g.Physical, &g.State, &g.Step, &g.Previous, &g.UpdatedAt); err != nil {
			return nil, fmt.Errorf("read the generations of table %s: %w", logical, err)
		}
		gens = append(gens, g)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("read the generations of table %s: %w", logical, err)
	}
	return gens, nil
}

// openGeneration binds a sink being opened: it makes generation 1's row
// for a table that has none, picks the generation setup's pipeline file
// stands for and returns it, or refuses. With setup.Reprocessing it binds
// only to a shadow or live generation of the pipeline (after a restart of
// the plugin during a reprocess) and otherwise returns nil.
func openGeneration(ctx context.Context, db *sql.DB, database string, cfg Config, setup sdk.Setup) (*generation, error) {
	gens, err := readGenerations(ctx, db, cfg.Table, false)
	if err != nil {
		return nil, err
	}
	if setup.Reprocessing {
		if g := gencatalog.Resume(gens, setup.Pipeline, setup.Definition); g != nil {
			// Before the table is made when missing: a RENAME a kill left
			// unrecorded moved it.
			return g, repairSwapped(ctx, db, cfg.Table, g)
		}
		return nil, nil
	}
	if len(gens) == 0 {
		// Generation 1: the table as every version before generations
		// made it. Ownership is claimed first (Open), so only the table's
		// pipeline gets here; a concurrent first Open inserts the same row.
		_, err := db.ExecContext(ctx, "INSERT IGNORE INTO "+quoteIdent(generationsTable)+" ("+generationColumnsWithTable+") VALUES (?, 1, ?, ?, ?, ?, ?, '', 0, ?)",
			cfg.Table, setup.Pipeline, setup.Definition, setup.Pipeline, cfg.Table, sdk.GenerationLive, time.Now().UTC())
		if err != nil {
			return nil, fmt.Errorf("record generation 1 of table %s in %s: %w", cfg.Table, generationsTable, err)
		}
		if gens, err = readGenerations(ctx, db, cfg.Table, false); err != nil {
			return nil, err
		}
	}
	g, redefine, err := gencatalog.Open(gens, database, cfg.Table, setup.Pipeline, setup.Definition)
	if err != nil || g == nil || !redefine {
		return g, err
	}
	if _, err := db.ExecContext(ctx, "UPDATE "+quoteIdent(generationsTable)+" SET `definition` = ? WHERE `table_name` = ? AND `generation` = ?",
		setup.Definition, cfg.Table, g.Number); err != nil {
		return nil, fmt.Errorf("record the definition of generation %d of table %s: %w", g.Number, cfg.Table, err)
	}
	return g, nil
}

const generationColumnsWithTable = "`table_name`, " + generationColumns

// bind makes the sink commit as g: its positions key and physical table.
// The caller holds s.gen.mu for writing, or nothing else runs yet.
func (s *Sink) bind(g *generation) {
	s.pipeline = g.Key
	s.gen.number = g.Number
	aggregate := aggregateSchema(g.Physical, s.gen.setup.Dimensions, s.gen.setup.Sums())
	s.stmts = newStatements(offsetsSchema(s.gen.cfg.OffsetsTable), aggregate, batchesSchema(s.gen.cfg.BatchesTable))
}

// checkGeneration reads the bound generation's state in tx under a shared
// lock, which the freeze's UPDATE waits for, and refuses a generation that
// is no longer live or shadow.
func (s *Sink) checkGeneration(ctx context.Context, tx *sql.Tx) error {
	if s.gen.number == 0 {
		return sdk.Permanent(errors.New("the sink is bound to no generation yet (opened to reprocess)"))
	}
	var state string
	err := tx.QueryRowContext(ctx, "SELECT `state` FROM "+quoteIdent(generationsTable)+" WHERE `table_name` = ? AND `generation` = ? LOCK IN SHARE MODE",
		s.gen.logical, s.gen.number).Scan(&state)
	if err != nil {
		return fmt.Errorf("check generation %d of table %s: %w", s.gen.number, s.gen.logical, err)
	}
	if state == sdk.GenerationLive || state == sdk.GenerationShadow {
		return nil
	}
	e := &gencatalog.EndedError{Namespace: s.database, Table: s.gen.logical, Pipeline: s.gen.setup.Pipeline, Generation: s.gen.number, State: state}
	// Only for the message; the refusal stands without it.
	if gens, err := readGenerations(ctx, tx, s.gen.logical, false); err == nil {
		e.Describe(gens)
	}
	return sdk.GenerationEnded(e)
}

// Generations performs one step on the table's generations; see
// sdk.Generations.
func (s *Sink) Generations(ctx context.Context, req sdk.GenerationsRequest) (sdk.GenerationsResult, error) {
	if s.db == nil {
		return sdk.GenerationsResult{}, errNotOpen
	}
	res := sdk.GenerationsResult{Table: s.database + "." + s.gen.logical}
	err := gencatalog.Steps{
		Begin: s.beginGeneration, Freeze: s.freeze, CatchUp: s.catchUp, Swap: s.swap,
		GoLive: s.goLive, Rollback: s.rollback, Retire: s.retire,
	}.Run(ctx, req, &res, "mysql-sink", retryable)
	if err != nil {
		return res, err
	}
	return res, s.describeGenerations(ctx, &res)
}

// describeGenerations fills res with the catalog and every generation's
// positions.
func (s *Sink) describeGenerations(ctx context.Context, res *sdk.GenerationsResult) error {
	gens, err := readGenerations(ctx, s.db, s.gen.logical, false)
	if err != nil {
		return fmt.Errorf("mysql-sink: generations: %w", err)
	}
	res.Bound = s.boundNumber()
	res.Generations = res.Generations[:0]
	for _, g := range gens {
		positions, err := s.positionsOf(ctx, s.db, g.Key)
		if err != nil {
			return fmt.Errorf("mysql-sink: generations: %w", err)
		}
		res.Generations = append(res.Generations, sdk.Generation{Number: g.Number, Pipeline: g.Pipeline, PhysicalTable: g.Physical,
			State: g.State, Step: g.Step, Previous: g.Previous, Positions: positions, UpdatedAt: g.UpdatedAt})
	}
	return nil
}

func (s *Sink) boundNumber() int64 {
	s.gen.mu.RLock()
	defer s.gen.mu.RUnlock()
	return s.gen.number
}

// positionsOf reads every position stored under key, of any stream.
func (s *Sink) positionsOf(ctx context.Context, q querier, key string) ([]sdk.Position, error) {
	rows, err := q.QueryContext(ctx, "SELECT `partition_id`, `next_offset`, `stream_id`, `updated_at` FROM "+quoteIdent(s.gen.cfg.OffsetsTable)+
		" WHERE `pipeline` = ? ORDER BY `partition_id`", key)
	if err != nil {
		return nil, fmt.Errorf("read the positions of %s: %w", key, err)
	}
	defer rows.Close()
	var ps []sdk.Position
	for rows.Next() {
		var p sdk.Position
		if err := rows.Scan(&p.Partition, &p.NextOffset, &p.StreamID, &p.CommittedAt); err != nil {
			return nil, fmt.Errorf("read the positions of %s: %w", key, err)
		}
		ps = append(ps, p)
	}
	return ps, rows.Err()
}

func (s *Sink) setStep(ctx context.Context, tx *sql.Tx, number int64, state, step string) error {
	_, err := tx.ExecContext(ctx, "UPDATE "+quoteIdent(generationsTable)+" SET `state` = ?, `step` = ?, `updated_at` = ? WHERE `table_name` = ? AND `generation` = ?",
		state, step, time.Now().UTC(), s.gen.logical, number)
	if err != nil {
		return fmt.Errorf("record generation %d as %s (%s): %w", number, state, step, err)
	}
	return nil
}

// setSteps records steps in tx (gencatalog's decisions).
func (s *Sink) setSteps(ctx context.Context, tx *sql.Tx, steps ...gencatalog.Step) error {
	for _, st := range steps {
		if err := s.setStep(ctx, tx, st.Number, st.State, st.Step); err != nil {
			return err
		}
	}
	return nil
}

// inTx runs f in a transaction over the table's locked catalog rows.
func (s *Sink) inTx(ctx context.Context, f func(tx *sql.Tx, gens []generation) error) (err error) {
	tx, err := s.db.BeginTx(ctx, nil)
	if err != nil {
		return fmt.Errorf("begin: %w", err)
	}
	defer func() {
		if err != nil {
			_ = tx.Rollback()
		}
	}()
	gens, err := readGenerations(ctx, tx, s.gen.logical, true)
	if err != nil {
		return err
	}
	if err := f(tx, gens); err != nil {
		return err
	}
	if err := tx.Commit(); err != nil {
		return fmt.Errorf("commit (outcome unknown: the step is repeated safely): %w", err)
	}
	return nil
}

// beginGeneration creates the next generation or binds to the shadow one
// an interrupted reprocess of this pipeline made.
func (s *Sink) beginGeneration(ctx context.Context, req sdk.GenerationsRequest, res *sdk.GenerationsResult) error {
	setup := s.gen.setup
	var bound *generation
	refuse := func(format string, args ...any) { res.Refusals = append(res.Refusals, fmt.Sprintf(format, args...)) }
	err := s.inTx(ctx, func(tx *sql.Tx, gens []generation) error {
		b, g, refusal := gencatalog.Begin(gens, res.Table, "mysql-sink", s.gen.logical, setup.Pipeline, setup.Definition)
		if refusal != "" {
			refuse("%s", refusal)
			return nil
		}
		if b != nil {
			bound = b
			return nil
		}
		live := gencatalog.Find(gens, g.Previous)
		oldName := gencatalog.PhysicalName(s.gen.logical, live.Number)
		switch {
		case len(g.Physical) > 64 || len(oldName) > 64:
			refuse("table name %s is too long for generation tables (%s): MySQL names have at most 64 characters", s.gen.logical, g.Physical)
			return nil
		case len(g.Key) > 191:
			refuse("pipeline name %q is too long for generation keys (%s)", setup.Pipeline, g.Key)
			return nil
		}
		firsts, err := s.firstOffsets(ctx, tx, live.Key, req.Stream)
		if err != nil {
			return err
		}
		if refusal := gencatalog.Missed(req.Stream, live.Number, firsts, req.LogStarts); refusal != "" {
			refuse("%s", refusal)
			return nil
		}
		now := time.Now().UTC()
		if _, err := tx.ExecContext(ctx, "INSERT INTO "+quoteIdent(generationsTable)+" ("+generationColumnsWithTable+") VALUES (?, ?, ?, ?, ?, ?, ?, '', ?, ?)",
			s.gen.logical, g.Number, g.Pipeline, g.Definition, g.Key, g.Physical, g.State, g.Previous, now); err != nil {
			return fmt.Errorf("record generation %d: %w", g.Number, err)
		}
		for _, f := range firsts {
			if _, err := tx.ExecContext(ctx, s.stmts.insertPosition, g.Key, req.Stream, f.Partition, f.NextOffset, req.StreamID, now); err != nil {
				return fmt.Errorf("record generation %d's first position of partition %d: %w", g.Number, f.Partition, err)
			}
		}
		bound = g
		return nil
	})
	if err != nil || bound == nil {
		return err
	}
	// The table: made after the catalog row, so that a kill in between
	// leaves a row whose table the next begin makes.
	aggregate := aggregateSchema(bound.Physical, setup.Dimensions, setup.Sums())
	if err := s.repairSwap(ctx, bound); err != nil {
		return err
	}
	aggregate.Name = bound.Physical
	if err := ensureTable(ctx, s.db, s.database, aggregate); err != nil {
		return err
	}
	if bound.Physical != s.gen.logical {
		// A new table is the pipeline's; a claim that exists stays.
		if _, err := s.db.ExecContext(ctx, "INSERT IGNORE INTO "+quoteIdent(s.gen.cfg.TablesTable)+" (`table_name`, `pipeline`, `claimed_at`) VALUES (?, ?, ?)",
			bound.Physical, setup.Pipeline, time.Now().UTC()); err != nil {
			return fmt.Errorf("claim table %s: %w", bound.Physical, err)
		}
	}
	s.gen.mu.Lock()
	s.bind(bound)
	s.gen.mu.Unlock()
	return nil
}

// firstOffsets is where the live generation started reading each
// partition: its lowest batch record, or its position where it has none.
func (s *Sink) firstOffsets(ctx context.Context, tx *sql.Tx, key, stream string) ([]sdk.Position, error) {
	byPartition := map[int32]int64{}
	err := query(ctx, tx, "SELECT `partition_id`, `next_offset` FROM "+quoteIdent(s.gen.cfg.OffsetsTable)+" WHERE `pipeline` = ? AND `stream` = ?",
		[]any{key, stream}, func(rows *sql.Rows) error {
			var p int32
			var next int64
			if err := rows.Scan(&p, &next); err != nil {
				return err
			}
			byPartition[p] = next
			return nil
		})
	if err != nil {
		return nil, fmt.Errorf("read the live generation's positions: %w", err)
	}
	err = query(ctx, tx, "SELECT `partition_id`, MIN(`start_offset`) FROM "+quoteIdent(s.gen.cfg.BatchesTable)+" WHERE `pipeline` = ? AND `stream` = ? GROUP BY `partition_id`",
		[]any{key, stream}, func(rows *sql.Rows) error {
			var p int32
			var first int64
			if err := rows.Scan(&p, &first); err != nil {
				return err
			}
			byPartition[p] = first
			return nil
		})
	if err != nil {
		return nil, fmt.Errorf("read the live generation's first ranges: %w", err)
	}
	firsts := make([]sdk.Position, 0, len(byPartition))
	for p, o := range byPartition {
		firsts = append(firsts, sdk.Position{Partition: p, NextOffset: o})
	}
	slices.SortFunc(firsts, func(a, b sdk.Position) int { return cmp.Compare(a.Partition, b.Partition) })
	return firsts, nil
}

// bound returns the bound generation and the one it replaces, from gens.
func (s *Sink) boundPair(gens []generation) (cur, prev *generation, err error) {
	return gencatalog.Pair(gens, s.gen.number)
}

// freeze makes the replaced generation frozen: its row's exclusive lock
// waits for every commit holding it shared, and no later one passes.
func (s *Sink) freeze(ctx context.Context, res *sdk.GenerationsResult) error {
	return s.inTx(ctx, func(tx *sql.Tx, gens []generation) error {
		cur, prev, err := s.boundPair(gens)
		if err != nil {
			return err
		}
		return s.setSteps(ctx, tx, gencatalog.Freeze(cur, prev, res)...)
	})
}

// catchUp compares the bound generation's positions with the frozen
// one's, which no longer move, and records the step when they are passed.
func (s *Sink) catchUp(ctx context.Context, res *sdk.GenerationsResult) error {
	return s.inTx(ctx, func(tx *sql.Tx, gens []generation) error {
		cur, prev, err := s.boundPair(gens)
		if err != nil {
			return err
		}
		if !gencatalog.CatchUp(cur, res) {
			return nil
		}
		ok, err := s.passed(ctx, tx, cur.Key, prev.Key)
		if err != nil || !ok {
			return err
		}
		res.Done = true
		return s.setSteps(ctx, tx, gencatalog.CaughtUp(cur))
	})
}

// passed reports whether every position stored under key is at or past
// the one stored under other for the same stream and partition.
func (s *Sink) passed(ctx context.Context, q querier, key, other string) (bool, error) {
	var behind int
	rows, err := q.QueryContext(ctx, "SELECT COUNT(*) FROM "+quoteIdent(s.gen.cfg.OffsetsTable)+" o LEFT JOIN "+quoteIdent(s.gen.cfg.OffsetsTable)+
		" n ON n.`pipeline` = ? AND n.`stream` = o.`stream` AND n.`partition_id` = o.`partition_id` WHERE o.`pipeline` = ? AND (n.`next_offset` IS NULL OR n.`next_offset` < o.`next_offset`)",
		key, other)
	if err != nil {
		return false, fmt.Errorf("compare positions: %w", err)
	}
	defer rows.Close()
	for rows.Next() {
		if err := rows.Scan(&behind); err != nil {
			return false, err
		}
	}
	return behind == 0, rows.Err()
}

// renameWait bounds each RENAME's wait for readers' metadata locks; a
// RENAME that times out is tried again, so long readers delay the swap but
// never hold everything queued behind it for longer than this.
var renameWait = 2 * time.Second

// swap renames the tables: the bound generation's becomes the logical
// table and the replaced one's `<table>__g<M>`. Commits of this sink wait
// on s.gen.mu meanwhile; the statements then name the renamed table.
func (s *Sink) swap(ctx context.Context, res *sdk.GenerationsResult) error {
	var cur, prev *generation
	err := s.inTx(ctx, func(tx *sql.Tx, gens []generation) error {
		var err error
		if cur, prev, err = s.boundPair(gens); err != nil {
			return err
		}
		switch cur.Step {
		case "caught_up":
			return s.setStep(ctx, tx, cur.Number, cur.State, "swapping")
		case "swapping", "swapped", sdk.GenerationLive:
			return nil
		}
		res.Refusals = append(res.Refusals, gencatalog.NotCaughtUp(cur))
		return nil
	})
	if err != nil || len(res.Refusals) > 0 || cur.Step == "swapped" || cur.Step == sdk.GenerationLive {
		return err
	}
	s.gen.mu.Lock()
	defer s.gen.mu.Unlock()
	done, err := s.renameTables(ctx, cur, prev)
	if err != nil {
		return err
	}
	res.Done = done
	if done {
		testFault(afterRename)
	}
	err = s.inTx(ctx, func(tx *sql.Tx, gens []generation) error {
		if err := s.setPhysical(ctx, tx, prev.Number, gencatalog.PhysicalName(s.gen.logical, prev.Number)); err != nil {
			return err
		}
		if err := s.setPhysical(ctx, tx, cur.Number, s.gen.logical); err != nil {
			return err
		}
		return s.setStep(ctx, tx, cur.Number, cur.State, "swapped")
	})
	if err != nil {
		return err
	}
	cur.Physical = s.gen.logical
	s.bind(cur)
	return nil
}

func (s *Sink) setPhysical(ctx context.Context, tx *sql.Tx, number int64, table string) error {
	_, err := tx.ExecContext(ctx, "UPDATE "+quoteIdent(generationsTable)+" SET `physical_table` = ?, `updated_at` = ? WHERE `table_name` = ? AND `generation` = ?",
		table, time.Now().UTC(), s.gen.logical, number)
	if err != nil {
		return fmt.Errorf("record generation %d's table %s: %w", number, table, err)
	}
	return nil
}

// renameTables swaps in's table for out's under the logical name, unless
// that was done (a kill after the RENAME, before it was recorded): RENAME
// TABLE of several tables is atomic, so either both names moved or none.
func (s *Sink) renameTables(ctx context.Context, in, out *generation) (bool, error) {
	outName := gencatalog.PhysicalName(s.gen.logical, out.Number)
	inName := gencatalog.PhysicalName(s.gen.logical, in.Number)
	inExists, err := tableExists(ctx, s.db, inName)
	if err != nil {
		return false, err
	}
	outExists, err := tableExists(ctx, s.db, outName)
	if err != nil {
		return false, err
	}
	if !inExists && outExists {
		return false, nil // renamed before
	}
	stmt := fmt.Sprintf("RENAME TABLE %s WAIT %d TO %s, %s TO %s", quoteIdent(s.gen.logical), int(renameWait/time.Second),
		quoteIdent(outName), quoteIdent(inName), quoteIdent(s.gen.logical))
	for {
		_, err := s.db.ExecContext(ctx, stmt)
		if err == nil {
			return true, nil
		}
		if !isMySQLError(err, errLockWaitTimeout) || ctx.Err() != nil {
			return false, fmt.Errorf("rename table %s to %s and %s to %s: %w", s.gen.logical, outName, inName, s.gen.logical, err)
		}
		// A reader held the table past the wait: the RENAME gave up its
		// place in the queue, so the readers behind it went on; try again.
	}
}

func tableExists(ctx context.Context, db *sql.DB, table string) (bool, error) {
	var n int
	err := db.QueryRowContext(ctx, "SELECT COUNT(*) FROM information_schema.TABLES WHERE TABLE_SCHEMA = DATABASE() AND TABLE_NAME = ?", table).Scan(&n)
	if err != nil {
		return false, fmt.Errorf("look up table %s: %w", table, err)
	}
	return n > 0, nil
}

// repairSwap binds to the renamed table when a kill left a RENAME
// unrecorded; the swap step records it.
func (s *Sink) repairSwap(ctx context.Context, g *generation) error {
	return repairSwapped(ctx, s.db, s.gen.logical, g)
}

func repairSwapped(ctx context.Context, db *sql.DB, logical string, g *generation) error {
	if g.Step != "swapping" {
		return nil
	}
	inName := gencatalog.PhysicalName(logical, g.Number)
	exists, err := tableExists(ctx, db, inName)
	if err != nil || exists {
		return err
	}
	g.Physical = logical
	return nil
}

// goLive marks the bound generation live and the replaced one retired, and
// hands the tables' ownership over with them.
func (s *Sink) goLive(ctx context.Context, res *sdk.GenerationsResult) error {
	return s.inTx(ctx, func(tx *sql.Tx, gens []generation) error {
		cur, prev, err := s.boundPair(gens)
		if err != nil {
			return err
		}
		steps := gencatalog.GoLive(cur, prev, res)
		if len(steps) == 0 {
			return nil
		}
		if err := s.setSteps(ctx, tx, steps...); err != nil {
			return err
		}
		return s.handOver(ctx, tx, cur, prev)
	})
}

// handOver records the owners of the tables as the swap left them.
func (s *Sink) handOver(ctx context.Context, tx *sql.Tx, in, out *generation) error {
	now := time.Now().UTC()
	outName := gencatalog.PhysicalName(s.gen.logical, out.Number)
	inName := gencatalog.PhysicalName(s.gen.logical, in.Number)
	t := quoteIdent(s.gen.cfg.TablesTable)
	for _, o := range []struct{ table, pipeline string }{{s.gen.logical, in.Pipeline}, {outName, out.Pipeline}} {
		if _, err := tx.ExecContext(ctx, "INSERT INTO "+t+" (`table_name`, `pipeline`, `claimed_at`) VALUES (?, ?, ?) ON DUPLICATE KEY UPDATE `pipeline` = VALUES(`pipeline`)",
			o.table, o.pipeline, now); err != nil {
			return fmt.Errorf("record the owner of table %s: %w", o.table, err)
		}
	}
	if _, err := tx.ExecContext(ctx, "DELETE FROM "+t+" WHERE `table_name` = ?", inName); err != nil {
		return fmt.Errorf("forget the owner of table %s: %w", inName, err)
	}
	return nil
}

// rollback swaps the previous generation back in: the live one is frozen,
// the tables renamed back, the previous generation marked live and the
// other retired; each step is recorded (the previous one's step
// "rollback") and repeated safely.
func (s *Sink) rollback(ctx context.Context, res *sdk.GenerationsResult) error {
	var in, out *generation
	err := s.inTx(ctx, func(tx *sql.Tx, gens []generation) error {
		var steps []gencatalog.Step
		var err error
		if in, out, steps, err = gencatalog.Rollback(gens, res); err != nil {
			return err
		}
		return s.setSteps(ctx, tx, steps...)
	})
	if err != nil || len(res.Refusals) > 0 {
		return err
	}
	s.gen.mu.Lock()
	defer s.gen.mu.Unlock()
	if _, err := s.renameTables(ctx, in, out); err != nil {
		return err
	}
	res.Done = true
	return s.inTx(ctx, func(tx *sql.Tx, gens []generation) error {
		if err := s.setPhysical(ctx, tx, out.Number, gencatalog.PhysicalName(s.gen.logical, out.Number)); err != nil {
			return err
		}
		if err := s.setPhysical(ctx, tx, in.Number, s.gen.logical); err != nil {
			return err
		}
		if err := s.setSteps(ctx, tx, gencatalog.RolledBack(in, out)...); err != nil {
			return err
		}
		// The previous generation goes back to being replaced by none;
		// rolling forward again is a new reprocess.
		if _, err := tx.ExecContext(ctx, "UPDATE "+quoteIdent(generationsTable)+" SET `previous` = ? WHERE `table_name` = ? AND `generation` = ?",
			in.Number, s.gen.logical, out.Number); err != nil {
			return err
		}
		return s.handOver(ctx, tx, in, out)
	})
}

// retire drops the tables of retired generations.
func (s *Sink) retire(ctx context.Context, res *sdk.GenerationsResult) error {
	gens, err := readGenerations(ctx, s.db, s.gen.logical, false)
	if err != nil {
		return err
	}
	for _, g := range gens {
		if g.State != sdk.GenerationRetired || g.Physical == s.gen.logical {
			continue
		}
		if _, err := s.db.ExecContext(ctx, "DROP TABLE IF EXISTS "+quoteIdent(g.Physical)); err != nil {
			return fmt.Errorf("drop table %s of generation %d: %w", g.Physical, g.Number, err)
		}
		err := s.inTx(ctx, func(tx *sql.Tx, _ []generation) error {
			if err := s.setStep(ctx, tx, g.Number, sdk.GenerationDropped, g.Step); err != nil {
				return err
			}
			_, err := tx.ExecContext(ctx, "DELETE FROM "+quoteIdent(s.gen.cfg.TablesTable)+" WHERE `table_name` = ?", g.Physical)
			return err
		})
		if err != nil {
			return err
		}
		res.Done = true
	}
	return nil
}

// reclaimGeneration1 gives generation 1 of logical to setup's pipeline when
// it is the table's only generation: the table was claimed by that
// pipeline (claimTable), which is generation 1's owner.
func reclaimGeneration1(ctx context.Context, db *sql.DB, logical string, setup sdk.Setup) error {
	_, err := db.ExecContext(ctx, "UPDATE "+quoteIdent(generationsTable)+" SET `pipeline` = ?, `offsets_key` = ?, `definition` = ?, `updated_at` = ?"+
		" WHERE `table_name` = ? AND `generation` = 1 AND NOT EXISTS (SELECT 1 FROM (SELECT `generation` FROM "+quoteIdent(generationsTable)+
		" WHERE `table_name` = ? AND `generation` > 1) later)",
		setup.Pipeline, setup.Pipeline, setup.Definition, time.Now().UTC(), logical, logical)
	if err != nil {
		return fmt.Errorf("give generation 1 of table %s to pipeline %q: %w", logical, setup.Pipeline, err)
	}
	return nil
}
