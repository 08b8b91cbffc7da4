package engine

import (
	"errors"
	"fmt"
	"strings"

	"github.com/kappa-stream/kappa/sdk"
)

// Identity: a committed position is meaningful only for the stream
// instance it was committed for (README.md, "Failure handling"). A Kafka topic
// deleted and created again under the same name starts its offsets anew;
// followed from old positions, its first records would be skipped (or a
// drain would find nothing to do) and every check would still pass. So
// positions carry the instance's ID (sdk.SourceInfo.StreamID), and resume
// refuses positions of another instance, and in drain mode positions past
// the log's end, before the source is sought there.

// ErrStreamRecreated is wrapped (with sdk.ErrPermanent) by the error of a resume
// that found positions of another instance of the stream.
var ErrStreamRecreated = errors.New("committed positions belong to another instance of the stream")

// ErrPositionPastLogEnd is wrapped (with sdk.ErrPermanent) by the error of a drain
// that found a committed position past the end of its partition's log.
var ErrPositionPastLogEnd = errors.New("committed position past the log end")

// checkIdentity refuses positions committed under another stream ID than
// the one the source reported. Positions stored without an ID (by an older
// sink or a source that reports none) and sources that report none are
// not checked.
func (e *Engine) checkIdentity(positions []sdk.Position) error {
	if e.cfg.StreamID == "" {
		return nil
	}
	var parts []string
	var stored string
	for _, p := range positions {
		if p.StreamID != "" && p.StreamID != e.cfg.StreamID {
			parts = append(parts, fmt.Sprint(p.Partition))
			stored = p.StreamID
		}
	}
	if len(parts) == 0 {
		return nil
	}
	return sdk.Permanent(fmt.Errorf("%w: stream %s now has ID %s, but the positions of partitions %s were committed for ID %s: "+
		"the stream was deleted and created again, and its offsets name other records. "+
		"To count the new stream from its start, delete this pipeline's positions (and its rows) in the sink, "+
		"or run it as a new pipeline (another name and table)",
		ErrStreamRecreated, e.stream, e.cfg.StreamID, strings.Join(parts, ", "), stored))
}

// checkWithinLog refuses, when draining, positions past their partition's
// log end: a drain would take them for caught up and exit having read
// nothing, while such a position means the log was truncated or recreated.
// marks are the source's watermarks, read once per resume.
// (Outside a drain the source's first fetch at such a position fails.)
func (e *Engine) checkWithinLog(positions []sdk.Position, marks []sdk.Watermark) error {
	if !e.cfg.Drain {
		return nil
	}
	end := make(map[int32]int64, len(marks))
	for _, w := range marks {
		end[w.Partition] = w.End
	}
	for _, p := range positions {
		if logEnd, ok := end[p.Partition]; ok && p.NextOffset > logEnd {
			return sdk.Permanent(fmt.Errorf("%w: stream %s partition %d: committed position %d is past the log end %d: "+
				"the log was truncated or the stream deleted and created again, so the offsets no longer name the records counted; "+
				"delete this pipeline's positions (and its rows) in the sink to count it from its start, or run it as a new pipeline",
				ErrPositionPastLogEnd, e.stream, p.Partition, p.NextOffset, logEnd))
		}
	}
	return nil
}

// isAnchor reports whether an empty range of partition p is an anchor to
// commit (sdk.Source.Poll): p has no committed position and none in
// flight, so the range's start becomes its position.
func (e *Engine) isAnchor(p sdk.PartitionBatch) bool {
	if p.End != p.Start {
		return false
	}
	_, placed := e.next[p.Partition]
	return !placed
}
