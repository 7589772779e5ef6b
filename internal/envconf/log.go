package envconf

import (
	"bytes"
	"context"
	"errors"
	"io"
	"log/slog"
	"strings"
	"time"
)

// LogEnv is the raw logging environment. Embed it in a command's envconfig
// struct as a field named Log tagged `split_words:"true"`, so that it reads
// LOG_LEVEL and LOG_FORMAT.
type LogEnv struct {
	Level  string `split_words:"true" default:"info" desc:"debug, info, warn or error (any case)."`
	Format string `split_words:"true" default:"json" desc:"json (one JSON object a line) or text (key=value pairs)."`
}

// LogVars names the logging variables: LogVars.Level is "LOG_LEVEL".
var LogVars = Names[LogEnv]("LOG")

// Parse returns the level and the lower-cased format. It records only a
// level that does not parse; CheckLogFormat checks the format.
func (e LogEnv) Parse(ps *Problems) (slog.Level, string) {
	return Parse(ps, LogVars.Level, e.Level, Level), strings.ToLower(e.Format)
}

// Level parses debug, info, warn or error, in any case (a parser for Parse).
func Level(s string) (slog.Level, error) {
	switch strings.ToLower(strings.TrimSpace(s)) {
	case "debug":
		return slog.LevelDebug, nil
	case "info":
		return slog.LevelInfo, nil
	case "warn":
		return slog.LevelWarn, nil
	case "error":
		return slog.LevelError, nil
	}
	return 0, errors.New("is not one of debug, info, warn, error")
}

// CheckLogFormat records a problem unless format is "json" or "text" (lower
// case, as LogEnv.Parse returns it).
func CheckLogFormat(format string, ps *Problems) {
	if format != "json" && format != "text" {
		ps.Add(LogVars.Format, "%q is not json or text", format)
	}
}

// RedactURL hides the user information of a URL, even of one that does not
// parse. Validation rejects such URLs where they are not allowed, but a
// configuration returned with its error may still hold one.
func RedactURL(s string) string {
	scheme, rest, ok := strings.Cut(s, "://")
	if !ok {
		scheme, rest = "", s
	} else {
		scheme += "://"
	}
	at := strings.LastIndex(rest, "@")
	if at < 0 {
		return s
	}
	return scheme + Redacted + rest[at:]
}

// LogText renders a LogValuer as slog's text handler would, key=value pairs
// with dotted group names, without time, level or message: a String method
// for configuration types whose LogValue hides their secrets.
func LogText(v slog.LogValuer) string {
	var buf bytes.Buffer
	h := slog.NewTextHandler(&buf, &slog.HandlerOptions{
		ReplaceAttr: func(groups []string, a slog.Attr) slog.Attr {
			if len(groups) == 0 && (a.Key == slog.TimeKey || a.Key == slog.LevelKey || a.Key == slog.MessageKey) {
				return slog.Attr{}
			}
			return a
		},
	})
	r := slog.NewRecord(time.Time{}, slog.LevelInfo, "", 0)
	r.AddAttrs(slog.Any("", v)) // an empty group key inlines the group
	_ = h.Handle(context.Background(), r)
	return strings.TrimSpace(buf.String())
}

// NewLogger is the programs' logger: JSON (or text) lines on w at level,
// with durations written as "1.5s" rather than nanoseconds.
func NewLogger(level slog.Level, format string, w io.Writer) *slog.Logger {
	opts := &slog.HandlerOptions{Level: level, ReplaceAttr: readableDurations}
	if format == "text" {
		return slog.New(slog.NewTextHandler(w, opts))
	}
	return slog.New(slog.NewJSONHandler(w, opts))
}

func readableDurations(_ []string, a slog.Attr) slog.Attr {
	if a.Value.Kind() == slog.KindDuration {
		return slog.String(a.Key, a.Value.Duration().String())
	}
	return a
}
