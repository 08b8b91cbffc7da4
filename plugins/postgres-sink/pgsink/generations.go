package pgsink

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"

	"github.com/kappa-stream/kappa/internal/gencatalog"
	"github.com/kappa-stream/kappa/sdk"
)

// Generations (the Kappa recipe; internal/gencatalog explains the catalog
// and decides each step), with mysql-sink's semantics, in the sink's
// schema. What PostgreSQL changes:
//   - DDL is transactional: the swap renames both tables, renames their
//     indexes to follow them and records the step in ONE transaction.
//     Readers see the old table or the new one, and a kill leaves either
//     nothing done or everything done and recorded; mysql-sink's "RENAME
//     done but not recorded" case does not exist here.
//   - The rename's ACCESS EXCLUSIVE lock waits for readers in flight and
//     queues the readers after it: the swap takes it first, under SET
//     LOCAL lock_timeout (renameWait), and tries again when it times out.
//   - Every commit and compaction reads its generation's row FOR SHARE
//     as the last statement of its transaction (the commit's in the same
//     pipelined round trip as its other statements); the freeze is an
//     UPDATE of that row, which waits for the commits holding it, and
//     every later commit finds it frozen and rolls back. Last, so that a
//     transaction takes its table locks before the catalog row, in the
//     order the swap takes them: the two cannot deadlock.

var _ sdk.Generations = (*Sink)(nil)

// generationsTable is the catalog's name, in the sink's schema.
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
	setup   sdk.Setup
	cfg     Config
	// check reads the bound generation's state FOR SHARE. Args:
	// table_name, generation.
	check string
}

const generationColumns = `"generation", "pipeline", "definition", "offsets_key", "physical_table", "state", "step", "previous", "updated_at"`

func (s *Sink) catalog() string { return qualified(s.schema, generationsTable) }

// readGenerations reads the catalog rows of logical, oldest first;
// forUpdate locks them (in a transaction).
func readGenerations(ctx context.Context, q querier, schema, logical string, forUpdate bool) ([]generation, error) {
	stmt := "SELECT " + generationColumns + " FROM " + qualified(schema, generationsTable) + ` WHERE "table_name" = $1 ORDER BY "generation"`
	if forUpdate {
		stmt += " FOR UPDATE"
	}
	var g generation
	var gens []generation
	_, err := forEach(ctx, q, stmt, []any{logical},
		[]any{&g.Number, &g.Pipeline, &g.Definition, &g.Key, &g.Physical, &g.State, &g.Step, &g.Previous, &g.UpdatedAt},
		func() error { gens = append(gens, g); return nil })
	if err != nil {
		return nil, fmt.Errorf("read the generations of table %s: %w", logical, err)
	}
	return gens, nil
}

// openGeneration binds a sink being opened: it makes generation 1's row
// for a table that has none, picks the generation setup's pipeline file
// stands for and returns it, or refuses. With setup.Reprocessing it binds
// only to a shadow generation of the pipeline, or to one it made live
// (after a restart of the plugin during or after a reprocess), and
// otherwise returns nil.
func openGeneration(ctx context.Context, db execQuerier, cfg Config, setup sdk.Setup) (*generation, error) {
	gens, err := readGenerations(ctx, db, cfg.Schema, cfg.Table, false)
	if err != nil {
		return nil, err
	}
	if setup.Reprocessing {
		if g := gencatalog.Resume(gens, setup.Pipeline, setup.Definition); g != nil {
			return g, nil
		}
		return nil, nil
	}
	catalog := qualified(cfg.Schema, generationsTable)
	if len(gens) == 0 {
		// Generation 1: the table as every version before generations
		// made it. A concurrent first Open inserts the same row.
		_, err := db.Exec(ctx, "INSERT INTO "+catalog+` ("table_name", `+generationColumns+`) VALUES ($1, 1, $2, $3, $4, $5, $6, '', 0, $7) ON CONFLICT DO NOTHING`,
			cfg.Table, setup.Pipeline, setup.Definition, setup.Pipeline, cfg.Table, sdk.GenerationLive, time.Now().UTC())
		if err != nil {
			return nil, fmt.Errorf("record generation 1 of table %s in %s: %w", cfg.Table, generationsTable, err)
		}
		if gens, err = readGenerations(ctx, db, cfg.Schema, cfg.Table, false); err != nil {
			return nil, err
		}
	}
	g, redefine, err := gencatalog.Open(gens, cfg.Schema, cfg.Table, setup.Pipeline, setup.Definition)
	if err != nil || g == nil || !redefine {
		return g, err
	}
	if _, err := db.Exec(ctx, "UPDATE "+catalog+` SET "definition" = $1 WHERE "table_name" = $2 AND "generation" = $3`,
		setup.Definition, cfg.Table, g.Number); err != nil {
		return nil, fmt.Errorf("record the definition of generation %d of table %s: %w", g.Number, cfg.Table, err)
	}
	return g, nil
}

