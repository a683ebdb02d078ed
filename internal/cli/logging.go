package cli

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"os"

	"golang.org/x/sys/unix"
)

// newLogger is serve's logger on w: format "text" (key=value) or "json",
// at debug level with debug. Under systemd, when w is the journal's stream,
// lines carry no time (the journal stamps each one) and start with their
// syslog priority, so that `journalctl -p warning` and the journal's colours
// work.
func newLogger(w io.Writer, format string, debug bool) *slog.Logger {
	opts := &slog.HandlerOptions{Level: slog.LevelInfo}
	if debug {
		opts.Level = slog.LevelDebug
	}
	journal := false
	if f, ok := w.(*os.File); ok {
		journal = isJournalStream(f, os.Getenv("JOURNAL_STREAM"))
	}
	if !journal {
		return slog.New(formatHandler(w, format, opts))
	}
	opts.ReplaceAttr = dropTime
	var h priorityHandler
	for i, prio := range syslogPriorities {
		h.byPriority[i] = formatHandler(prefixWriter{w: w, prefix: prio}, format, opts)
	}
	return slog.New(h)
}

func formatHandler(w io.Writer, format string, opts *slog.HandlerOptions) slog.Handler {
	if format == "json" {
		return slog.NewJSONHandler(w, opts)
	}
	return slog.NewTextHandler(w, opts)
}

// dropTime leaves out each record's time.
func dropTime(groups []string, a slog.Attr) slog.Attr {
	if len(groups) == 0 && a.Key == slog.TimeKey {
		return slog.Attr{}
	}
	return a
}

// isJournalStream reports whether f is the stream that systemd connected to
// the journal: JOURNAL_STREAM is "DEVICE:INODE" of that stream, and is
// inherited by children whose output goes elsewhere, so f must match it.
func isJournalStream(f *os.File, journalStream string) bool {
	if journalStream == "" {
		return false
	}
	var st unix.Stat_t
	if err := unix.Fstat(int(f.Fd()), &st); err != nil {
		return false
	}
	return journalStream == fmt.Sprintf("%d:%d", st.Dev, st.Ino)
}

// errorPriority is what starts the line of the error that ends a command:
// the journal's error priority when w is the journal's stream (the error
// that stops a service is the line `journalctl -p err` must show), else
// nothing.
func errorPriority(w io.Writer) string {
	if f, ok := w.(*os.File); ok && isJournalStream(f, os.Getenv("JOURNAL_STREAM")) {
		return string(syslogPriorities[0])
	}
	return ""
}

// syslogPriorities are the journal's line prefixes (sd-daemon(3)) for
// errors, warnings, information and debugging, in priorityHandler's order.
var syslogPriorities = [4][]byte{[]byte("<3>"), []byte("<4>"), []byte("<6>"), []byte("<7>")}

// priorityHandler hands each record to the handler whose lines carry the
// record level's syslog priority.
type priorityHandler struct {
	byPriority [4]slog.Handler
}

func (h priorityHandler) of(level slog.Level) slog.Handler {
	switch {
	case level >= slog.LevelError:
		return h.byPriority[0]
	case level >= slog.LevelWarn:
		return h.byPriority[1]
	case level >= slog.LevelInfo:
		return h.byPriority[2]
	}
	return h.byPriority[3]
}

func (h priorityHandler) Enabled(ctx context.Context, level slog.Level) bool {
	return h.of(level).Enabled(ctx, level)
}

func (h priorityHandler) Handle(ctx context.Context, r slog.Record) error {
	return h.of(r.Level).Handle(ctx, r)
}

func (h priorityHandler) WithAttrs(attrs []slog.Attr) slog.Handler {
	for i := range h.byPriority {
		h.byPriority[i] = h.byPriority[i].WithAttrs(attrs)
	}
	return h
}

func (h priorityHandler) WithGroup(name string) slog.Handler {
	for i := range h.byPriority {
		h.byPriority[i] = h.byPriority[i].WithGroup(name)
	}
	return h
}

// prefixWriter writes prefix before each write; slog's handlers write one
// whole line per call.
type prefixWriter struct {
	w      io.Writer
	prefix []byte
}

func (p prefixWriter) Write(b []byte) (int, error) {
	line := make([]byte, 0, len(p.prefix)+len(b))
	line = append(append(line, p.prefix...), b...)
	if _, err := p.w.Write(line); err != nil {
		return 0, err
	}
	return len(b), nil
}
