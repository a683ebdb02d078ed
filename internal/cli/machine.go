package cli

import (
	"context"
	"fmt"
	"maps"
	"slices"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"kickstand/internal/inventory"
)

func (e *env) machineCmd() *cobra.Command {
	cmd := &cobra.Command{Use: "machine", Short: "Register machines and follow their installs"}
	var opts machineOpts
	add := &cobra.Command{
		Use:   "add MAC --profile NAME",
		Short: "Register a machine so that its next network boot installs its profile",
		Args:  cobra.ExactArgs(1),
		RunE: e.withService(func(ctx context.Context, svc service, args []string) error {
			return e.machineAdd(ctx, svc, args[0], opts)
		}),
	}
	opts.flags(add)
	add.MarkFlagRequired("profile")
	var edits machineOpts
	var edit *cobra.Command
	edit = &cobra.Command{
		Use:   "edit MAC [--profile NAME] [--hostname H] [--var K=V] [--unset-var K] ...",
		Short: "Change a registered machine; what it installs next follows",
		Args:  cobra.ExactArgs(1),
		RunE: e.withService(func(ctx context.Context, svc service, args []string) error {
			return e.machineEdit(ctx, svc, args[0], edits, edit.Flags().Changed)
		}),
	}
	edits.flags(edit)
	edit.Flags().StringArrayVar(&edits.unset, "unset-var", nil, "remove template variable K (repeatable)")
	reinstall := &cobra.Command{
		Use:   "reinstall MAC",
		Short: "Install the machine again on its next network boot (its kickstart URL changes)",
		Args:  cobra.ExactArgs(1),
		RunE: e.withService(func(ctx context.Context, svc service, args []string) error {
			r, err := svc.Reinstall(ctx, args[0])
			if err != nil {
				return err
			}
			fmt.Fprintf(e.stdout, "machine %s (profile %s) installs again on its next network boot\n", r.Machine.MAC, r.Machine.Profile)
			return nil
		}),
	}
	var output string
	list := &cobra.Command{
		Use: "list", Short: "List machines with their state", Args: cobra.NoArgs,
		RunE: e.withService(func(ctx context.Context, svc service, _ []string) error { return e.machineList(ctx, svc, output) }),
	}
	show := &cobra.Command{
		Use: "show MAC", Short: "Show a machine and its install timeline", Args: cobra.ExactArgs(1),
		RunE: e.withService(func(ctx context.Context, svc service, args []string) error {
			return e.machineShow(ctx, svc, args[0], output)
		}),
	}
	for _, c := range []*cobra.Command{list, show} {
		c.Flags().StringVarP(&output, "output", "o", "text", "output format: text or json")
	}
	remove := &cobra.Command{
		Use: "remove MAC", Short: "Forget a machine, its timeline and its lease", Args: cobra.ExactArgs(1),
		RunE: e.withService(func(ctx context.Context, svc service, args []string) error {
			mac, err := inventory.ParseMAC(args[0])
			if err != nil {
				return err
			}
			if err := svc.RemoveMachine(ctx, mac.String()); err != nil {
				return err
			}
			fmt.Fprintf(e.stdout, "removed machine %s\n", mac)
			return nil
		}),
	}
	cmd.AddCommand(add, edit, reinstall, list, show, remove, e.machineLogsCmd())
	return cmd
}

type machineOpts struct {
	profile, hostname, ip, uuid string
	address, gateway, device    string
	dns, vars, unset            []string
}

func (o *machineOpts) flags(c *cobra.Command) {
	f := c.Flags()
	f.StringVar(&o.profile, "profile", "", "profile to install (required)")
	f.StringVar(&o.hostname, "hostname", "", "host name for the installed system")
	f.StringVar(&o.ip, "ip", "", "address reserved for it in --dhcp full mode")
	f.StringVar(&o.uuid, "uuid", "", "its SMBIOS UUID (informational)")
	f.StringVar(&o.address, "address", "", "static address of the installed system, CIDR (e.g. 10.0.0.5/24); default DHCP")
	f.StringVar(&o.gateway, "gateway", "", "default gateway with --address")
	f.StringSliceVar(&o.dns, "dns", nil, "DNS servers with --address, comma-separated")
	f.StringVar(&o.device, "device", "", "network device the static settings apply to (default: the one it booted from)")
	f.StringArrayVar(&o.vars, "var", nil, "template variable K=V (repeatable)")
}

// parseVars reads KEY=VALUE pairs; the keys are checked where they are used.
func parseVars(kvs []string) (map[string]string, error) {
	vars := map[string]string{}
	for _, kv := range kvs {
		k, v, ok := strings.Cut(kv, "=")
		if !ok || k == "" {
			return nil, fmt.Errorf("--var %q: want KEY=VALUE", kv)
		}
		vars[k] = v
	}
	return vars, nil
}

func (e *env) machineAdd(ctx context.Context, svc service, mac string, o machineOpts) error {
	vars, err := parseVars(o.vars)
	if err != nil {
		return err
	}
	r, err := svc.AddMachine(ctx, inventory.MachineSpec{MAC: mac, Profile: o.profile, Hostname: o.hostname, IP: o.ip, UUID: o.uuid,
		Network: inventory.NetworkSpec{Address: o.address, Gateway: o.gateway, DNS: o.dns, Device: o.device}, Vars: vars})
	if err != nil {
		return err
	}
	e.printWarnings("machine "+r.Machine.MAC, r.Warnings)
	fmt.Fprintf(e.stdout, "added machine %s (profile %s): it installs on its next network boot\n", r.Machine.MAC, r.Machine.Profile)
	return nil
}