// execQuerier is a pool or a transaction.
type execQuerier interface {
	querier
	Exec(ctx context.Context, sql string, args ...any) (pgconn.CommandTag, error)
}

// reclaimGeneration1 gives generation 1 of logical to setup's pipeline when
// it is the table's only generation: the table was claimed by that
// pipeline (claimTable), which is generation 1's owner.
func reclaimGeneration1(ctx context.Context, db execQuerier, cfg Config, setup sdk.Setup) error {
	catalog := qualified(cfg.Schema, generationsTable)
	_, err := db.Exec(ctx, "UPDATE "+catalog+` SET "pipeline" = $1, "offsets_key" = $1, "definition" = $2, "updated_at" = $3`+
		` WHERE "table_name" = $4 AND "generation" = 1 AND NOT EXISTS (SELECT 1 FROM `+catalog+` WHERE "table_name" = $4 AND "generation" > 1)`,
		setup.Pipeline, setup.Definition, time.Now().UTC(), cfg.Table)
	if err != nil {
		return fmt.Errorf("give generation 1 of table %s to pipeline %q: %w", cfg.Table, setup.Pipeline, err)
	}
	return nil
}

// bind makes the sink commit as g: its positions key and physical table.
// The caller holds s.gen.mu for writing, or nothing else runs yet.
func (s *Sink) bind(g *generation) {
	s.pipeline = g.Key
	s.gen.number = g.Number
	aggregate := aggregateSchema(g.Physical, s.gen.setup.Dimensions, s.gen.setup.Sums())
	s.stmts = newStatements(s.schema, offsetsSchema(s.gen.cfg.OffsetsTable), aggregate, batchesSchema(s.gen.cfg.BatchesTable),
		s.gen.cfg.TablesTable, len(s.gen.setup.Dimensions), s.gen.setup.Sums())
}

// bound returns the positions key and statements the sink is bound to.
func (s *Sink) bound() (string, statements) {
	s.gen.mu.RLock()
	defer s.gen.mu.RUnlock()
	return s.pipeline, s.stmts
}

// queueCheck adds the generation check to a commit's batch: the last
// statement, so that its lock is taken after the tables' (see above).
func (s *Sink) queueCheck(b *pgx.Batch) {
	b.Queue(s.gen.check, s.gen.logical, s.gen.number)
}

// checkGeneration reads the result of queueCheck's statement (or runs it in
// q when br is nil) and refuses a generation that is no longer live or
// shadow with an error matching sdk.ErrGenerationEnded.
func (s *Sink) checkGeneration(ctx context.Context, q pgx.Tx, br pgx.BatchResults) error {
	if s.gen.number == 0 {
		return sdk.Permanent(errors.New("the sink is bound to no generation yet (opened to reprocess)"))
	}
	var state string
	var err error
	if br != nil {
		err = br.QueryRow().Scan(&state)
	} else {
		err = q.QueryRow(ctx, s.gen.check, s.gen.logical, s.gen.number).Scan(&state)
	}
	if err != nil {
		return fmt.Errorf("check generation %d of table %s: %w", s.gen.number, s.gen.logical, err)
	}
	if state == sdk.GenerationLive || state == sdk.GenerationShadow {
		return nil
	}
	return s.generationEnded(ctx, state)
}

