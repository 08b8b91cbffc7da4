package command

import (
	"context"
	"io"
	"log/slog"
	"strings"

	"github.com/hashicorp/go-hclog"
)

// pluginLogger relays what the plugins log — their sdk.Logger lines, which
// go-plugin reads from their stderr, and go-plugin's own lines about their
// processes — into logger, the runtime's: so a plugin's line has the
// runtime's format (JSON with --log-json, text otherwise) and attributes
// (the pipeline), and names the plugin's kind as `plugin` (source,
// extractor, sink). Lines below logger's level are dropped.
func pluginLogger(logger *slog.Logger) hclog.Logger {
	level := hclog.Info
	if logger.Enabled(context.Background(), slog.LevelDebug) {
		level = hclog.Debug
	}
	l := hclog.NewInterceptLogger(&hclog.LoggerOptions{Name: "plugin", Output: io.Discard, Level: level})
	l.RegisterSink(slogSink{logger})
	return l
}

// slogSink is an hclog sink writing to a slog.Logger.
type slogSink struct{ logger *slog.Logger }

// Accept writes one line. name is hclog's module: "plugin.KIND" for
// go-plugin's lines (launch.Start names the logger by kind), and
// "plugin.KIND.BINARY" for the lines of the plugin itself.
func (s slogSink) Accept(name string, level hclog.Level, msg string, args ...any) {
	lvl := slogLevel(level)
	ctx := context.Background()
	if !s.logger.Enabled(ctx, lvl) {
		return
	}
	parts := strings.SplitN(strings.TrimPrefix(name, "plugin."), ".", 2)
	attrs := []any{"plugin", parts[0]}
	if len(parts) == 2 {
		attrs = append(attrs, "binary", parts[1])
	}
	for i := 0; i+1 < len(args); i += 2 {
		// go-plugin's own lines name the binary as "plugin": keep the
		// attributes above unambiguous.
		if k, ok := args[i].(string); ok && reservedKeys[k] {
			args[i] = "arg_" + k
		}
	}
	s.logger.Log(ctx, lvl, msg, append(attrs, args...)...)
}

var reservedKeys = map[string]bool{"plugin": true, "binary": true, "pipeline": true}

func slogLevel(l hclog.Level) slog.Level {
	switch {
	case l <= hclog.Debug:
		return slog.LevelDebug
	case l == hclog.Info:
		return slog.LevelInfo
	case l == hclog.Warn:
		return slog.LevelWarn
	default:
		return slog.LevelError
	}
}
