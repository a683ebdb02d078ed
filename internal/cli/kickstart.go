package cli

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"

	"github.com/spf13/cobra"

	"kickstand/internal/inventory"
	"kickstand/internal/kickstart/validate"
)

func (e *env) kickstartCmd() *cobra.Command {
	cmd := &cobra.Command{Use: "kickstart", Short: "Work with kickstart files"}
	var profile string
	var secrets bool
	render := &cobra.Command{
		Use:   "render MAC | --profile NAME",
		Short: "Print the kickstart a machine gets, or a profile's for a sample machine (secrets masked)",
		Args: func(_ *cobra.Command, args []string) error {
			if (len(args) == 1) == (profile != "") {
				return errors.New("give a MAC, or --profile NAME")
			}
			return nil
		},
		RunE: e.withService(func(ctx context.Context, svc service, args []string) error {
			mac := ""
			if len(args) == 1 {
				mac = args[0]
			}
			base, ftp, err := e.renderURLs()
			if err != nil {
				return err
			}
			ks, err := svc.Kickstart(ctx, mac, profile, inventory.RenderOptions{Secrets: secrets, BaseURL: base, FTPBase: ftp})
			if err != nil {
				return err
			}
			for _, w := range ks.Warnings {
				fmt.Fprintf(e.stderr, "kickstart %s\n", w)
			}
			// Also when it has errors: the lines they name are here.
			if _, err := io.WriteString(e.stdout, ks.Text); err != nil {
				return err
			}
			if ks.Error != "" {
				return errors.New(ks.Error)
			}
			return nil
		}),
	}
	render.Flags().StringVar(&profile, "profile", "", "render this profile's kickstart for a sample machine")
	render.Flags().StringVar(&e.site.serverIP, "server-ip", "", "server address for the URLs (default: the default route interface's; with --server, the server's)")
	render.Flags().IntVar(&e.site.httpPort, "http-port", 80, "server HTTP port for the URLs")
	render.Flags().IntVar(&e.site.ftpPort, "ftp-port", 21, "server FTP port for ftp repo URLs (0: FTP off)")
	render.Flags().BoolVar(&secrets, "secrets", false, "show passwords and hashes instead of ********")
	var vopt validateOpts
	validateCmd := &cobra.Command{
		Use:   "validate FILE...",
		Short: "Check kickstart files as anaconda parses them: errors (anaconda stops) and warnings (it goes on), each with its line",
		Long: `Check kickstart files as anaconda parses them, for a release (--version rhel8, rhel9, rhel10
or fedora). An error is what anaconda stops on; a warning is what it logs and goes on with
(a deprecated option, a command given twice, a plaintext password). The exit status is 1 when
a file has an error (with --strict, also a warning). A relative %include is read from the
including file's directory.`,
		Args: cobra.MinimumNArgs(1),
		RunE: func(_ *cobra.Command, args []string) error {
			return e.kickstartValidate(args, vopt)
		},
	}
	validateCmd.Flags().StringVar(&vopt.version, "version", "rhel9", "syntax to check against: rhel8, rhel9, rhel10 or fedora")
	validateCmd.Flags().BoolVar(&vopt.strict, "strict", false, "fail on warnings too")
	validateCmd.Flags().StringVar(&vopt.passwords, "password-policy", "warn", "a plaintext password: warn, or refuse")
	var plaintext bool
	validateCmd.Flags().BoolVar(&plaintext, "allow-plaintext-rootpw", false, "no effect: plaintext passwords are warnings unless --password-policy refuse")
	validateCmd.Flags().MarkDeprecated("allow-plaintext-rootpw", "plaintext passwords are warnings by default")
	cmd.AddCommand(render, validateCmd)
	return cmd
}

type validateOpts struct {
	version, passwords string
	strict             bool
}

// kickstartValidate checks each file; %include paths are read from the host.
func (e *env) kickstartValidate(files []string, o validateOpts) error {
	v, err := validate.ParseVersion(o.version)
	if err != nil {
		return fmt.Errorf("--version: %w", err)
	}
	policy, err := validate.ParsePasswordPolicy(o.passwords)
	if err != nil {
		return fmt.Errorf("--password-policy: %w", err)
	}
	bad, warned := 0, 0
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			return err
		}
		problems := validate.Check(string(b), validate.Options{Version: v, Passwords: policy, Include: readInclude, Path: f})
		for _, p := range problems {
			// FILE:LINE: error|warning: MESSAGE, as compilers write it.
			fmt.Fprintf(e.stdout, "%s:%d: %s: %s\n", f, p.Line, p.Severity, p.Message)
		}
		switch {
		case validate.Errors(problems) != nil:
			bad++
		case problems != nil:
			warned++
		default:
			fmt.Fprintf(e.stdout, "%s: ok\n", f)
		}
	}
	switch {
	case bad > 0:
		return fmt.Errorf("%d of %d kickstart files have errors that anaconda stops on (listed above)", bad, len(files))
	case warned > 0 && o.strict:
		return fmt.Errorf("%d of %d kickstart files have warnings (listed above), and --strict fails on them", warned, len(files))
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