func (s *Sink) generationEnded(ctx context.Context, state string) error {
	e := &gencatalog.EndedError{Namespace: s.schema, Table: s.gen.logical, Pipeline: s.gen.setup.Pipeline, Generation: s.gen.number, State: state}
	// Only for the message; the refusal stands without it.
	if gens, err := readGenerations(ctx, s.db, s.schema, s.gen.logical, false); err == nil {
		e.Describe(gens)
	}
	return sdk.GenerationEnded(e)
}

// endedInstead returns, for a commit that failed with err before its
// generation check ran (a swap renamed the table its statements name), the
// refusal of a generation that ended meanwhile; err otherwise.
func (s *Sink) endedInstead(ctx context.Context, err error) error {
	if err == nil || s.gen.number == 0 || errors.Is(err, sdk.ErrFenced) || errors.Is(err, errPositionsDiffer) {
		return err
	}
	var state string
	if s.db.QueryRow(ctx, `SELECT "state" FROM `+s.catalog()+` WHERE "table_name" = $1 AND "generation" = $2`,
		s.gen.logical, s.gen.number).Scan(&state) != nil {
		return err
	}
	if state == sdk.GenerationLive || state == sdk.GenerationShadow {
		return err
	}
	return s.generationEnded(ctx, state)
}

// Generations performs one step on the table's generations; see
// sdk.Generations.
func (s *Sink) Generations(ctx context.Context, req sdk.GenerationsRequest) (sdk.GenerationsResult, error) {
	if s.db == nil {
		return sdk.GenerationsResult{}, errNotOpen
	}
	res := sdk.GenerationsResult{Table: s.schema + "." + s.gen.logical}
	err := gencatalog.Steps{
		Begin: s.beginGeneration, Freeze: s.freeze, CatchUp: s.catchUp, Swap: s.swap,
		GoLive: s.goLive, Rollback: s.rollback, Retire: s.retire,
	}.Run(ctx, req, &res, "postgres-sink", retryable)
	if err != nil {
		return res, err
	}
	return res, s.describeGenerations(ctx, &res)
}

// describeGenerations fills res with the catalog and every generation's
// positions.
func (s *Sink) describeGenerations(ctx context.Context, res *sdk.GenerationsResult) error {
	gens, err := readGenerations(ctx, s.db, s.schema, s.gen.logical, false)
	if err != nil {
		return fmt.Errorf("postgres-sink: generations: %w", err)
	}
	s.gen.mu.RLock()
	res.Bound = s.gen.number
	s.gen.mu.RUnlock()
	res.Generations = res.Generations[:0]
	for _, g := range gens {
		var p sdk.Position
		var positions []sdk.Position
		_, err := forEach(ctx, s.db, `SELECT "partition_id", "next_offset", "stream_id", "updated_at" FROM `+qualified(s.schema, s.gen.cfg.OffsetsTable)+
			` WHERE "pipeline" = $1 ORDER BY "partition_id"`, []any{g.Key}, []any{&p.Partition, &p.NextOffset, &p.StreamID, &p.CommittedAt},
			func() error { positions = append(positions, p); return nil })
		if err != nil {
			return fmt.Errorf("postgres-sink: generations: read the positions of %s: %w", g.Key, err)
		}
		res.Generations = append(res.Generations, sdk.Generation{Number: g.Number, Pipeline: g.Pipeline, PhysicalTable: g.Physical,
			State: g.State, Step: g.Step, Previous: g.Previous, Positions: positions, UpdatedAt: g.UpdatedAt})
	}
	return nil
}

func (s *Sink) setStep(ctx context.Context, tx pgx.Tx, number int64, state, step string) error {
	_, err := tx.Exec(ctx, "UPDATE "+s.catalog()+` SET "state" = $1, "step" = $2, "updated_at" = $3 WHERE "table_name" = $4 AND "generation" = $5`,
		state, step, time.Now().UTC(), s.gen.logical, number)
	if err != nil {
		return fmt.Errorf("record generation %d as %s (%s): %w", number, state, step, err)
	}
	return nil
}

