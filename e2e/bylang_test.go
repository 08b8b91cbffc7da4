package e2e

import (
	"database/sql"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

// TestTwitterByLangMatchesGroundTruth runs pipelines/twitter-by-lang.yaml
// (one dimension, lang) and pipelines/twitter.yaml (none) on the same
// firehose into the same database: per (minute, lang) the counts must equal
// the firehose's ground truth, and the pipeline without dimensions must
// keep the 2016 table layout column for column.
func TestTwitterByLangMatchesGroundTruth(t *testing.T) {
	broker := startBroker(t, "twitter", 4)
	langTruthFile := filepath.Join(t.TempDir(), "truth-lang.csv")
	summary, truth := runFirehose(t, broker, "twitter",
		"--count", "30000", "--late-frac", "0.1", "--max-late", "3h", "--seed", "20160602",
		"--truth-lang", langTruthFile)
	langTruth := readTruth(t, langTruthFile)
	if sum(langTruth) != summary.Tweets {
		t.Fatalf("language truth holds %d tweets, firehose says %d", sum(langTruth), summary.Tweets)
	}

	dbName, db := database(t)
	env := twitterEnv(broker, dbName)
	for _, file := range []string{"twitter-by-lang.yaml", "twitter.yaml"} {
		res := runRuntime(t, filepath.Join(repoRoot(), "pipelines", file), env, "--drain")
		if res.err != nil {
			t.Fatalf("kappa-runtime --drain %s: %v\n%s", file, res.err, tail(res.stderr))
		}
		if res.facts != summary.Tweets {
			t.Errorf("%s counted %d facts, firehose produced %d tweets", file, res.facts, summary.Tweets)
		}
	}

	got := perMinuteLang(t, db, dbName, "twitter_by_lang")
	langs := map[string]bool{}
	for k := range langTruth {
		_, lang, _ := strings.Cut(k, ",")
		langs[lang] = true
	}
	if len(langs) < 3 {
		t.Fatalf("the firehose wrote %d languages; the test needs several", len(langs))
	}
	compareMinutes(t, got, langTruth)
	t.Logf("%d (minute, lang) cells over %d languages match the ground truth", len(langTruth), len(langs))

	// Without dimensions, the original job's table and query, unchanged.
	compareMinutes(t, perMinute(t, db, dbName, "twitter"), truth)
	wantLayout := map[string][]string{
		"twitter":         {"start_offset bigint NO PRI", "end_offset bigint NO PRI", "timestamp datetime NO PRI", "partition_id int NO PRI", "count int NO "},
		"twitter_by_lang": {"start_offset bigint NO PRI", "end_offset bigint NO PRI", "timestamp datetime NO PRI", "partition_id int NO PRI", "count int NO ", "lang varchar NO PRI"},
	}
	for table, want := range wantLayout {
		if got := layout(t, db, dbName, table); !slices.Equal(got, want) {
			t.Errorf("table %s has columns\n  %s\nwant\n  %s", table, strings.Join(got, "\n  "), strings.Join(want, "\n  "))
		}
	}
}

// layout lists a table's columns in order as "name type nullable key".
func layout(t *testing.T, db *sql.DB, dbName, table string) []string {
	t.Helper()
	rows, err := db.Query(`SELECT COLUMN_NAME, DATA_TYPE, IS_NULLABLE, COLUMN_KEY FROM information_schema.COLUMNS
		WHERE TABLE_SCHEMA = ? AND TABLE_NAME = ? ORDER BY ORDINAL_POSITION`, dbName, table)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	var cols []string
	for rows.Next() {
		var name, typ, nullable, key string
		if err := rows.Scan(&name, &typ, &nullable, &key); err != nil {
			t.Fatal(err)
		}
		cols = append(cols, name+" "+typ+" "+nullable+" "+key)
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	return cols
}
