package mysqlsink

import (
	"context"
	"fmt"

	"github.com/kappa-stream/kappa/sdk"
)

var _ sdk.WindowReader = (*Sink)(nil)

// RecentWindows sums the aggregate rows of the n newest windows, newest
// first. With the table's time index on (timestamp, partition_id, ...) it
// reads only those windows' rows, backwards from the newest.
func (s *Sink) RecentWindows(ctx context.Context, n int) ([]sdk.WindowTotal, error) {
	if s.db == nil {
		return nil, errNotOpen
	}
	if n <= 0 {
		return nil, nil
	}
	s.gen.mu.RLock() // a swap rebinds the statements (generations.go)
	defer s.gen.mu.RUnlock()
	rows, err := s.db.QueryContext(ctx, "SELECT `timestamp`, COALESCE(SUM(`count`), 0) FROM "+quoteIdent(s.stmts.aggregateTable)+
		" GROUP BY `timestamp` ORDER BY `timestamp` DESC LIMIT ?", n)
	if err != nil {
		return nil, fmt.Errorf("mysql-sink: recent windows: read %s: %w", s.stmts.aggregateTable, err)
	}
	defer rows.Close()
	var windows []sdk.WindowTotal
	for rows.Next() {
		var w sdk.WindowTotal
		if err := rows.Scan(&w.Window, &w.Count); err != nil {
			return nil, fmt.Errorf("mysql-sink: recent windows: read %s: %w", s.stmts.aggregateTable, err)
		}
		windows = append(windows, w)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("mysql-sink: recent windows: read %s: %w", s.stmts.aggregateTable, err)
	}
	return windows, nil
}
