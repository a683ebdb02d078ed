package cli

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"os"
	"slices"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"kickstand/internal/app"
	"kickstand/internal/kickstart"
	"kickstand/internal/kickstart/validate"
	"kickstand/internal/store"
)

func (e *env) profileCmd() *cobra.Command {
	cmd := &cobra.Command{Use: "profile", Short: "Manage install profiles (distro + kickstart + kernel arguments)"}
	var p store.Profile
	var ksFile string
	var vars []string
	add := &cobra.Command{
		Use:   "add NAME --distro NAME",
		Short: "Add a profile",
		Args:  cobra.ExactArgs(1),
		RunE: e.withStore(func(ctx context.Context, s store.Store, args []string) error {
			p.Name = args[0]
			p.Vars = map[string]string{}
			if err := parseVars(vars, p.Vars); err != nil {
				return err
			}
			return e.profileAdd(ctx, s, p, ksFile)
		}),
	}
	add.Flags().StringVar(&p.Distro, "distro", "", "distro to install (required)")
	add.Flags().StringVar(&ksFile, "kickstart", "", "kickstart template file (default: the built-in template)")
	add.Flags().StringVar(&p.KernelArgs, "kernel-args", "", "extra kernel command line arguments")
	add.Flags().StringVar(&p.RepoProtocol, "repo-protocol", store.RepoHTTP, "how the installer reaches the tree: http or ftp")
	add.Flags().StringArrayVar(&vars, "var", nil, "template variable K=V for its machines (repeatable; a machine's own win)")
	add.Flags().StringVar(&p.PasswordPolicy, "password-policy", "",
		"a plaintext password in its kickstart: warn, or refuse (default: the server's --password-policy, warn)")
	var plaintext bool
	add.Flags().BoolVar(&plaintext, "allow-plaintext-rootpw", false, "same as --password-policy warn")
	add.Flags().MarkDeprecated("allow-plaintext-rootpw", "plaintext passwords are warnings by default; use --password-policy warn|refuse")
	add.PreRun = func(*cobra.Command, []string) {
		if plaintext && p.PasswordPolicy == "" {
			p.PasswordPolicy = "warn"
		}
	}
	add.MarkFlagRequired("distro")
	var output string
	show := &cobra.Command{
		Use:   "show NAME",
		Short: "Show a profile: distro, variables, kernel arguments and its kickstart template",
		Args:  cobra.ExactArgs(1),
		RunE: e.withStore(func(ctx context.Context, s store.Store, args []string) error {
			return e.profileShow(ctx, s, args[0], output)
		}),
	}
	show.Flags().StringVarP(&output, "output", "o", "text", "output format: text or json")
	cmd.AddCommand(add, show, &cobra.Command{
		Use:   "list",
		Short: "List profiles",
		Args:  cobra.NoArgs,
		RunE:  e.withStore(e.profileList),
	}, &cobra.Command{
		Use:   "remove NAME",
		Short: "Remove a profile no machine uses",
		Args:  cobra.ExactArgs(1),
		RunE:  e.withStore(e.profileRemove),
	})
	return cmd
}

func (e *env) profileAdd(ctx context.Context, s store.Store, p store.Profile, ksFile string) error {
	if err := checkName("profile", p.Name); err != nil {
		return err
	}
	if p.RepoProtocol != store.RepoHTTP && p.RepoProtocol != store.RepoFTP {
		return fmt.Errorf("--repo-protocol %q: want http or ftp", p.RepoProtocol)
	}
	if err := checkPasswordPolicy(p.PasswordPolicy); err != nil {
		return fmt.Errorf("--password-policy: %w", err)
	}
	if ksFile != "" {
		b, err := os.ReadFile(ksFile)
		if err != nil {
			return fmt.Errorf("--kickstart: %w", err)
		}
		p.Kickstart = string(b)
		// The template is copied into the store, so the file may move later.
		if err := kickstart.Parse(ksFile, p.Kickstart, nil); err != nil {
			return err
		}
	}
	if _, err := s.Distro(ctx, p.Distro); errors.Is(err, store.ErrNotFound) {
		return fmt.Errorf("distro %s does not exist: import it with kickstand distro import %s PATH", p.Distro, p.Distro)
	}
	warnings, err := app.CheckProfile(ctx, s, p, e.site())
	if err != nil {
		return err
	}
	if err := s.AddProfile(ctx, p); err != nil {
		if errors.Is(err, store.ErrExists) {
			return fmt.Errorf("profile %s already exists: choose another name", p.Name)
		}
		return err
	}
	fmt.Fprintf(e.stdout, "added profile %s (distro %s)\n", p.Name, p.Distro)
	e.printWarnings("profile "+p.Name, warnings)
	return nil
}

