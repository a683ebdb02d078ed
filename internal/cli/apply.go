package cli

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"

	"github.com/spf13/cobra"
	"go.yaml.in/yaml/v3"

	"kickstand/internal/inventory"
	"kickstand/internal/kickstart"
)

// applyFile is the YAML that apply reads: the site's profiles and machines.
// Profiles and machines in it are created or brought to what it says; what
// it does not name is left alone.
type applyFile struct {
	Profiles []applyProfile `yaml:"profiles"`
	Machines []applyMachine `yaml:"machines"`
}

type applyProfile struct {
	Name         string            `yaml:"name"`
	Distro       string            `yaml:"distro"`
	Kickstart    string            `yaml:"kickstart"` // template file, relative to the YAML file; "" built-in
	KernelArgs   string            `yaml:"kernel-args"`
	RepoProtocol string            `yaml:"repo-protocol"`
	Vars         map[string]string `yaml:"vars"`
	Passwords    string            `yaml:"password-policy"`        // warn, refuse; "" the server's
	Plaintext    bool              `yaml:"allow-plaintext-rootpw"` // deprecated: password-policy warn
}

type applyMachine struct {
	MAC      string            `yaml:"mac"`
	Profile  string            `yaml:"profile"`
	Hostname string            `yaml:"hostname"`
	IP       string            `yaml:"ip"`
	UUID     string            `yaml:"uuid"`
	Network  applyNetwork      `yaml:"network"`
	Vars     map[string]string `yaml:"vars"`
}

type applyNetwork struct {
	Address string   `yaml:"address"`
	Gateway string   `yaml:"gateway"`
	DNS     []string `yaml:"dns"`
	Device  string   `yaml:"device"`
}

func (e *env) applyCmd() *cobra.Command {
	var file string
	var dryRun bool
	cmd := &cobra.Command{
		Use:   "apply -f FILE.yaml [--dry-run]",
		Short: "Create or update the profiles and machines a YAML file lists (idempotent)",
		Long: `apply reads profiles and machines from FILE.yaml (- for standard input), checks all
of them (names, distros, addresses, and each kickstart as anaconda parses it)
and only then writes: profiles first, then machines. A file with an error in it
writes nothing; a failure while writing (the disk, say) stops there and says so.
Running it again changes nothing. Profiles and machines the file does not name are
left alone; a machine's state and kickstart URL are kept (use machine reinstall to
install it again).`,
		Args: cobra.NoArgs,
		RunE: e.withService(func(ctx context.Context, svc service, _ []string) error {
			req, err := readApplyFile(file)
			if err != nil {
				return err
			}
			plan, err := svc.Apply(ctx, req, dryRun)
			e.printPlan(plan)
			return err
		}),
	}
	cmd.Flags().StringVarP(&file, "file", "f", "", "YAML file with profiles: and machines: (- for stdin)")
	cmd.Flags().BoolVar(&dryRun, "dry-run", false, "print the changes, write nothing")
	cmd.MarkFlagRequired("file")
	return cmd
}

// printPlan prints each change and its kickstart's warnings, then counts.
func (e *env) printPlan(plan inventory.Plan) {
	if plan.Changes == nil {
		return
	}
	for _, c := range plan.Changes {
		for _, w := range c.Warnings {
			fmt.Fprintf(e.stdout, "%s: kickstart %s\n", c.What, w)
		}
		fmt.Fprintf(e.stdout, "%-9s %s%s\n", c.Op, c.What, c.Detail)
	}
	verb := "applied"
	if !plan.Written {
		verb = "dry run, nothing written"
	}
	fmt.Fprintf(e.stdout, "%s: %d to create, %d to update, %d unchanged\n", verb, plan.Count("create"), plan.Count("update"), plan.Count("unchanged"))
}

// readApplyFile reads the YAML file into a request: kickstart template
// files are read here, relative to the YAML file, so that a remote server
// gets their text.
func readApplyFile(file string) (inventory.ApplyRequest, error) {
	var doc applyFile
	var b []byte
	var err error
	dir := "."
	if file == "-" {
		b, err = io.ReadAll(os.Stdin)
	} else {
		b, err = os.ReadFile(file)
		dir = filepath.Dir(file)
	}
	if err != nil {
		return inventory.ApplyRequest{}, err
	}
	dec := yaml.NewDecoder(bytes.NewReader(b))
	dec.KnownFields(true)
	if err := dec.Decode(&doc); err != nil && !errors.Is(err, io.EOF) {
		return inventory.ApplyRequest{}, fmt.Errorf("%s: %w", file, err)
	}
	var req inventory.ApplyRequest
	for _, p := range doc.Profiles {
		spec := inventory.ProfileSpec{Name: p.Name, Distro: p.Distro, KernelArgs: p.KernelArgs, RepoProtocol: p.RepoProtocol,
			Vars: p.Vars, PasswordPolicy: p.Passwords}
		if spec.PasswordPolicy == "" && p.Plaintext {
			spec.PasswordPolicy = "warn"
		}
		if p.Kickstart != "" {
			path := p.Kickstart
			if !filepath.IsAbs(path) {
				path = filepath.Join(dir, path)
			}
			b, err := os.ReadFile(path)
			if err != nil {
				return req, fmt.Errorf("profile %s: kickstart: %w", p.Name, err)
			}
			if err := kickstart.Parse(path, string(b), nil); err != nil {
				return req, fmt.Errorf("profile %s: %w", p.Name, err)
			}
			spec.Kickstart = string(b)
		}
		req.Profiles = append(req.Profiles, spec)
	}
	for _, m := range doc.Machines {
		req.Machines = append(req.Machines, inventory.MachineSpec{MAC: m.MAC, Profile: m.Profile, Hostname: m.Hostname, IP: m.IP,
			UUID: m.UUID, Vars: m.Vars,
			Network: inventory.NetworkSpec{Address: m.Network.Address, Gateway: m.Network.Gateway, DNS: m.Network.DNS, Device: m.Network.Device}})
	}
	return req, nil
}
