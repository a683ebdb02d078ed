// Package cli is kickstand's command line: serve, distro, profile, machine,
// kickstart, apply, doctor and token. The inventory commands work on the
// data directory's store (so the CLI works while `kickstand serve` runs),
// or, with --server, on a remote kickstand through its REST API; the output
// is the same either way.
package cli

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/netip"
	"os"
	"strings"

	"github.com/spf13/cobra"
	"golang.org/x/sys/unix"

	"kickstand/internal/api"
	"kickstand/internal/config"
	"kickstand/internal/inventory"
	"kickstand/internal/netif"
	"kickstand/internal/store"
	"kickstand/internal/store/backend"
)

// Env is the command line with what it cannot build itself: the server
// (package app, which main wires in).
type Env struct {
	// Serve runs kickstand serve; nil means the serve command is refused.
	Serve func(ctx context.Context, cfg config.Config, log *slog.Logger) error
}

// env is what every command shares.
type env struct {
	Env
	dataDir string
	store   string // --store: "" is the data directory's SQLite database
	server  string // --server: a remote kickstand's URL; "" for the local store
	token   string
	stdout  io.Writer
	stderr  io.Writer
	site    siteFlags
}

// siteFlags are the server's addresses as kickstart render gives them.
type siteFlags struct {
	serverIP          string
	httpPort, ftpPort int
}

// Run executes the command line args without a server, for tests.
func Run(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	return Env{}.Run(ctx, args, stdout, stderr)
}

// Run executes the command line args and returns the process exit code.
func (en Env) Run(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	root := en.Command(stdout, stderr)
	root.SetArgs(args)
	if cmd, err := root.ExecuteContextC(ctx); err != nil {
		msg := strings.ReplaceAll(err.Error(), "\n", " ")
		if flag := fieldFlag(cmd, err); flag != "" {
			msg = "--" + flag + ": " + msg
		}
		if strings.Contains(msg, "unknown flag") || strings.Contains(msg, "unknown command") || strings.Contains(msg, "accepts ") {
			msg += " (see kickstand --help)"
		}
		fmt.Fprintln(stderr, errorPriority(stderr)+"kickstand: "+msg)
		return 1
	}
	return 0
}

// Command is kickstand's command tree writing to stdout and stderr; Run
// executes it, and the packaging generates manual pages and shell
// completions from it.
func (en Env) Command(stdout, stderr io.Writer) *cobra.Command {
	e := &env{Env: en, stdout: stdout, stderr: stderr, site: siteFlags{httpPort: 80, ftpPort: 21}}
	root := &cobra.Command{
		Use:           "kickstand",
		Short:         "A complete network-install server: DHCP, TFTP, HTTP, pxelinux and kickstart in one binary",
		SilenceUsage:  true,
		SilenceErrors: true,
	}
	pf := root.PersistentFlags()
	pf.StringVar(&e.dataDir, "data-dir", config.Default().DataDir, "directory of kickstand's database (env KICKSTAND_DATA_DIR)")
	pf.StringVar(&e.store, "store", os.Getenv("KICKSTAND_STORE"),
		"the inventory's database: sqlite (the data directory's, default), sqlite:DIR, or postgres://USER:PASSWORD@HOST/DB shared by several servers (env KICKSTAND_STORE)")
	pf.StringVar(&e.server, "server", os.Getenv("KICKSTAND_SERVER"),
		"work on a remote kickstand through its REST API, e.g. http://10.0.0.1 (env KICKSTAND_SERVER)")
	pf.StringVar(&e.token, "token", os.Getenv("KICKSTAND_TOKEN"), "API token for --server (env KICKSTAND_TOKEN)")
	root.AddCommand(e.serveCmd(), e.distroCmd(), e.profileCmd(), e.machineCmd(), e.kickstartCmd(), e.applyCmd(),
		e.doctorCmd(), e.tokenCmd(), e.versionCmd(), e.storeCmd())
	root.SetOut(stdout)
	root.SetErr(stderr)
	return root
}

// fieldFlag is the flag of cmd that a refused field of a request came
// from (a field "network.gateway" from --gateway), or "".
func fieldFlag(cmd *cobra.Command, err error) string {
	var e *inventory.Error
	if cmd == nil || !errors.As(err, &e) || e.Field == "" {
		return ""
	}
	field := e.Field[strings.LastIndex(e.Field, ".")+1:]
	flag := strings.ReplaceAll(field, "_", "-")
	if cmd.Flags().Lookup(flag) == nil {
		return ""
	}
	return flag
}

