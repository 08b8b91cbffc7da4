package testenv

import (
	"strings"
	"testing"
)

func TestMySQLDSN(t *testing.T) {
	t.Setenv(EnvMySQLDSN, "")
	if got := MySQLDSN("d"); got != "root@tcp(127.0.0.1:3306)/d" {
		t.Errorf("default: %q", got)
	}
	t.Setenv(EnvMySQLDSN, "kappa_test:pw@tcp(db.example:3307)/")
	if got := MySQLDSN("d") + "?x=1"; got != "kappa_test:pw@tcp(db.example:3307)/d?x=1" {
		t.Errorf("from %s: %q", EnvMySQLDSN, got)
	}
	if MySQLAddr() != "db.example:3307" || MySQLUser() != "kappa_test" {
		t.Errorf("addr %q user %q", MySQLAddr(), MySQLUser())
	}
}

func TestMalformedMySQLDSNPanicsWithoutShowingIt(t *testing.T) {
	for _, dsn := range []string{"u:s3cret@tcp(h:1)/db", "u:s3cret@tcp(h:1)", "u:s3cret@tcp(h:1)/?tls=true", "u:s3cret@unix(/s)/"} {
		t.Setenv(EnvMySQLDSN, dsn)
		func() {
			defer func() {
				r := recover()
				if r == nil {
					t.Errorf("%s: accepted", dsn)
				} else if msg := r.(error).Error(); strings.Contains(msg, "s3cret") || !strings.Contains(msg, EnvMySQLDSN) {
					t.Errorf("%s: %s", dsn, msg)
				}
			}()
			MySQLDSN("d")
		}()
	}
}
