package mysqlsink

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/kappa-stream/kappa/internal/sinkconfig"
	"github.com/kappa-stream/kappa/sdk"
)

func TestCheckIdentifier(t *testing.T) {
	for _, name := range []string{"twitter", "_t", "T1", "a$b", "kappa_offsets", strings.Repeat("a", 64)} {
		if err := checkIdentifier(name); err != nil {
			t.Errorf("checkIdentifier(%q) = %v, want nil", name, err)
		}
	}
	for _, name := range []string{"", "1t", "a-b", "a b", "a`b", "t;DROP TABLE x", "db.t", "tw\u00e9et", strings.Repeat("a", 65)} {
		if err := checkIdentifier(name); err == nil {
			t.Errorf("checkIdentifier(%q) = nil, want an error", name)
		}
	}
}

func TestParseConfigDefaults(t *testing.T) {
	cfg, err := ParseConfig([]byte("dsn: root@tcp(127.0.0.1:3306)/aggregates\ntable: twitter\n"))
	if err != nil {
		t.Fatal(err)
	}
	want := Config{DSN: "root@tcp(127.0.0.1:3306)/aggregates", Tables: sinkconfig.Tables{Table: "twitter", OffsetsTable: "kappa_offsets", BatchesTable: "kappa_batches", TablesTable: "kappa_tables",
		DeadLettersMaxBytes: 65536}}
	if cfg != want {
		t.Fatalf("got %+v, want %+v", cfg, want)
	}
	dc, err := cfg.driverConfig()
	if err != nil {
		t.Fatal(err)
	}
	if dc.Loc != time.UTC || !dc.ParseTime || !dc.InterpolateParams || !dc.ClientFoundRows || dc.Timeout != defaultDialTimeout {
		t.Fatalf("forced settings missing: loc=%v parseTime=%v interpolate=%v foundRows=%v timeout=%v",
			dc.Loc, dc.ParseTime, dc.InterpolateParams, dc.ClientFoundRows, dc.Timeout)
	}
	if dc.DBName != "aggregates" || dc.Addr != "127.0.0.1:3306" {
		t.Fatalf("db %q addr %q", dc.DBName, dc.Addr)
	}
}

func TestDriverConfigKeepsExplicitTimeoutAndForcesTheRest(t *testing.T) {
	cfg := Config{DSN: "u:p@tcp(db:3306)/agg?timeout=2s&loc=Local&parseTime=false&clientFoundRows=false"}
	dc, err := cfg.driverConfig()
	if err != nil {
		t.Fatal(err)
	}
	if dc.Timeout != 2*time.Second || dc.Loc != time.UTC || !dc.ParseTime || !dc.ClientFoundRows {
		t.Fatalf("timeout=%v loc=%v parseTime=%v foundRows=%v", dc.Timeout, dc.Loc, dc.ParseTime, dc.ClientFoundRows)
	}
}

func TestParseConfigErrors(t *testing.T) {
	tests := []struct {
		name string
		yaml string
		want map[string]string // path -> part of the message
	}{
		{"empty block", "", map[string]string{"dsn": "required (string)", "table": "required (string)"}},
		{"unknown key", "dsn: root@tcp(h:1)/d\ntable: t\ntabel: t\n", map[string]string{"tabel": "unknown key"}},
		{"wrong type", "dsn: root@tcp(h:1)/d\ntable: [a, b]\n", map[string]string{"table": "string"}},
		{"no database", "dsn: root@tcp(h:1)/\ntable: t\n", map[string]string{"dsn": "must name a database"}},
		{"bad database name", "dsn: root@tcp(h:1)/agg-regates\ntable: t\n", map[string]string{"dsn": "database name"}},
		{"bad dsn", "dsn: root@tcp(h:1\ntable: t\n", map[string]string{"dsn": "invalid DSN"}},
		{"bad table names", "dsn: root@tcp(h:1)/d\ntable: 'x; DROP TABLE y'\noffsets_table: 9o\nbatches_table: ''\n",
			map[string]string{"table": "not a valid name", "offsets_table": "not a valid name", "batches_table": "must not be empty"}},
		{"same table twice", "dsn: root@tcp(h:1)/d\ntable: Kappa_Offsets\n", map[string]string{"offsets_table": "already used by table"}},
		{"charset unsafe for interpolation", "dsn: root@tcp(h:1)/d?charset=gbk\ntable: t\n", map[string]string{"dsn": "charset gbk is refused"}},
		{"unsafe charset among fallbacks", "dsn: root@tcp(h:1)/d?charset=utf8mb4,SJIS\ntable: t\n", map[string]string{"dsn": "charset SJIS is refused"}},
		{"quoted charset", "dsn: root@tcp(h:1)/d?charset=`big5`\ntable: t\n", map[string]string{"dsn": "not a plain character set name"}},
		{"unsafe collation", "dsn: root@tcp(h:1)/d?collation=cp932_bin\ntable: t\n", map[string]string{"dsn": "collation cp932_bin is refused"}},
		{"collation of an unsafe charset", "dsn: root@tcp(h:1)/d?collation=gb2312_chinese_ci\ntable: t\n", map[string]string{"dsn": "collation gb2312_chinese_ci is refused"}},
		{"charset other than utf8mb4", "dsn: root@tcp(h:1)/d?charset=latin1\ntable: t\n", map[string]string{"dsn": "charset latin1 is refused"}},
		{"collation other than utf8mb4", "dsn: root@tcp(h:1)/d?collation=latin1_swedish_ci\ntable: t\n", map[string]string{"dsn": "collation latin1_swedish_ci is refused"}},
		{"session charset variable", "dsn: root@tcp(h:1)/d?character_set_client=gbk\ntable: t\n", map[string]string{"dsn": "parameter character_set_client is refused"}},
		{"session charset variable as @@", "dsn: root@tcp(h:1)/d?@@session.character_set_client=gbk\ntable: t\n", map[string]string{"dsn": `parameter "@@session.character_set_client" is refused`}},
		{"quoted session charset variable", "dsn: root@tcp(h:1)/d?`character_set_client`=gbk\ntable: t\n", map[string]string{"dsn": "parameter \"`character_set_client`\" is refused"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := ParseConfig([]byte(tt.yaml))
			var errs sdk.ConfigErrors
			if !errors.As(err, &errs) {
				t.Fatalf("got %v, want sdk.ConfigErrors", err)
			}
			got := map[string]string{}
			for _, e := range errs {
				got[e.Path] = e.Message
			}
			if len(got) != len(tt.want) {
				t.Errorf("got errors %v, want paths of %v", errs, tt.want)
			}
			for path, part := range tt.want {
				if !strings.Contains(got[path], part) {
					t.Errorf("%s: got %q, want it to mention %q", path, got[path], part)
				}
			}
		})
	}
}

