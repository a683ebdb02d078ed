package cli

import (
	"context"
	"errors"
	"fmt"
	"net/netip"
	"os"
	"strings"

	"github.com/spf13/cobra"

	"kickstand/internal/app"
	"kickstand/internal/kickstart/validate"
	"kickstand/internal/store"
)

func (e *env) kickstartCmd() *cobra.Command {
	cmd := &cobra.Command{Use: "kickstart", Short: "Work with kickstart files"}
	var serverIP string
	var port, ftpPort int
	var profile string
	render := &cobra.Command{
		Use:   "render MAC | --profile NAME",
		Short: "Print the kickstart a machine gets, or a profile's for a sample machine",
		Args: func(_ *cobra.Command, args []string) error {
			if (len(args) == 1) == (profile != "") {
				return errors.New("give a MAC, or --profile NAME")
			}
			return nil
		},
		RunE: e.withStore(func(ctx context.Context, s store.Store, args []string) error {
			if profile != "" {
				return e.kickstartRender(ctx, s, app.SampleMachine(profile), serverIP, port, ftpPort)
			}
			m, err := machineArg(ctx, s, args[0], true)
			if err != nil {
				return err
			}
			return e.kickstartRender(ctx, s, m, serverIP, port, ftpPort)
		}),
	}
	render.Flags().StringVar(&profile, "profile", "", "render this profile's kickstart for a sample machine")
	render.Flags().StringVar(&serverIP, "server-ip", "", "server address for the URLs (default: the default route interface's)")
	render.Flags().IntVar(&port, "http-port", 80, "server HTTP port for the URLs")
	render.Flags().IntVar(&ftpPort, "ftp-port", 21, "server FTP port for ftp repo URLs (0: FTP off)")
	var plaintext bool
	validateCmd := &cobra.Command{
		Use:   "validate FILE...",
		Short: "Check kickstart files against anaconda's RHEL 9 syntax; every problem names its line",
		Args:  cobra.MinimumNArgs(1),
		RunE: func(_ *cobra.Command, args []string) error {
			return e.kickstartValidate(args, plaintext)
		},
	}
	validateCmd.Flags().BoolVar(&plaintext, "allow-plaintext-rootpw", false, "accept a plaintext rootpw (refused by default)")
	cmd.AddCommand(render, validateCmd)
	return cmd
}

// kickstartValidate checks each file; %include paths are read from the host.
func (e *env) kickstartValidate(files []string, plaintext bool) error {
	bad := 0
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			return err
		}
		problems := validate.Check(string(b), validate.Options{AllowPlaintextRootpw: plaintext, Include: readInclude})
		for _, p := range problems {
			fmt.Fprintf(e.stdout, "%s: %s\n", f, p)
		}
		if len(problems) > 0 {
			bad++
		} else {
			fmt.Fprintf(e.stdout, "%s: ok\n", f)
		}
	}
	if bad > 0 {
		return fmt.Errorf("%d of %d kickstart files have problems (listed above)", bad, len(files))
	}
	return nil
}

// readInclude reads an included file from this host; URLs are left to
// anaconda (empty: not checked).
func readInclude(path string) (string, error) {
	if strings.Contains(path, "://") {
		return "", nil
	}
	b, err := os.ReadFile(path)
	return string(b), err
}

func (e *env) kickstartRender(ctx context.Context, s store.Store, m store.Machine, serverIP string, port, ftpPort int) error {
	if _, err := s.Profile(ctx, m.Profile); errors.Is(err, store.ErrNotFound) {
		return fmt.Errorf("profile %s does not exist (see kickstand profile list)", m.Profile)
	}
	var ip netip.Addr
	var err error
	if serverIP != "" {
		if ip, err = netip.ParseAddr(serverIP); err != nil {
			return fmt.Errorf("--server-ip %q: %w", serverIP, err)
		}
	} else {
		n, err := app.ResolveNetwork("", "")
		if err != nil {
			return fmt.Errorf("%w (or pass --server-ip)", err)
		}
		ip = n.ServerIP
	}
	ftpBase := ""
	if ftpPort != 0 {
		ftpBase = app.FTPBase(ip, ftpPort)
	}
	ks, _, err := app.RenderKickstart(ctx, s, m, "", app.Site{BaseURL: app.BaseURL(ip, port), FTPBase: ftpBase,
		SnippetsDir: app.SnippetsDir(e.dataDir)})
	if ks != nil { // also when it has problems: the lines they name are here
		if _, werr := e.stdout.Write(ks); werr != nil {
			return werr
		}
	}
	return err
}
