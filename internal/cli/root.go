// Package cli is kickstand's command line: serve, distro, profile, machine
// and kickstart. Each command opens the shared store, so the CLI works while
// `kickstand serve` runs.
package cli

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"os"
	"regexp"
	"strings"

	"github.com/spf13/cobra"

	"kickstand/internal/config"
	"kickstand/internal/store"
	"kickstand/internal/store/sqlite"
)

// env is what every command shares.
type env struct {
	dataDir string
	stdout  io.Writer
	stderr  io.Writer
}

// Run executes the command line args and returns the process exit code.
func Run(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	e := &env{stdout: stdout, stderr: stderr}
	root := &cobra.Command{
		Use:           "kickstand",
		Short:         "A complete network-install server: DHCP, TFTP, HTTP, pxelinux and kickstart in one binary",
		SilenceUsage:  true,
		SilenceErrors: true,
	}
	root.PersistentFlags().StringVar(&e.dataDir, "data-dir", config.Default().DataDir, "directory of kickstand's database (env KICKSTAND_DATA_DIR)")
	root.AddCommand(e.serveCmd(), e.distroCmd(), e.profileCmd(), e.machineCmd(), e.kickstartCmd(), e.applyCmd(), e.doctorCmd())
	root.SetArgs(args)
	root.SetOut(stdout)
	root.SetErr(stderr)
	if err := root.ExecuteContext(ctx); err != nil {
		msg := strings.ReplaceAll(err.Error(), "\n", " ")
		if strings.Contains(msg, "unknown flag") || strings.Contains(msg, "unknown command") || strings.Contains(msg, "accepts ") {
			msg += " (see kickstand --help)"
		}
		fmt.Fprintln(stderr, "kickstand: "+msg)
		return 1
	}
	return 0
}

// open opens the store in the data directory.
func (e *env) open(ctx context.Context) (store.Store, error) {
	return sqlite.Open(ctx, e.dataDir)
}

// withStore runs fn with an open store and closes it afterwards.
func (e *env) withStore(fn func(ctx context.Context, s store.Store, args []string) error) func(*cobra.Command, []string) error {
	return func(cmd *cobra.Command, args []string) error {
		s, err := e.open(cmd.Context())
		if err != nil {
			return err
		}
		defer s.Close()
		return fn(cmd.Context(), s, args)
	}
}

var nameRE = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9._-]{0,62}$`)

// checkName refuses names that would not be safe in URLs and file names.
func checkName(kind, name string) error {
	if !nameRE.MatchString(name) {
		return fmt.Errorf("%s name %q: use letters, digits, '.', '_' and '-' (at most 63, starting with a letter or digit)", kind, name)
	}
	return nil
}

func newLogger(w io.Writer, debug bool) *slog.Logger {
	level := slog.LevelInfo
	if debug {
		level = slog.LevelDebug
	}
	return slog.New(slog.NewTextHandler(w, &slog.HandlerOptions{Level: level}))
}

// progress is where long operations report progress: the terminal, if any.
func (e *env) progress() io.Writer {
	if f, ok := e.stderr.(*os.File); ok {
		if st, err := f.Stat(); err == nil && st.Mode()&os.ModeCharDevice != 0 {
			return f
		}
	}
	return nil
}