// checkPasswordPolicy accepts "" (the server's), warn and refuse.
func checkPasswordPolicy(policy string) error {
	if policy == "" {
		return nil
	}
	_, err := validate.ParsePasswordPolicy(policy)
	return err
}

// site is the server side of kickstarts as the CLI checks them.
func (e *env) site() app.Site {
	return app.Site{SnippetsDir: app.SnippetsDir(e.dataDir)}
}

// printWarnings lists what anaconda would warn about in what's kickstart.
func (e *env) printWarnings(what string, warnings app.Warnings) {
	for _, w := range warnings {
		fmt.Fprintf(e.stdout, "%s: kickstart %s\n", what, w)
	}
}

func (e *env) profileList(ctx context.Context, s store.Store, _ []string) error {
	ps, err := s.Profiles(ctx)
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

func (e *env) profileRemove(ctx context.Context, s store.Store, args []string) error {
	err := s.RemoveProfile(ctx, args[0])
	switch {
	case errors.Is(err, store.ErrNotFound):
		return fmt.Errorf("profile %s does not exist (see kickstand profile list)", args[0])
	case errors.Is(err, store.ErrInUse):
		return fmt.Errorf("profile %s is used by a machine: remove or re-register those machines first (kickstand machine list)", args[0])
	case err != nil:
		return err
	}
	fmt.Fprintf(e.stdout, "removed profile %s\n", args[0])
	return nil
}

// profileJSON is the documented JSON form of a profile.
type profileJSON struct {
	Name           string            `json:"name"`
	Distro         string            `json:"distro"`
	KernelArgs     string            `json:"kernel_args"`
	RepoProtocol   string            `json:"repo_protocol"`
	Vars           map[string]string `json:"vars"`
	PasswordPolicy string            `json:"password_policy"` // "" is the server's
	Kickstart      string            `json:"kickstart"`       // the template; "" is the built-in one
	// Warnings are what anaconda would log about its kickstart, rendered
	// for a sample machine.
	Warnings []string  `json:"warnings"`
	Created  time.Time `json:"created"`
}

func (e *env) profileShow(ctx context.Context, s store.Store, name, output string) error {
	p, err := s.Profile(ctx, name)
	if errors.Is(err, store.ErrNotFound) {
		return fmt.Errorf("profile %s does not exist (see kickstand profile list)", name)
	} else if err != nil {
		return err
	}
	j := profileJSON{Name: p.Name, Distro: p.Distro, KernelArgs: p.KernelArgs, RepoProtocol: p.RepoProtocol,
		Vars: p.Vars, PasswordPolicy: p.PasswordPolicy, Kickstart: p.Kickstart, Created: p.Created, Warnings: []string{}}
	if j.Vars == nil {
		j.Vars = map[string]string{}
	}
	// Errors were refused when it was written; a snippet changed since
	// shows here too.
	warnings, err := app.CheckProfile(ctx, s, p, e.site())
	if err != nil {
		j.Warnings = append(j.Warnings, "error: "+err.Error())
	}
	for _, w := range warnings {
		j.Warnings = append(j.Warnings, w.String())
	}
	switch output {
	case "json":
		return writeJSON(e, j)
	case "text":
	default:
		return fmt.Errorf("-o %q: want text or json", output)
	}
	fmt.Fprintf(e.stdout, "name:         %s\ndistro:       %s\nrepo:         %s\nkernel args:  %s\n", p.Name, p.Distro, p.RepoProtocol, orDash(p.KernelArgs))
	if p.PasswordPolicy != "" {
		fmt.Fprintf(e.stdout, "passwords:    %s plaintext ones\n", p.PasswordPolicy)
	}
	if len(j.Warnings) > 0 {
		fmt.Fprintln(e.stdout, "kickstart warnings (anaconda goes on):")
		for _, w := range j.Warnings {
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