// machineEdit sends the flags the user set as a patch.
func (e *env) machineEdit(ctx context.Context, svc service, mac string, o machineOpts, set func(string) bool) error {
	var p inventory.MachinePatch
	given := false
	for flag, field := range map[string]**string{"profile": &p.Profile, "hostname": &p.Hostname, "ip": &p.IP, "uuid": &p.UUID,
		"address": &p.Address, "gateway": &p.Gateway, "device": &p.Device} {
		if set(flag) {
			v := map[string]string{"profile": o.profile, "hostname": o.hostname, "ip": o.ip, "uuid": o.uuid,
				"address": o.address, "gateway": o.gateway, "device": o.device}[flag]
			*field, given = &v, true
		}
	}
	if set("dns") {
		p.DNS, given = &o.dns, true
	}
	vars, err := parseVars(o.vars)
	if err != nil {
		return err
	}
	if len(vars) > 0 {
		p.Vars, given = vars, true
	}
	if len(o.unset) > 0 {
		p.UnsetVars, given = o.unset, true
	}
	if !given {
		return fmt.Errorf("nothing to change: give --profile, --hostname, --var, --unset-var, --address, ... (see --help)")
	}
	r, err := svc.UpdateMachine(ctx, mac, p)
	if err != nil {
		return err
	}
	e.printWarnings("machine "+r.Machine.MAC, r.Warnings)
	if len(r.Changes) == 0 {
		fmt.Fprintf(e.stdout, "machine %s is already so: nothing changed\n", r.Machine.MAC)
		return nil
	}
	fmt.Fprintf(e.stdout, "changed machine %s: %s\n", r.Machine.MAC, strings.Join(r.Changes, ", "))
	if r.Machine.State == "installed" {
		fmt.Fprintf(e.stdout, "it is installed and boots from disk: kickstand machine reinstall %s to install it again\n", r.Machine.MAC)
	}
	return nil
}

func (e *env) machineList(ctx context.Context, svc service, output string) error {
	rows, err := svc.Machines(ctx)
	if err != nil {
		return err
	}
	switch output {
	case "json":
		return writeJSON(e, rows)
	case "text":
	default:
		return fmt.Errorf("-o %q: want text or json", output)
	}
	w := tabwriter.NewWriter(e.stdout, 0, 4, 2, ' ', 0)
	fmt.Fprintln(w, "MAC\tPROFILE\tHOSTNAME\tSTATE\tLAST EVENT\tAGE")
	for _, j := range rows {
		last, age := "-", "-"
		if j.LastEvent != nil {
			last, age = j.LastEvent.Kind, time.Since(j.LastEvent.Time).Round(time.Second).String()
		}
		fmt.Fprintf(w, "%s\t%s\t%s\t%s\t%s\t%s\n", j.MAC, orDash(j.Profile), orDash(j.Hostname), j.State, last, age)
	}
	return w.Flush()
}

func (e *env) machineShow(ctx context.Context, svc service, mac, output string) error {
	j, err := svc.Machine(ctx, mac)
	if err != nil {
		return err
	}
	switch output {
	case "json":
		if j.Events == nil {
			j.Events = []inventory.EventJSON{}
		}
		j.LastEvent = nil
		return writeJSON(e, j)
	case "text":
	default:
		return fmt.Errorf("-o %q: want text or json", output)
	}
	fmt.Fprintf(e.stdout, "mac:       %s\nprofile:   %s\nhostname:  %s\nstate:     %s\n", j.MAC, orDash(j.Profile), orDash(j.Hostname), j.State)
	if j.IP != "" {
		fmt.Fprintf(e.stdout, "ip:        %s\n", j.IP)
	}
	if j.UUID != "" {
		fmt.Fprintf(e.stdout, "uuid:      %s\n", j.UUID)
	}
	if n := j.Network; n != nil {
		fmt.Fprintf(e.stdout, "network:   %s", n.Address)
		if n.Gateway.IsValid() {
			fmt.Fprintf(e.stdout, " gateway %s", n.Gateway)
		}
		for _, d := range n.DNS {
			fmt.Fprintf(e.stdout, " dns %s", d)
		}
		if n.Device != "" {
			fmt.Fprintf(e.stdout, " on %s", n.Device)
		}
		fmt.Fprintln(e.stdout)
	}
	if len(j.Vars) > 0 {
		fmt.Fprintln(e.stdout, "vars:")
		for _, k := range slices.Sorted(maps.Keys(j.Vars)) {
			fmt.Fprintf(e.stdout, "  %s=%s\n", k, j.Vars[k])
		}
	}
	if len(j.Warnings) > 0 {
		fmt.Fprintln(e.stdout, "kickstart warnings (anaconda goes on):")
		for _, w := range j.Warnings {
			fmt.Fprintf(e.stdout, "  %s\n", w)
		}
	}
	fmt.Fprintln(e.stdout, "timeline:")
	writeTimeline(e, j.Events)
	return nil
}

// writeTimeline prints each event with its time and the time since the
// power-on of the boot it belongs to; a power-on is marked with "*".
func writeTimeline(e *env, evs []inventory.EventJSON) {
	w := tabwriter.NewWriter(e.stdout, 0, 4, 2, ' ', 0)
	for i, ev := range evs {
		mark := " "
		if i > 0 && ev.PowerOn {
			mark = "*"
		}
		since := time.Duration(ev.SincePowerOn * float64(time.Second)).Round(time.Millisecond)
		fmt.Fprintf(w, "  %s\t%s+%s\t%s\t%s\n", ev.Time.Local().Format("15:04:05.000"), mark, since, ev.Kind, ev.Detail)
	}
	w.Flush()
}

// printWarnings lists what anaconda would warn about in what's kickstart.
func (e *env) printWarnings(what string, warnings []string) {
	for _, w := range warnings {
		fmt.Fprintf(e.stdout, "%s: kickstart %s\n", what, w)
	}
}
