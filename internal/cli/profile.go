package cli

import (
	"context"
	"fmt"
	"maps"
	"os"
	"slices"
	"strings"
	"text/tabwriter"

	"github.com/spf13/cobra"

	"kickstand/internal/inventory"
	"kickstand/internal/store"
)

func (e *env) profileCmd() *cobra.Command {
	cmd := &cobra.Command{Use: "profile", Short: "Manage install profiles (distro + kickstart + kernel arguments)"}
	var spec inventory.ProfileSpec
	var ksFile string
	var vars []string
	var plaintext bool
	add := &cobra.Command{
		Use:   "add NAME --distro NAME",
		Short: "Add a profile",
		Args:  cobra.ExactArgs(1),
		RunE: e.withService(func(ctx context.Context, svc service, args []string) error {
			spec.Name = args[0]
			if plaintext && spec.PasswordPolicy == "" {
				spec.PasswordPolicy = "warn"
			}
			var err error
			if spec.Vars, err = parseVars(vars); err != nil {
				return err
			}
			if ksFile != "" {
				// The template is sent and stored, so the file may move later.
				b, err := os.ReadFile(ksFile)
				if err != nil {
					return fmt.Errorf("--kickstart: %w", err)
				}
				spec.Kickstart = string(b)
			}
			p, err := svc.AddProfile(ctx, spec)
			if err != nil {
				return err
			}
			fmt.Fprintf(e.stdout, "added profile %s (distro %s)\n", p.Name, p.Distro)
			e.printWarnings("profile "+p.Name, p.Warnings)
			return nil
		}),
	}
	add.Flags().StringVar(&spec.Distro, "distro", "", "distro to install (required)")
	add.Flags().StringVar(&ksFile, "kickstart", "", "kickstart template file (default: the built-in template)")
	add.Flags().StringVar(&spec.KernelArgs, "kernel-args", "", "extra kernel command line arguments")
	add.Flags().StringVar(&spec.RepoProtocol, "repo-protocol", store.RepoHTTP, "how the installer reaches the tree: http or ftp")
	add.Flags().StringArrayVar(&vars, "var", nil, "template variable K=V for its machines (repeatable; a machine's own win)")
	add.Flags().StringVar(&spec.PasswordPolicy, "password-policy", "",
		"a plaintext password in its kickstart: warn, or refuse (default: the server's --password-policy, warn)")
	add.Flags().BoolVar(&plaintext, "allow-plaintext-rootpw", false, "same as --password-policy warn")
	add.Flags().MarkDeprecated("allow-plaintext-rootpw", "plaintext passwords are warnings by default; use --password-policy warn|refuse")
	add.MarkFlagRequired("distro")
	var output string
	show := &cobra.Command{
		Use:   "show NAME",
		Short: "Show a profile: distro, variables, kernel arguments, its kickstart template and its warnings",
		Args:  cobra.ExactArgs(1),
		RunE: e.withService(func(ctx context.Context, svc service, args []string) error {
			return e.profileShow(ctx, svc, args[0], output)
		}),
	}
	show.Flags().StringVarP(&output, "output", "o", "text", "output format: text or json")
	cmd.AddCommand(add, show, &cobra.Command{
		Use:   "list",
		Short: "List profiles",
		Args:  cobra.NoArgs,
		RunE:  e.withService(e.profileList),
	}, &cobra.Command{
		Use:   "remove NAME",
		Short: "Remove a profile no machine uses",
		Args:  cobra.ExactArgs(1),
		RunE: e.withService(func(ctx context.Context, svc service, args []string) error {
			if err := svc.RemoveProfile(ctx, args[0]); err != nil {
				return err
			}
			fmt.Fprintf(e.stdout, "removed profile %s\n", args[0])
			return nil
		}),
	})
	return cmd
}

func (e *env) profileList(ctx context.Context, svc service, _ []string) error {
	ps, err := svc.Profiles(ctx)
	if err != nil {
		return err
	}
	w := tabwriter.NewWriter(e.stdout, 0, 4, 2, ' ', 0)
	fmt.Fprintln(w, "NAME\tDISTRO\tREPO\tKICKSTART\tKERNEL ARGS")
	for _, p := range ps {
		ks := "built-in"
		if p.Kickstart != "" {
			ks = "custom"
		}
		fmt.Fprintf(w, "%s\t%s\t%s\t%s\t%s\n", p.Name, p.Distro, p.RepoProtocol, ks, orDash(p.KernelArgs))
	}
	return w.Flush()
}

func (e *env) profileShow(ctx context.Context, svc service, name, output string) error {
	p, err := svc.Profile(ctx, name)
	if err != nil {
		return err
	}
	switch output {
	case "json":
		return writeJSON(e, p)
	case "text":
	default:
		return fmt.Errorf("-o %q: want text or json", output)
	}
	fmt.Fprintf(e.stdout, "name:         %s\ndistro:       %s\nrepo:         %s\nkernel args:  %s\n", p.Name, p.Distro, p.RepoProtocol, orDash(p.KernelArgs))
	if p.PasswordPolicy != "" {
		fmt.Fprintf(e.stdout, "passwords:    %s plaintext ones\n", p.PasswordPolicy)
	}
	if len(p.Warnings) > 0 {
		fmt.Fprintln(e.stdout, "kickstart warnings (anaconda goes on):")
		for _, w := range p.Warnings {
			fmt.Fprintf(e.stdout, "  %s\n", w)
		}
	}
	if len(p.Vars) > 0 {
		fmt.Fprintln(e.stdout, "vars:")
		for _, k := range slices.Sorted(maps.Keys(p.Vars)) {
			fmt.Fprintf(e.stdout, "  %s=%s\n", k, p.Vars[k])
		}
	}
	if p.Kickstart == "" {
		fmt.Fprintln(e.stdout, "kickstart:    the built-in template (kickstand kickstart render MAC shows a machine's)")
		return nil
	}
	fmt.Fprintf(e.stdout, "kickstart template:\n%s", p.Kickstart)
	if !strings.HasSuffix(p.Kickstart, "\n") {
		fmt.Fprintln(e.stdout)
	}
	return nil
}
