package sdk

import (
	"io"
	"log/slog"
	"os"
	"strings"
)

// Logger returns the logger a plugin writes to. Its lines reach the
// runtime's log with their level and attributes; plain text a plugin
// writes to stderr shows there only at debug level, and stdout belongs to
// the handshake.
func Logger() *slog.Logger { return pluginLogger }

var pluginLogger = newPluginLogger(os.Stderr)

// newPluginLogger writes JSON lines in the shape go-plugin's host reads
// from a plugin's stderr (hclog's): @level and @message; the host stamps
// the time itself.
func newPluginLogger(w io.Writer) *slog.Logger {
	return slog.New(slog.NewJSONHandler(w, &slog.HandlerOptions{
		Level: slog.LevelInfo,
		ReplaceAttr: func(groups []string, a slog.Attr) slog.Attr {
			if len(groups) > 0 {
				return a
			}
			switch a.Key {
			case slog.TimeKey:
				return slog.Attr{}
			case slog.LevelKey:
				return slog.String("@level", strings.ToLower(a.Value.String()))
			case slog.MessageKey:
				return slog.String("@message", a.Value.String())
			}
			return a
		},
	}))
}
