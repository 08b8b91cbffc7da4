// Package testenv says which MariaDB the tests, `make bench` and the demo
// use: KAPPA_TEST_MYSQL_DSN when it is set, root with an empty password on
// 127.0.0.1:3306 otherwise. scripts/services prints the value to use (root
// when root gets in over TCP without a password, else a dedicated kappa_test
// user it creates), and scripts/test exports it unless it is already set.
package testenv

import (
	"fmt"
	"os"
	"strings"

	"github.com/go-sql-driver/mysql"
)

// EnvMySQLDSN names the variable that points the tests at a MariaDB server.
const EnvMySQLDSN = "KAPPA_TEST_MYSQL_DSN"

// DefaultMySQLDSN is the server of the project's machines.
const DefaultMySQLDSN = "root@tcp(127.0.0.1:3306)/"

// MySQLDSN returns a DSN for database on the test server (no database when
// it is empty): KAPPA_TEST_MYSQL_DSN, which must be
// user[:password]@tcp(host:port)/ with neither database nor parameters,
// followed by database. Callers append their own parameters
// (MySQLDSN(db) + "?innodb_lock_wait_timeout=1"). It panics on a malformed
// KAPPA_TEST_MYSQL_DSN, naming the variable but not its value, which may
// hold a password.
func MySQLDSN(database string) string {
	base, err := ServerMySQLDSN()
	if err != nil {
		panic(err)
	}
	return base + database
}

// MySQLAddr is the test server's host:port.
func MySQLAddr() string {
	cfg, err := mysql.ParseDSN(MySQLDSN(""))
	if err != nil {
		panic(err) // ServerMySQLDSN parsed it already
	}
	return cfg.Addr
}

// MySQLUser is the account the tests log in as.
func MySQLUser() string {
	cfg, err := mysql.ParseDSN(MySQLDSN(""))
	if err != nil {
		panic(err)
	}
	return cfg.User
}

// ServerMySQLDSN returns KAPPA_TEST_MYSQL_DSN, or DefaultMySQLDSN when it is
// unset, and an error when it is malformed.
func ServerMySQLDSN() (string, error) {
	dsn := os.Getenv(EnvMySQLDSN)
	if dsn == "" {
		return DefaultMySQLDSN, nil
	}
	wrong := fmt.Errorf("%s must read user[:password]@tcp(host:port)/ with no database and no parameters (its value is not shown: it may hold a password)", EnvMySQLDSN)
	if !strings.HasSuffix(dsn, "/") {
		return "", wrong
	}
	cfg, err := mysql.ParseDSN(dsn)
	if err != nil || cfg.DBName != "" || cfg.Net != "tcp" {
		return "", wrong
	}
	return dsn, nil
}
