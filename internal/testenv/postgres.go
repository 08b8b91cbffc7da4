package testenv

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"net/url"
	"os"
	"time"

	"github.com/jackc/pgx/v5"
)

// EnvPostgresDSN names the variable that points the tests at a PostgreSQL
// server: a postgres:// URL naming a database the tests may connect to in
// order to create and drop their own. scripts/postgres-dsn prints the
// value to use, and scripts/test exports it unless it is already set.
const EnvPostgresDSN = "KAPPA_TEST_POSTGRES_DSN"

// DefaultPostgresDSN is the server of the project's machines (trust
// authentication on 127.0.0.1).
const DefaultPostgresDSN = "postgres://postgres@127.0.0.1:5432/postgres"

// ServerPostgresDSN returns KAPPA_TEST_POSTGRES_DSN, or DefaultPostgresDSN
// when it is unset, and an error when it is not a postgres:// URL.
func ServerPostgresDSN() (string, error) {
	dsn := os.Getenv(EnvPostgresDSN)
	if dsn == "" {
		return DefaultPostgresDSN, nil
	}
	u, err := url.Parse(dsn)
	if err != nil || (u.Scheme != "postgres" && u.Scheme != "postgresql") || u.Host == "" {
		return "", fmt.Errorf("%s must be a postgres://user[:password]@host:port/database URL (its value is not shown: it may hold a password)", EnvPostgresDSN)
	}
	return dsn, nil
}

// PostgresDSN returns the test server's DSN with database in place of the
// one it names (the server's own when database is empty). It panics on a
// malformed KAPPA_TEST_POSTGRES_DSN, naming the variable but not its value.
func PostgresDSN(database string) string {
	dsn, err := ServerPostgresDSN()
	if err != nil {
		panic(err)
	}
	if database == "" {
		return dsn
	}
	u, _ := url.Parse(dsn) // ServerPostgresDSN parsed it
	u.Path = "/" + database
	return u.String()
}

// PostgresAddr is the test server's host:port and user, for messages.
func PostgresAddr() string {
	u, _ := url.Parse(PostgresDSN(""))
	return u.Host + " as " + u.User.Username()
}

// CreatePostgresDatabase creates a database with a fresh name on the test
// server and returns its name and a function that drops it.
func CreatePostgresDatabase(ctx context.Context) (name string, drop func() error, err error) {
	conn, err := pgx.Connect(ctx, PostgresDSN(""))
	if err != nil {
		return "", nil, fmt.Errorf("connect to PostgreSQL at %s: %w", PostgresAddr(), err)
	}
	defer conn.Close(context.WithoutCancel(ctx))
	var b [6]byte
	_, _ = rand.Read(b[:])
	name = "kappa_test_" + hex.EncodeToString(b[:])
	if _, err := conn.Exec(ctx, "CREATE DATABASE "+name); err != nil {
		return "", nil, fmt.Errorf("create database %s: %w", name, err)
	}
	drop = func() error {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		conn, err := pgx.Connect(ctx, PostgresDSN(""))
		if err != nil {
			return err
		}
		defer conn.Close(ctx)
		_, err = conn.Exec(ctx, "DROP DATABASE IF EXISTS "+name+" WITH (FORCE)")
		return err
	}
	return name, drop, nil
}
