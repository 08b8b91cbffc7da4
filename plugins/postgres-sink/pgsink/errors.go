package pgsink

import (
	"context"
	"errors"
	"io"
	"net"
	"strings"

	"github.com/jackc/pgx/v5/pgconn"

	"github.com/kappa-stream/kappa/internal/commitcheck"
	"github.com/kappa-stream/kappa/sdk"
)

// SQLSTATE codes the sink tells apart.
const (
	codeUniqueViolation      = "23505"
	codeDuplicateTable       = "42P07"
	codeDuplicateSchema      = "42P06"
	codeSerializationFailure = "40001"
	codeDeadlockDetected     = "40P01"
	codeLockNotAvailable     = "55P03"
	codeInvalidCatalogName   = "3D000"
)

// FencedError says that a partition's committed position was not the
// range's Start: another writer moved first. It wraps sdk.ErrFenced.
type FencedError = commitcheck.FencedError

// retryable is the one place that decides whether a commit's error is
// transient, so that the same commit may succeed if tried again; Commit
// marks such errors with sdk.Retryable. Serialization failures, deadlocks
// and lock timeouts roll back only because of a concurrent transaction;
// class 08 (connection exceptions) and 57P (the server shutting down or
// starting, as in a restart) and a broken connection leave the outcome
// unknown but harm nothing. Retrying is only safe because the runtime
// re-reads Positions first: a commit that did land is then seen and not
// repeated. A fenced commit is not retryable: its batch is stale.
func retryable(err error) bool {
	if err == nil || errors.Is(err, sdk.ErrFenced) || errors.Is(err, context.Canceled) {
		return false
	}
	var pe *pgconn.PgError
	if errors.As(err, &pe) {
		switch {
		case pe.Code == codeSerializationFailure, pe.Code == codeDeadlockDetected, pe.Code == codeLockNotAvailable:
			return true
		case strings.HasPrefix(pe.Code, "08"), strings.HasPrefix(pe.Code, "57P"):
			return true
		}
		return false
	}
	var ne net.Error
	var ce *pgconn.ConnectError
	return errors.As(err, &ne) || errors.As(err, &ce) || errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) ||
		pgconn.Timeout(err) || pgconn.SafeToRetry(err)
}

func isPgError(err error, code string) bool {
	var pe *pgconn.PgError
	return errors.As(err, &pe) && pe.Code == code
}