// service is the inventory as the commands use it: inventory.Service on
// the local store, or api.Client on a remote kickstand.
type service interface {
	Distros(ctx context.Context) ([]inventory.DistroJSON, error)
	ImportDistro(ctx context.Context, name, path string) (inventory.DistroJSON, error)
	RemoveDistro(ctx context.Context, name string) error
	Profiles(ctx context.Context) ([]inventory.ProfileJSON, error)
	Profile(ctx context.Context, name string) (inventory.ProfileJSON, error)
	AddProfile(ctx context.Context, spec inventory.ProfileSpec) (inventory.ProfileJSON, error)
	RemoveProfile(ctx context.Context, name string) error
	Machines(ctx context.Context) ([]inventory.MachineJSON, error)
	Machine(ctx context.Context, mac string) (inventory.MachineJSON, error)
	AddMachine(ctx context.Context, spec inventory.MachineSpec) (inventory.WriteJSON, error)
	UpdateMachine(ctx context.Context, mac string, patch inventory.MachinePatch) (inventory.WriteJSON, error)
	Reinstall(ctx context.Context, mac string) (inventory.WriteJSON, error)
	RemoveMachine(ctx context.Context, mac string) error
	Kickstart(ctx context.Context, mac, profile string, opt inventory.RenderOptions) (inventory.KickstartJSON, error)
	InstallLogs(ctx context.Context, mac string, q inventory.LogQuery) ([]inventory.InstallLogJSON, error)
	Apply(ctx context.Context, req inventory.ApplyRequest, dryRun bool) (inventory.Plan, error)
}

var (
	_ service = inventory.Service{}
	_ service = (*api.Client)(nil)
)

// open opens the store --store names (by default the data directory's).
func (e *env) open(ctx context.Context) (store.Store, error) {
	return backend.Open(ctx, e.store, e.dataDir)
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

// withService runs fn with the inventory: the remote one with --server,
// else the data directory's.
func (e *env) withService(fn func(ctx context.Context, svc service, args []string) error) func(*cobra.Command, []string) error {
	return func(cmd *cobra.Command, args []string) error {
		if e.server != "" {
			return fn(cmd.Context(), &api.Client{URL: e.server, Token: e.token}, args)
		}
		s, err := e.open(cmd.Context())
		if err != nil {
			return err
		}
		defer s.Close()
		inv := &inventory.Inventory{Store: s, Site: e.localSite(), Progress: e.progress()}
		return fn(cmd.Context(), inventory.Service{Inv: inv}, args)
	}
}

// localSite is the server side of kickstarts as the local CLI checks them:
// this data directory's snippets, and a placeholder address.
func (e *env) localSite() inventory.Site {
	return inventory.Site{SnippetsDir: inventory.SnippetsDir(e.dataDir), BaseURL: "http://SERVER"}
}

// renderURLs are the server addresses kickstart render gives: --server-ip
// (locally, else the default route interface's) with --http-port and
// --ftp-port. Through --server without --server-ip: the server's own ("").
func (e *env) renderURLs() (base, ftp string, err error) {
	if e.site.serverIP == "" && e.server != "" {
		return "", "", nil
	}
	var ip netip.Addr
	if e.site.serverIP != "" {
		if ip, err = netip.ParseAddr(e.site.serverIP); err != nil {
			return "", "", fmt.Errorf("--server-ip %q: %w", e.site.serverIP, err)
		}
	} else {
		n, err := netif.Resolve("", "")
		if err != nil {
			return "", "", fmt.Errorf("%w (or pass --server-ip)", err)
		}
		ip = n.ServerIP
	}
	if e.site.ftpPort != 0 {
		ftp = netif.FTPBase(ip, e.site.ftpPort)
	}
	return netif.BaseURL(ip, e.site.httpPort), ftp, nil
}

// progress is where long operations (an ISO's checksum, a large apply)
// report progress: standard output when it is a terminal, else nowhere.
func (e *env) progress() io.Writer {
	if f, ok := e.stdout.(*os.File); ok && isTerminal(f) {
		return f
	}
	return nil
}

// isTerminal reports whether f is a terminal (not a file, a pipe or
// /dev/null).
func isTerminal(f *os.File) bool {
	_, err := unix.IoctlGetTermios(int(f.Fd()), unix.TCGETS)
	return err == nil
}

func writeJSON(e *env, v any) error {
	enc := json.NewEncoder(e.stdout)
	enc.SetIndent("", "  ")
	return enc.Encode(v)
}

// errNoServe is what serve says in a build without a server.
var errNoServe = errors.New("this kickstand was built without its server")
