// Package auditreport gathers the rows a SQL sink's audit reads (its
// positions, its batch records and its aggregate rows summed per range)
// into the report the runtime checks (sdk.StreamAudit). mysql-sink and
// postgres-sink read the rows in their own SQL and share this, so that
// both attribute rows alike.
package auditreport

import (
	"fmt"
	"slices"

	"github.com/kappa-stream/kappa/sdk"
)

// Report is an audit being read, stream by stream in the order first seen.
type Report struct {
	streams    []sdk.StreamAudit
	aggregates []sdk.AggregateRange
}

func (r *Report) at(stream string) *sdk.StreamAudit {
	if i := slices.IndexFunc(r.streams, func(a sdk.StreamAudit) bool { return a.Stream == stream }); i >= 0 {
		return &r.streams[i]
	}
	r.streams = append(r.streams, sdk.StreamAudit{Stream: stream})
	return &r.streams[len(r.streams)-1]
}

// Position adds a partition's position in stream.
func (r *Report) Position(stream string, p sdk.Position) {
	a := r.at(stream)
	a.Positions = append(a.Positions, p)
}

// Batch adds a batch record of stream; an adopted one (mysql-sink's
// adopt.go) counts only as a range another program committed.
func (r *Report) Batch(stream string, b sdk.RangeStats, adopted bool) {
	a := r.at(stream)
	if adopted {
		a.Adopted = append(a.Adopted, b.OffsetRange)
	} else {
		a.Batches = append(a.Batches, b)
	}
}

// Aggregate adds the aggregate rows of one range.
func (r *Report) Aggregate(g sdk.AggregateRange) { r.aggregates = append(r.aggregates, g) }

// Streams returns the report. The aggregate table has no stream column
// (the 2016 layout), so its rows are attributed to the pipeline's only
// stream; a pipeline that committed to several streams into one table
// cannot be audited (ManyStreams). With no stream at all the rows are
// orphans; an audit of stream "" reports them as such.
func (r *Report) Streams(pipeline, table string) ([]sdk.StreamAudit, error) {
	if len(r.aggregates) > 0 {
		if len(r.streams) > 1 {
			return nil, ManyStreams(pipeline, len(r.streams), table)
		}
		first := ""
		if len(r.streams) > 0 {
			first = r.streams[0].Stream
		}
		r.at(first).Aggregates = r.aggregates
	}
	return r.streams, nil
}

// ManyStreams says that pipeline committed to several streams into
// table, whose rows cannot then be told apart.
func ManyStreams(pipeline string, streams int, table string) error {
	return fmt.Errorf("pipeline %s committed to %d streams into table %s, which has no stream column to tell their rows apart",
		pipeline, streams, table)
}