func TestDSNUTF8MB4IsAccepted(t *testing.T) {
	for _, params := range []string{"", "?charset=utf8mb4", "?collation=utf8mb4_unicode_ci", "?charset=utf8mb4&collation=utf8mb4_bin", "?time_zone=%27%2B00%3A00%27"} {
		cfg := Config{DSN: "root@tcp(h:1)/d" + params}
		if _, err := cfg.driverConfig(); err != nil {
			t.Errorf("%s: %v", params, err)
		}
	}
}

func TestDSNPasswordNeverInConfigErrors(t *testing.T) {
	const password = "s3cr3t-Hunter2"
	for _, dsn := range []string{
		"root:" + password + "@tcp(127.0.0.1:3306",                 // unterminated address
		"root:" + password + "@tcp(127.0.0.1:3306)/",               // no database
		"root:" + password + "@tcp(127.0.0.1:3306)/d?parseTime=xx", // bad parameter
		"root:" + password + "@tcp(127.0.0.1:3306)/d%zz",           // bad escape in the database name
		"root:" + password + "@tcp(127.0.0.1:3306)",                // no slash at all
		"root:" + password + "@tcp(127.0.0.1:3306)/d?charset=gbk",  // charset unsafe for interpolation
	} {
		_, err := ParseConfig([]byte("dsn: '" + dsn + "'\ntable: t\n"))
		if err == nil {
			t.Errorf("%s: no error", dsn)
			continue
		}
		if strings.Contains(err.Error(), password) {
			t.Errorf("error shows the password: %v", err)
		}
	}
}

func TestDSNPassword(t *testing.T) {
	for dsn, want := range map[string]string{
		"root@tcp(h:1)/d":          "",
		"root:pw@tcp(h:1)/d":       "pw",
		"root:p@w:/x@tcp(h:1)/d":   "p@w:/x",
		"root:pw@tcp(h:1":          "pw",
		"/d":                       "",
		"user:pass@unix(/s.sock)/": "pass",
	} {
		if got := dsnPassword(dsn); got != want {
			t.Errorf("dsnPassword(%q) = %q, want %q", dsn, got, want)
		}
	}
}

func TestOpenRejectsBadSetupBeforeConnecting(t *testing.T) {
	// Port 1 is closed; reaching it would fail differently.
	config := []byte("dsn: root@tcp(127.0.0.1:1)/d\ntable: twitter\n")
	for name, setup := range map[string]sdk.Setup{
		"no pipeline":         {Config: config, Window: time.Minute},
		"sub-second window":   {Pipeline: "p", Config: config, Window: 1500 * time.Millisecond},
		"bad dimension":       {Pipeline: "p", Config: config, Window: time.Minute, Dimensions: []string{"lang-code"}},
		"dimension clash":     {Pipeline: "p", Config: config, Window: time.Minute, Dimensions: []string{"Count"}},
		"duplicate dimension": {Pipeline: "p", Config: config, Window: time.Minute, Dimensions: []string{"lang", "LANG"}},
	} {
		err := New().Open(context.Background(), setup)
		if err == nil || strings.Contains(err.Error(), "connect") {
			t.Errorf("%s: got %v, want a setup error", name, err)
		}
	}
}
