package cli

import (
	"bytes"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"runtime"
	"runtime/debug"
	"strings"
	"testing"

	"golang.org/x/sys/unix"
)

// logTo logs a warning and a debug line through newLogger onto a file and
// returns what the file got.
func logTo(t *testing.T, f *os.File, format string) string {
	t.Helper()
	log := newLogger(f, format, false).With("server", "tftp")
	log.Warn("port blocked", "port", 69)
	log.Debug("not at this level")
	b, err := os.ReadFile(f.Name())
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

func TestLogFormats(t *testing.T) {
	t.Setenv("JOURNAL_STREAM", "")
	for format, want := range map[string]string{
		"text": `level=WARN msg="port blocked" server=tftp port=69`,
		"json": `"level":"WARN","msg":"port blocked","server":"tftp","port":69}`,
	} {
		f, err := os.Create(filepath.Join(t.TempDir(), "log"))
		if err != nil {
			t.Fatal(err)
		}
		got := logTo(t, f, format)
		if !strings.Contains(got, want) || !strings.Contains(got, "time") || strings.Count(got, "\n") != 1 {
			t.Errorf("%s: logged %q, want one line with a time and %s", format, got, want)
		}
	}
}

// journalFile is a file that JOURNAL_STREAM names, as systemd names the
// journal's stream it connects to a service's stderr.
func journalFile(t *testing.T) *os.File {
	t.Helper()
	f, err := os.Create(filepath.Join(t.TempDir(), "journal"))
	if err != nil {
		t.Fatal(err)
	}
	var st unix.Stat_t
	if err := unix.Fstat(int(f.Fd()), &st); err != nil {
		t.Fatal(err)
	}
	t.Setenv("JOURNAL_STREAM", fmt.Sprintf("%d:%d", st.Dev, st.Ino))
	return f
}

// Under systemd, stderr is the journal's stream: no time (the journal has
// one), and the syslog priority in front for the journal to parse.
func TestLogToTheJournal(t *testing.T) {
	for format, want := range map[string]string{
		"text": "<4>level=WARN msg=\"port blocked\" server=tftp port=69\n",
		"json": "<4>{\"level\":\"WARN\",\"msg\":\"port blocked\",\"server\":\"tftp\",\"port\":69}\n",
	} {
		if got := logTo(t, journalFile(t), format); got != want {
			t.Errorf("%s into the journal: %q, want %q", format, got, want)
		}
		// A child's output elsewhere inherits JOURNAL_STREAM: not the journal.
		other, err := os.Create(filepath.Join(t.TempDir(), "other"))
		if err != nil {
			t.Fatal(err)
		}
		if got := logTo(t, other, format); strings.HasPrefix(got, "<") || !strings.Contains(got, "time") {
			t.Errorf("%s into a file that is not JOURNAL_STREAM: %q", format, got)
		}
	}
}

// The error that ends serve is an error in the journal too.
func TestFatalErrorToTheJournal(t *testing.T) {
	f := journalFile(t)
	if code := Run(t.Context(), []string{"serve", "--dhcp", "sometimes"}, io.Discard, f); code != 1 {
		t.Fatalf("exit %d", code)
	}
	b, _ := os.ReadFile(f.Name())
	if want := "<3>kickstand: --dhcp \"sometimes\": want proxy, full or off\n"; string(b) != want {
		t.Errorf("stderr %q, want %q", b, want)
	}
}

func TestLogPriorities(t *testing.T) {
	for level, want := range map[slog.Level]string{slog.LevelError: "<3>", slog.LevelWarn: "<4>", slog.LevelInfo: "<6>", slog.LevelDebug: "<7>"} {
		var buf bytes.Buffer
		var h priorityHandler
		for i, prio := range syslogPriorities {
			h.byPriority[i] = formatHandler(prefixWriter{w: &buf, prefix: prio}, "text", &slog.HandlerOptions{Level: slog.LevelDebug})
		}
		slog.New(h).WithGroup("g").With("k", 1).Log(t.Context(), level, "x")
		if got := buf.String(); !strings.HasPrefix(got, want+"time=") || !strings.HasSuffix(got, "msg=x g.k=1\n") {
			t.Errorf("%s logged %q, want prefix %s", level, got, want)
		}
	}
}

func TestLogFormatIsChecked(t *testing.T) {
	_, errs, code := (&cliEnv{t: t, data: t.TempDir()}).run("serve", "--log-format", "xml")
	if code != 1 || !strings.Contains(errs, `--log-format "xml": want text or json`) {
		t.Fatalf("serve --log-format xml: exit %d, %q", code, errs)
	}
}

func TestVersion(t *testing.T) {
	var out bytes.Buffer
	writeVersion(&out, &debug.BuildInfo{GoVersion: "go1.26.1", Main: debug.Module{Version: "v0.0.0-20261201024612-4ed1ca5abcde+dirty"},
		Settings: []debug.BuildSetting{{Key: "GOOS", Value: "linux"}, {Key: "GOARCH", Value: "arm64"},
			{Key: "vcs.revision", Value: "4ed1ca5abcde"}, {Key: "vcs.time", Value: "2026-12-01T02:46:12Z"}, {Key: "vcs.modified", Value: "true"}}})
	want := "version:  v0.0.0-20261201024612-4ed1ca5abcde+dirty\nrevision: 4ed1ca5abcde\ntime:     2026-12-01T02:46:12Z\n" +
		"modified: true\ngo:       go1.26.1 linux/arm64\n"
	if out.String() != want {
		t.Errorf("version:\n%s\nwant:\n%s", out.String(), want)
	}
	// This test binary is built without VCS stamping, by the Go running it.
	stdout, _, code := (&cliEnv{t: t, data: t.TempDir()}).run("version")
	if code != 0 || !strings.Contains(stdout, "go:       "+runtime.Version()+" "+runtime.GOOS+"/"+runtime.GOARCH+"\n") ||
		!strings.HasPrefix(stdout, "version:  ") {
		t.Errorf("kickstand version: exit %d\n%s", code, stdout)
	}
}
