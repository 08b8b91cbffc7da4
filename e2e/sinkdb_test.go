package e2e

import (
	"context"
	"database/sql"
	"fmt"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/kappa-stream/kappa/internal/testenv"
)

// sinkDB is a test's database on the server of one of the two sinks,
// MariaDB (mysql-sink, pipelines/twitter.yaml) or PostgreSQL
// (postgres-sink, pipelines/twitter-postgres.yaml), so that a test of what
// both sinks promise is written once.
type sinkDB struct {
	name     string  // the database, dropped when the test ends
	postgres bool    // PostgreSQL; MariaDB otherwise
	db       *sql.DB // MariaDB: a handle on the server; nil on PostgreSQL
}

// mariaDB creates a database on the MariaDB of testenv.MySQLDSN.
func mariaDB(t *testing.T) sinkDB {
	t.Helper()
	name, db := database(t)
	return sinkDB{name: name, db: db}
}

// postgresDB creates a database on the PostgreSQL of testenv.PostgresDSN.
func postgresDB(t *testing.T) sinkDB {
	t.Helper()
	return sinkDB{name: postgresDatabase(t), postgres: true}
}

// env is what the sink's pipeline needs: the broker and the database.
func (d sinkDB) env(broker string) []string {
	if d.postgres {
		return postgresEnv(broker, d.name)
	}
	return twitterEnv(broker, d.name)
}

// twitterEnv is the environment that points pipelines/twitter.yaml at a
// test's broker and MariaDB database.
func twitterEnv(broker, dbName string) []string {
	return []string{"KAPPA_BROKERS=" + broker, "KAPPA_MYSQL_DSN=" + testenv.MySQLDSN(dbName)}
}

// twitterPipeline is the original job's pipeline file for this sink.
func (d sinkDB) twitterPipeline() string {
	if d.postgres {
		return filepath.Join(repoRoot(), "pipelines", "twitter-postgres.yaml")
	}
	return filepath.Join(repoRoot(), "pipelines", "twitter.yaml")
}

// sink is the sink plugin's name.
func (d sinkDB) sink() string {
	if d.postgres {
		return "postgres-sink"
	}
	return "mysql-sink"
}

// schema is where the sink writes its tables: the database itself on
// MariaDB, schema aggregates on PostgreSQL.
func (d sinkDB) schema() string {
	if d.postgres {
		return "aggregates"
	}
	return d.name
}

// table is table's qualified name.
func (d sinkDB) table(table string) string { return d.schema() + "." + table }

// perMinute runs the original query on table twitter.
func (d sinkDB) perMinute(t *testing.T) map[string]int64 {
	t.Helper()
	if d.postgres {
		return psqlPerMinute(t, d.name)
	}
	return perMinute(t, d.db, d.name, "twitter")
}

// query runs a query of one value and returns it as text.
func (d sinkDB) query(query string) (string, error) {
	if d.postgres {
		out, err := exec.Command("psql", testenv.PostgresDSN(d.name), "--no-psqlrc", "-v", "ON_ERROR_STOP=1", "-At", "-c", query).CombinedOutput()
		if err != nil {
			return "", fmt.Errorf("psql -c %q: %v\n%s", query, err, out)
		}
		return strings.TrimSpace(string(out)), nil
	}
	var v sql.NullString
	if err := d.db.QueryRow(query).Scan(&v); err != nil {
		return "", fmt.Errorf("%s: %v", query, err)
	}
	return v.String, nil
}

// value is query's value; an error ends the test.
func (d sinkDB) value(t *testing.T, query string) string {
	t.Helper()
	v, err := d.query(query)
	if err != nil {
		t.Fatal(err)
	}
	return v
}

// originalTotal returns a function that runs the original query on a
// connection of its own, closed when the test ends, and sums its counts.
func (d sinkDB) originalTotal(t *testing.T) func() (int64, error) {
	t.Helper()
	if !d.postgres {
		q := fmt.Sprintf("SELECT timestamp, SUM(count) FROM %s GROUP BY timestamp", d.table("twitter"))
		return func() (int64, error) {
			rows, err := d.db.Query(q)
			if err != nil {
				return 0, err
			}
			defer rows.Close()
			var total int64
			for rows.Next() {
				var ts string
				var n int64
				if err := rows.Scan(&ts, &n); err != nil {
					return 0, err
				}
				total += n
			}
			return total, rows.Err()
		}
	}
	conn, err := pgx.Connect(context.Background(), testenv.PostgresDSN(d.name))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close(context.Background()) })
	return func() (int64, error) {
		var total int64
		rows, err := conn.Query(context.Background(), strings.TrimSuffix(originalQueryPsql, " ORDER BY timestamp;"))
		if err == nil {
			var ts time.Time
			var n int64
			_, err = pgx.ForEachRow(rows, []any{&ts, &n}, func() error { total += n; return nil })
		}
		return total, err
	}
}

// tableReader runs the original query every 50 ms until stopped and
// records what went wrong: a failed query, or a total below the one seen
// before (a reader shown a half-filled table). It also keeps the longest
// query.
type tableReader struct {
	stop     chan struct{}
	done     chan struct{}
	mu       sync.Mutex
	problems []string
	reads    int
	last     int64
	longest  time.Duration
}

func startReader(t *testing.T, d sinkDB) *tableReader {
	t.Helper()
	total := d.originalTotal(t)
	r := &tableReader{stop: make(chan struct{}), done: make(chan struct{})}
	go func() {
		defer close(r.done)
		for {
			select {
			case <-r.stop:
				return
			case <-time.After(50 * time.Millisecond):
			}
			began := time.Now()
			total, err := total()
			took := time.Since(began)
			r.mu.Lock()
			r.reads++
			r.longest = max(r.longest, took)
			switch {
			// MariaDB's "doesn't exist" before any total was seen is not
			// counted (PostgreSQL says "does not exist": always counted).
			case err != nil && !strings.Contains(err.Error(), "doesn't exist") || err != nil && r.last > 0:
				r.problems = append(r.problems, "query failed: "+err.Error())
			case err == nil && total < r.last:
				r.problems = append(r.problems, fmt.Sprintf("total fell from %d to %d", r.last, total))
			case err == nil:
				r.last = total
			}
			r.mu.Unlock()
		}
	}()
	t.Cleanup(r.finish)
	return r
}

func (r *tableReader) finish() {
	select {
	case <-r.stop:
	default:
		close(r.stop)
	}
	<-r.done
}
