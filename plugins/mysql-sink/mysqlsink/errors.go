package mysqlsink

import (
	"database/sql/driver"
	"errors"

	"github.com/go-sql-driver/mysql"

	"github.com/kappa-stream/kappa/internal/commitcheck"
	"github.com/kappa-stream/kappa/sdk"
)

// MySQL error numbers the sink tells apart.
const (
	errDuplicateKey    = 1062
	errUnknownDatabase = 1049
	errLockWaitTimeout = 1205
	errDeadlock        = 1213
)

// FencedError says that a partition's committed position was not the
// range's Start: another writer moved first. It wraps sdk.ErrFenced.
type FencedError = commitcheck.FencedError

// retryable is the one place that decides whether a commit's error is
// transient, so that the same commit may succeed if tried again; Commit
// marks such errors with sdk.Retryable, which reaches the runtime. Lock wait
// timeouts (1205) and deadlocks (1213) roll back only because of a
// concurrent transaction; a lost connection leaves the outcome unknown but
// harms nothing. Retrying is only safe because the runtime re-reads
// Positions first: a commit that did land is then seen and not repeated. A
// fenced commit is not retryable: its batch is stale.
func retryable(err error) bool {
	if err == nil || errors.Is(err, sdk.ErrFenced) {
		return false
	}
	var me *mysql.MySQLError
	if errors.As(err, &me) {
		return me.Number == errLockWaitTimeout || me.Number == errDeadlock
	}
	return errors.Is(err, mysql.ErrInvalidConn) || errors.Is(err, driver.ErrBadConn)
}

func isMySQLError(err error, number uint16) bool {
	var me *mysql.MySQLError
	return errors.As(err, &me) && me.Number == number
}
