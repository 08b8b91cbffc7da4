package kafkasource

import (
	"errors"
	"fmt"
)

// errPollBeforeSeek is returned by Poll when no Seek placed the reader yet.
var errPollBeforeSeek = errors.New("kafka source: Poll called before Seek")

// OffsetOutOfRangeError reports that a partition's position is no longer in
// the log, most often because retention deleted records before they were
// read. The source never skips ahead on its own: that would silently lose
// records, so the decision is left to whoever runs the pipeline.
type OffsetOutOfRangeError struct {
	Topic     string
	Partition int32
	// Offset is where reading was to continue; -1 when the partition was
	// still being placed at the configured start.
	Offset int64
	// LogStart and HighWatermark bound the log as the broker reported it,
	// -1 when unknown.
	LogStart      int64
	HighWatermark int64
	// Err is the broker's error (kerr.OffsetOutOfRange).
	Err error
}

func (e *OffsetOutOfRangeError) Error() string {
	why := "records were deleted before they were read (on_out_of_range: skip would go on at the log start)"
	if e.HighWatermark >= 0 && e.Offset > e.HighWatermark {
		why = "the position is past the log end: the topic was truncated or recreated, so offsets no longer name the records that were counted"
	}
	return fmt.Sprintf("topic %s partition %d: offset %d is out of range (log start %d, high watermark %d): %s: %v",
		e.Topic, e.Partition, e.Offset, e.LogStart, e.HighWatermark, why, e.Err)
}

func (e *OffsetOutOfRangeError) Unwrap() error { return e.Err }

// TopicRecreatedError reports that the topic is not the instance the
// positions were committed for: it was deleted and created again under the
// same name, with a new topic ID and offsets counting from 0 again. No
// retry can make old positions name the new topic's records.
type TopicRecreatedError struct {
	Topic string
	// Committed is the topic ID the positions were committed for (or that
	// the source opened, when WhileRunning), Current the topic's ID now.
	Committed, Current string
	// WhileRunning is set when the topic changed after the source opened.
	WhileRunning bool
}

func (e *TopicRecreatedError) Error() string {
	when := "the committed positions belong to"
	if e.WhileRunning {
		when = "the source opened"
	}
	return fmt.Sprintf("topic %s was deleted and recreated: %s topic ID %s, the topic now has ID %s; "+
		"its offsets name other records, so the positions cannot be followed: delete the pipeline's positions "+
		"(and its rows) to count the new topic from its start, or run it as a new pipeline (another name and table)",
		e.Topic, when, e.Committed, e.Current)
}
