package pgsink

import (
	"context"
	"fmt"
	"io"
	"testing"

	"github.com/jackc/pgx/v5/pgconn"

	"github.com/kappa-stream/kappa/sdk"
)

// retryable says which commit errors may succeed at the next try: those of
// a concurrent transaction and of a lost or restarting server, never a
// fenced commit or a row the table refuses.
func TestRetryable(t *testing.T) {
	for _, c := range []struct {
		err  error
		want bool
	}{
		{&pgconn.PgError{Code: codeDeadlockDetected}, true},
		{&pgconn.PgError{Code: codeSerializationFailure}, true},
		{&pgconn.PgError{Code: "57P01"}, true}, // admin_shutdown: a restart
		{&pgconn.PgError{Code: "08006"}, true}, // connection_failure
		{&pgconn.PgError{Code: codeUniqueViolation}, false},
		{&pgconn.PgError{Code: "22021"}, false}, // invalid byte sequence
		{fmt.Errorf("commit transaction (outcome unknown, re-read positions): %w", io.ErrUnexpectedEOF), true},
		{&FencedError{}, false},
		{context.Canceled, false},
		{sdk.Permanent(fmt.Errorf("x")), false},
	} {
		if got := retryable(fmt.Errorf("wrapped: %w", c.err)); got != c.want {
			t.Errorf("retryable(%v) = %v, want %v", c.err, got, c.want)
		}
	}
}

func TestDSNPasswordIsFoundInEveryForm(t *testing.T) {
	for dsn, want := range map[string]string{
		"postgres://u:s3cr%40t@h/db":           "s3cr@t",
		"postgres://u@h/db":                    "",
		"host=h password=s3cret user=u":        "s3cret",
		"host=h password='s3 cret' user=u":     "s3 cret",
		"postgresql://u:p@h:5432/db?sslmode=x": "p",
	} {
		if got := dsnPassword(dsn); got != want {
			t.Errorf("dsnPassword(%q) = %q, want %q", dsn, got, want)
		}
	}
	if got := redact("failed: s3cr%40t and s3cr@t", "s3cr@t"); got != "failed: xxxxx and xxxxx" {
		t.Errorf("redact: %q", got)
	}
}
