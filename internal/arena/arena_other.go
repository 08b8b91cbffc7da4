//go:build !linux

package arena

import (
	"errors"
	"os"
)

// Supported reports whether this system can share an arena. Elsewhere than
// Linux, values travel inside the messages.
const Supported = false

func create(int64) (*os.File, *os.File, []byte, error) { return nil, nil, nil, errors.ErrUnsupported }

func mapFile(int, int64, bool) ([]byte, error) { return nil, errors.ErrUnsupported }

func unmap([]byte) error { return nil }