// setSteps records steps in tx (gencatalog's decisions).
func (s *Sink) setSteps(ctx context.Context, tx pgx.Tx, steps ...gencatalog.Step) error {
	for _, st := range steps {
		if err := s.setStep(ctx, tx, st.Number, st.State, st.Step); err != nil {
			return err
		}
	}
	return nil
}

func (s *Sink) setPhysical(ctx context.Context, tx pgx.Tx, number int64, table string) error {
	_, err := tx.Exec(ctx, "UPDATE "+s.catalog()+` SET "physical_table" = $1, "updated_at" = $2 WHERE "table_name" = $3 AND "generation" = $4`,
		table, time.Now().UTC(), s.gen.logical, number)
	if err != nil {
		return fmt.Errorf("record generation %d's table %s: %w", number, table, err)
	}
	return nil
}

// inTx runs f in a transaction over the table's locked catalog rows;
// before, when it is not nil, runs first in the transaction (the swap's
// table locks).
func (s *Sink) inTx(ctx context.Context, before func(tx pgx.Tx) error, f func(tx pgx.Tx, gens []generation) error) (err error) {
	tx, err := s.db.Begin(ctx)
	if err != nil {
		return fmt.Errorf("begin: %w", err)
	}
	defer func() {
		if err != nil {
			_ = tx.Rollback(context.WithoutCancel(ctx))
		}
	}()
	if before != nil {
		if err := before(tx); err != nil {
			return err
		}
	}
	gens, err := readGenerations(ctx, tx, s.schema, s.gen.logical, true)
	if err != nil {
		return err
	}
	if err := f(tx, gens); err != nil {
		return err
	}
	if err := tx.Commit(ctx); err != nil {
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
	err := s.inTx(ctx, nil, func(tx pgx.Tx, gens []generation) error {
		b, g, refusal := gencatalog.Begin(gens, res.Table, "postgres-sink", s.gen.logical, setup.Pipeline, setup.Definition)
		if refusal != "" {
			refuse("%s", refusal)
			return nil
		}
		if b != nil {
			bound = b
			return nil
		}
		live := gencatalog.Find(gens, g.Previous)
		// The longest name an index of it takes (indexName, pkeyName).
		switch {
		case len(g.Physical)+len(pkeySuffix) > 63 || len(indexName(g.Physical)) > 63 || len(gencatalog.PhysicalName(s.gen.logical, live.Number))+len(pkeySuffix) > 63:
			refuse("table name %s is too long for generation tables (%s and its indexes): PostgreSQL names have at most 63 bytes", s.gen.logical, g.Physical)
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
		if _, err := tx.Exec(ctx, "INSERT INTO "+s.catalog()+` ("table_name", `+generationColumns+`) VALUES ($1, $2, $3, $4, $5, $6, $7, '', $8, $9)`,
			s.gen.logical, g.Number, g.Pipeline, g.Definition, g.Key, g.Physical, g.State, g.Previous, now); err != nil {
			return fmt.Errorf("record generation %d: %w", g.Number, err)
		}
		for _, f := range firsts {
			if _, err := tx.Exec(ctx, s.stmts.insertPosition, g.Key, req.Stream, f.Partition, f.NextOffset, req.StreamID, now); err != nil {
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
	if err := ensureTable(ctx, s.db, s.schema, aggregate); err != nil {
		return err
	}
	if bound.Physical != s.gen.logical {
		// A new table is the pipeline's; a claim that exists stays.
		if _, err := s.db.Exec(ctx, "INSERT INTO "+qualified(s.schema, s.gen.cfg.TablesTable)+` ("table_name", "pipeline", "claimed_at") VALUES ($1, $2, $3) ON CONFLICT DO NOTHING`,
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
func (s *Sink) firstOffsets(ctx context.Context, tx pgx.Tx, key, stream string) ([]sdk.Position, error) {
	byPartition := map[int32]int64{}
	var p int32
	var o int64
	_, err := forEach(ctx, tx, `SELECT "partition_id", "next_offset" FROM `+qualified(s.schema, s.gen.cfg.OffsetsTable)+` WHERE "pipeline" = $1 AND "stream" = $2`,
		[]any{key, stream}, []any{&p, &o}, func() error { byPartition[p] = o; return nil })
	if err != nil {
		return nil, fmt.Errorf("read the live generation's positions: %w", err)
	}
	_, err = forEach(ctx, tx, `SELECT "partition_id", MIN("start_offset") FROM `+qualified(s.schema, s.gen.cfg.BatchesTable)+` WHERE "pipeline" = $1 AND "stream" = $2 GROUP BY "partition_id"`,
		[]any{key, stream}, []any{&p, &o}, func() error { byPartition[p] = o; return nil })
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

// boundPair returns the bound generation and the one it replaces, from gens.
func (s *Sink) boundPair(gens []generation) (cur, prev *generation, err error) {
	return gencatalog.Pair(gens, s.gen.number)
}

// freeze makes the replaced generation frozen: its row's exclusive lock
// waits for every commit holding it shared, and no later one passes.
func (s *Sink) freeze(ctx context.Context, res *sdk.GenerationsResult) error {
	return s.inTx(ctx, nil, func(tx pgx.Tx, gens []generation) error {
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
	return s.inTx(ctx, nil, func(tx pgx.Tx, gens []generation) error {
		cur, prev, err := s.boundPair(gens)
		if err != nil {
			return err
		}
		if !gencatalog.CatchUp(cur, res) {
			return nil
		}
		var behind int
		o := qualified(s.schema, s.gen.cfg.OffsetsTable)
		err = tx.QueryRow(ctx, "SELECT COUNT(*) FROM "+o+" o LEFT JOIN "+o+
			` n ON n."pipeline" = $1 AND n."stream" = o."stream" AND n."partition_id" = o."partition_id" WHERE o."pipeline" = $2 AND (n."next_offset" IS NULL OR n."next_offset" < o."next_offset")`,
			cur.Key, prev.Key).Scan(&behind)
		if err != nil {
			return fmt.Errorf("compare positions: %w", err)
		}
		if behind > 0 {
			return nil
		}
		res.Done = true
		return s.setSteps(ctx, tx, gencatalog.CaughtUp(cur))
	})
}

// renameWait bounds the swap's wait for readers' locks (lock_timeout); a
// swap that times out is tried again, so long readers delay it but never
// hold the readers queued behind it for longer than this.
var renameWait = 2 * time.Second

const pkeySuffix = "_pkey"

// pkeyName is the primary key's name PostgreSQL gives a table of this
// name (the table's part cut to stay within 63 bytes).
func pkeyName(table string) string {
	return table[:min(len(table), 63-len(pkeySuffix))] + pkeySuffix
}

// renameSQL renames from to to, with its primary key and covering index,
// so that every physical table's index names stay its own.
func (s *Sink) renameSQL(from, to string) []string {
	return []string{
		"ALTER TABLE " + qualified(s.schema, from) + " RENAME TO " + quoteIdent(to),
		"ALTER INDEX IF EXISTS " + qualified(s.schema, pkeyName(from)) + " RENAME TO " + quoteIdent(pkeyName(to)),
		"ALTER INDEX IF EXISTS " + qualified(s.schema, indexName(from)) + " RENAME TO " + quoteIdent(indexName(to)),
	}
}

// exchange runs, in one transaction that first takes both tables' ACCESS
// EXCLUSIVE locks within renameWait (and tries again when readers held
// them past it), f over the locked catalog and then renames in's table to
// the logical name and out's to `<table>__g<out>`, unless f says skip.
// The rename and what f records commit together.
func (s *Sink) exchange(ctx context.Context, in, out int64, f func(tx pgx.Tx, gens []generation) (skip bool, err error)) error {
	inName, outName := gencatalog.PhysicalName(s.gen.logical, in), gencatalog.PhysicalName(s.gen.logical, out)
	lock := func(tx pgx.Tx) error {
		if _, err := tx.Exec(ctx, fmt.Sprintf("SET LOCAL lock_timeout = %d", renameWait.Milliseconds())); err != nil {
			return fmt.Errorf("set lock_timeout: %w", err)
		}
		// Whichever of the names exist (a repeated step finds them swapped).
		var tables []string
		for _, t := range []string{s.gen.logical, inName, outName} {
			var reg *string
			if err := tx.QueryRow(ctx, "SELECT to_regclass($1)::text", qualified(s.schema, t)).Scan(&reg); err != nil {
				return fmt.Errorf("look up table %s: %w", t, err)
			}
			if reg != nil {
				tables = append(tables, qualified(s.schema, t))
			}
		}
		if _, err := tx.Exec(ctx, "LOCK TABLE "+strings.Join(tables, ", ")+" IN ACCESS EXCLUSIVE MODE"); err != nil {
			return fmt.Errorf("lock tables %s: %w", strings.Join(tables, ", "), err)
		}
		return nil
	}
	for {
		err := s.inTx(ctx, lock, func(tx pgx.Tx, gens []generation) error {
			skip, err := f(tx, gens)
			if err != nil || skip {
				return err
			}
			stmts := append(s.renameSQL(s.gen.logical, outName), s.renameSQL(inName, s.gen.logical)...)
			for _, q := range stmts {
				if _, err := tx.Exec(ctx, q); err != nil {
					return fmt.Errorf("rename (%s): %w", q, err)
				}
			}
			if err := s.setPhysical(ctx, tx, out, outName); err != nil {
				return err
			}
			return s.setPhysical(ctx, tx, in, s.gen.logical)
		})
		if err == nil || ctx.Err() != nil || !(isPgError(err, codeLockNotAvailable) || isPgError(err, codeDeadlockDetected)) {
			return err
		}
		// A reader held a table past the wait: the transaction gave up its
		// place in the queue, so the readers behind it went on; try again.
	}
}

// swap renames the tables: the bound generation's becomes the logical
// table and the replaced one's `<table>__g<M>`, recorded in the same
// transaction. Commits of this sink wait on s.gen.mu meanwhile; the
// statements then name the renamed table.
func (s *Sink) swap(ctx context.Context, res *sdk.GenerationsResult) error {
	s.gen.mu.Lock()
	defer s.gen.mu.Unlock()
	var cur *generation
	var prevNumber int64
	err := s.inTx(ctx, nil, func(tx pgx.Tx, gens []generation) error {
		c, prev, err := s.boundPair(gens)
		if err != nil {
			return err
		}
		cur, prevNumber = c, prev.Number
		return nil
	})
	if err != nil {
		return err
	}
	var renamed *generation
	err = s.exchange(ctx, cur.Number, prevNumber, func(tx pgx.Tx, gens []generation) (bool, error) {
		cur, _, err := s.boundPair(gens)
		if err != nil {
			return true, err
		}
		switch cur.Step {
		case "caught_up":
		case "swapped", sdk.GenerationLive:
			renamed = cur
			return true, nil
		default:
			res.Refusals = append(res.Refusals, gencatalog.NotCaughtUp(cur))
			return true, nil
		}
		if err := s.setStep(ctx, tx, cur.Number, cur.State, "swapped"); err != nil {
			return true, err
		}
		res.Done = true
		renamed = cur
		return false, nil
	})
	if err != nil || renamed == nil {
		return err
	}
	if res.Done {
		testFault(afterRename)
	}
	renamed.Physical = s.gen.logical
	s.bind(renamed)
	return nil
}

// goLive marks the bound generation live and the replaced one retired, and
// hands the tables' ownership over with them.
func (s *Sink) goLive(ctx context.Context, res *sdk.GenerationsResult) error {
	return s.inTx(ctx, nil, func(tx pgx.Tx, gens []generation) error {
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
func (s *Sink) handOver(ctx context.Context, tx pgx.Tx, in, out *generation) error {
	now := time.Now().UTC()
	t := qualified(s.schema, s.gen.cfg.TablesTable)
	for _, o := range []struct{ table, pipeline string }{{s.gen.logical, in.Pipeline}, {gencatalog.PhysicalName(s.gen.logical, out.Number), out.Pipeline}} {
		if _, err := tx.Exec(ctx, "INSERT INTO "+t+` ("table_name", "pipeline", "claimed_at") VALUES ($1, $2, $3) ON CONFLICT ("table_name") DO UPDATE SET "pipeline" = EXCLUDED."pipeline"`,
			o.table, o.pipeline, now); err != nil {
			return fmt.Errorf("record the owner of table %s: %w", o.table, err)
		}
	}
	inName := gencatalog.PhysicalName(s.gen.logical, in.Number)
	if _, err := tx.Exec(ctx, "DELETE FROM "+t+` WHERE "table_name" = $1`, inName); err != nil {
		return fmt.Errorf("forget the owner of table %s: %w", inName, err)
	}
	return nil
}

// rollback swaps the previous generation back in: the live one is frozen,
// then, in one transaction, the tables are renamed back, the previous
// generation marked live and the other retired; each step is recorded (the
// previous one's step "rollback") and repeated safely.
func (s *Sink) rollback(ctx context.Context, res *sdk.GenerationsResult) error {
	var in, out *generation
	err := s.inTx(ctx, nil, func(tx pgx.Tx, gens []generation) error {
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
	err = s.exchange(ctx, in.Number, out.Number, func(tx pgx.Tx, gens []generation) (bool, error) {
		if g := gencatalog.Find(gens, in.Number); g == nil || g.Step != "rollback" {
			return true, nil // done before
		}
		if err := s.setSteps(ctx, tx, gencatalog.RolledBack(in, out)...); err != nil {
			return true, err
		}
		// The previous generation goes back to being replaced by none;
		// rolling forward again is a new reprocess.
		if _, err := tx.Exec(ctx, "UPDATE "+s.catalog()+` SET "previous" = $1 WHERE "table_name" = $2 AND "generation" = $3`,
			in.Number, s.gen.logical, out.Number); err != nil {
			return true, err
		}
		return false, s.handOver(ctx, tx, in, out)
	})
	if err != nil {
		return err
	}
	res.Done = true
	return nil
}

// retire drops the tables of retired generations, each in one transaction
// with its record.
func (s *Sink) retire(ctx context.Context, res *sdk.GenerationsResult) error {
	gens, err := readGenerations(ctx, s.db, s.schema, s.gen.logical, false)
	if err != nil {
		return err
	}
	for _, g := range gens {
		if g.State != sdk.GenerationRetired || g.Physical == s.gen.logical {
			continue
		}
		for {
			err := s.inTx(ctx, func(tx pgx.Tx) error {
				_, err := tx.Exec(ctx, fmt.Sprintf("SET LOCAL lock_timeout = %d", renameWait.Milliseconds()))
				return err
			}, func(tx pgx.Tx, gens []generation) error {
				if cur := gencatalog.Find(gens, g.Number); cur == nil || cur.State != sdk.GenerationRetired {
					return nil
				}
				if _, err := tx.Exec(ctx, "DROP TABLE IF EXISTS "+qualified(s.schema, g.Physical)); err != nil {
					return fmt.Errorf("drop table %s of generation %d: %w", g.Physical, g.Number, err)
				}
				if err := s.setStep(ctx, tx, g.Number, sdk.GenerationDropped, g.Step); err != nil {
					return err
				}
				_, err := tx.Exec(ctx, "DELETE FROM "+qualified(s.schema, s.gen.cfg.TablesTable)+` WHERE "table_name" = $1`, g.Physical)
				return err
			})
			if err == nil {
				break
			}
			if ctx.Err() != nil || !isPgError(err, codeLockNotAvailable) {
				return err
			}
		}
		res.Done = true
	}
	return nil
}
