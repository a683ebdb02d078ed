package cli

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"net/netip"
	"regexp"
	"slices"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"kickstand/internal/app"
	"kickstand/internal/store"
)

func (e *env) machineCmd() *cobra.Command {
	cmd := &cobra.Command{Use: "machine", Short: "Register machines and follow their installs"}
	var opts machineOpts
	add := &cobra.Command{
		Use:   "add MAC --profile NAME",
		Short: "Register a machine so that its next network boot installs its profile",
		Args:  cobra.ExactArgs(1),
		RunE: e.withStore(func(ctx context.Context, s store.Store, args []string) error {
			return e.machineAdd(ctx, s, args[0], opts)
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
		RunE: e.withStore(func(ctx context.Context, s store.Store, args []string) error {
			return e.machineEdit(ctx, s, args[0], edits, edit.Flags().Changed)
		}),
	}
	edits.flags(edit)
	edit.Flags().StringArrayVar(&edits.unset, "unset-var", nil, "remove template variable K (repeatable)")
	reinstall := &cobra.Command{
		Use:   "reinstall MAC",
		Short: "Install the machine again on its next network boot (its kickstart URL changes)",
		Args:  cobra.ExactArgs(1),
		RunE: e.withStore(func(ctx context.Context, s store.Store, args []string) error {
			return e.machineReinstall(ctx, s, args[0])
		}),
	}

	var output string
	list := &cobra.Command{
		Use: "list", Short: "List machines with their state", Args: cobra.NoArgs,
		RunE: e.withStore(func(ctx context.Context, s store.Store, _ []string) error { return e.machineList(ctx, s, output) }),
	}
	show := &cobra.Command{
		Use: "show MAC", Short: "Show a machine and its install timeline", Args: cobra.ExactArgs(1),
		RunE: e.withStore(func(ctx context.Context, s store.Store, args []string) error {
			return e.machineShow(ctx, s, args[0], output)
		}),
	}
	for _, c := range []*cobra.Command{list, show} {
		c.Flags().StringVarP(&output, "output", "o", "text", "output format: text or json")
	}
	remove := &cobra.Command{
		Use: "remove MAC", Short: "Forget a machine, its timeline and its lease", Args: cobra.ExactArgs(1),
		RunE: e.withStore(func(ctx context.Context, s store.Store, args []string) error {
			mac, err := store.ParseMAC(args[0])
			if err != nil {
				return err
			}
			if err := s.RemoveMachine(ctx, mac); errors.Is(err, store.ErrNotFound) {
				return fmt.Errorf("machine %s is not registered (see kickstand machine list)", mac)
			} else if err != nil {
				return err
			}
			fmt.Fprintf(e.stdout, "removed machine %s\n", mac)
			return nil
		}),
	}
	cmd.AddCommand(add, edit, reinstall, list, show, remove)
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

var (
	hostnameRE = regexp.MustCompile(`^([A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?)(\.[A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?)*$`)
	varKeyRE   = regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_]*$`)
	deviceRE   = regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_.-]*$`) // eno1, ens3f0, bond0.100
)

// parseMachine checks every option before anything is written.
func parseMachine(macText string, o machineOpts) (store.Machine, error) {
	mac, err := store.ParseMAC(macText)
	if err != nil {
		return store.Machine{}, err
	}
	m := store.Machine{MAC: mac, Profile: o.profile, Hostname: o.hostname, State: store.StateNew, Vars: map[string]string{}}
	if o.hostname != "" && (len(o.hostname) > 253 || !hostnameRE.MatchString(o.hostname)) {
		return m, fmt.Errorf("--hostname %q: use letters, digits and '-' in dot-separated labels", o.hostname)
	}
	if o.ip != "" {
		if m.IP, err = netip.ParseAddr(o.ip); err != nil || !m.IP.Is4() {
			return m, fmt.Errorf("--ip %q: want an IPv4 address", o.ip)
		}
	}
	if err := parseVars(o.vars, m.Vars); err != nil {
		return m, err
	}
	if m.UUID, err = parseUUID(o.uuid); err != nil {
		return m, err
	}
	m.Network, err = parseNetwork(o)
	return m, err
}

// parseVars adds KEY=VALUE pairs to vars.
func parseVars(kvs []string, vars map[string]string) error {
	for _, kv := range kvs {
		k, v, ok := strings.Cut(kv, "=")
		if !ok || !varKeyRE.MatchString(k) {
			return fmt.Errorf("--var %q: want KEY=VALUE with KEY made of letters, digits and '_'", kv)
		}
		vars[k] = v
	}
	return nil
}

var uuidRE = regexp.MustCompile(`^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$`)

func parseUUID(s string) (string, error) {
	if s != "" && !uuidRE.MatchString(s) {
		return "", fmt.Errorf("--uuid %q: want 8-4-4-4-12 hex digits", s)
	}
	return strings.ToLower(s), nil
}

// parseNetwork checks the static network options: all need --address.
func parseNetwork(o machineOpts) (store.Network, error) {
	var n store.Network
	if o.address == "" {
		if o.gateway != "" || len(o.dns) > 0 || o.device != "" {
			return n, errors.New("--gateway, --dns and --device set a static network: give --address too")
		}
		return n, nil
	}
	var err error
	if n.Address, err = netip.ParsePrefix(o.address); err != nil || !n.Address.Addr().Is4() || n.Address.Bits() == 32 {
		return n, fmt.Errorf("--address %q: want an IPv4 address with its prefix length, like 10.0.0.5/24", o.address)
	}
	if o.gateway != "" {
		if n.Gateway, err = netip.ParseAddr(o.gateway); err != nil || !n.Address.Contains(n.Gateway) {
			return n, fmt.Errorf("--gateway %q: want an address inside %s", o.gateway, n.Address.Masked())
		}
	}
	for _, d := range o.dns {
		a, err := netip.ParseAddr(d)
		if err != nil {
			return n, fmt.Errorf("--dns %q: want IP addresses", d)
		}
		n.DNS = append(n.DNS, a)
	}
	if o.device != "" && !deviceRE.MatchString(o.device) {
		return n, fmt.Errorf("--device %q: want an interface name like eno1 or ens3", o.device)
	}
	n.Device = o.device
	return n, nil
}

// machineArg returns the machine a MAC argument names; registered: it must
// have a profile, not only have been seen on the wire.
func machineArg(ctx context.Context, s store.Store, macText string, registered bool) (store.Machine, error) {
	mac, err := store.ParseMAC(macText)
	if err != nil {
		return store.Machine{}, err
	}
	m, err := s.Machine(ctx, mac)
	switch {
	case registered && (errors.Is(err, store.ErrNotFound) || err == nil && m.Profile == ""):
		return m, fmt.Errorf("machine %s is not registered: kickstand machine add %s --profile NAME", mac, mac)
	case errors.Is(err, store.ErrNotFound):
		return m, fmt.Errorf("machine %s is not known: register it with kickstand machine add %s --profile NAME", mac, mac)
	}
	return m, err
}

// machineEdit applies the flags the user set to a registered machine.
func (e *env) machineEdit(ctx context.Context, s store.Store, macText string, o machineOpts, set func(string) bool) error {
	m, err := machineArg(ctx, s, macText, false)
	if err != nil {
		return err
	}
	mac := m.MAC
	// Check the whole result as one machine, then write it.
	merged := machineOpts{profile: m.Profile, hostname: m.Hostname, uuid: m.UUID, device: m.Network.Device}
	if m.IP.IsValid() {
		merged.ip = m.IP.String()
	}
	if m.Network.Static() {
		merged.address = m.Network.Address.String()
	}
	if m.Network.Gateway.IsValid() {
		merged.gateway = m.Network.Gateway.String()
	}
	for _, d := range m.Network.DNS {
		merged.dns = append(merged.dns, d.String())
	}
	var changes []string
	for flag, apply := range map[string]func(){
		"profile": func() { merged.profile = o.profile }, "hostname": func() { merged.hostname = o.hostname },
		"ip": func() { merged.ip = o.ip }, "uuid": func() { merged.uuid = o.uuid },
		"address": func() { merged.address = o.address }, "gateway": func() { merged.gateway = o.gateway },
		"dns": func() { merged.dns = o.dns }, "device": func() { merged.device = o.device },
	} {
		if set(flag) {
			apply()
			changes = append(changes, flag)
		}
	}
	if set("profile") && o.profile == "" {
		return fmt.Errorf("--profile \"\": a registered machine needs a profile; kickstand machine remove %s forgets it", mac)
	}
	if set("address") && o.address == "" { // --address "" goes back to DHCP
		if set("gateway") || set("dns") || set("device") {
			return errors.New(`--address "" goes back to DHCP: leave out --gateway, --dns and --device`)
		}
		merged.gateway, merged.dns, merged.device = "", nil, ""
	}
	next, err := parseMachine(macText, merged)
	if err != nil {
		return err
	}
	next.Vars = m.Vars
	if next.Vars == nil {
		next.Vars = map[string]string{}
	}
	if err := parseVars(o.vars, next.Vars); err != nil {
		return err
	}
	for _, k := range o.unset {
		if _, ok := next.Vars[k]; !ok {
			return fmt.Errorf("--unset-var %s: the machine has no such variable", k)
		}
		delete(next.Vars, k)
	}
	if len(o.vars)+len(o.unset) > 0 {
		changes = append(changes, "vars")
	}
	if len(changes) == 0 {
		return errors.New("nothing to change: give --profile, --hostname, --var, --unset-var, --address, ... (see --help)")
	}
	if next.Profile != "" {
		if _, err := s.Profile(ctx, next.Profile); errors.Is(err, store.ErrNotFound) {
			return fmt.Errorf("profile %s does not exist (see kickstand profile list)", next.Profile)
		} else if err != nil {
			return err
		}
	}
	next.State, next.Token, next.Created = m.State, m.Token, m.Created
	if next.Profile != "" {
		if err := e.checkKickstart(ctx, s, next); err != nil {
			return err
		}
	}
	if err := s.PutMachine(ctx, next); err != nil {
		return err
	}
	slices.Sort(changes)
	if _, err := s.Record(ctx, store.Event{MAC: mac, Kind: "edited", Detail: strings.Join(changes, ", ")}, ""); err != nil {
		return err
	}
	fmt.Fprintf(e.stdout, "changed machine %s: %s\n", mac, strings.Join(changes, ", "))
	if m.State == store.StateInstalled {
		fmt.Fprintf(e.stdout, "it is installed and boots from disk: kickstand machine reinstall %s to install it again\n", mac)
	}
	return nil
}

// checkKickstart renders m's kickstart as the server would (with a
// placeholder address) and refuses one with template errors or problems.
func (e *env) checkKickstart(ctx context.Context, s store.Store, m store.Machine) error {
	warnings, err := app.CheckMachine(ctx, s, m, e.site())
	if err != nil {
		return fmt.Errorf("not written: %w", err)
	}
	e.printWarnings("machine "+m.MAC.String(), warnings)
	return nil
}

// machineReinstall sends a machine back to new with a fresh token: its next
// network boot installs, and the old kickstart URL stops working.
func (e *env) machineReinstall(ctx context.Context, s store.Store, macText string) error {
	m, err := machineArg(ctx, s, macText, true)
	if err != nil {
		return err
	}
	mac := m.MAC
	prev := m.State
	m.State, m.Token = store.StateNew, app.NewToken()
	if err := s.PutMachine(ctx, m); err != nil {
		return err
	}
	if _, err := s.Record(ctx, store.Event{MAC: mac, Kind: "reinstall", Detail: "was " + string(prev) + "; new kickstart URL"}, ""); err != nil {
		return err
	}
	fmt.Fprintf(e.stdout, "machine %s (profile %s) installs again on its next network boot\n", mac, m.Profile)
	return nil
}

func (e *env) machineAdd(ctx context.Context, s store.Store, macText string, o machineOpts) error {
	m, err := parseMachine(macText, o)
	if err != nil {
		return err
	}
	if _, err := s.Profile(ctx, m.Profile); errors.Is(err, store.ErrNotFound) {
		return fmt.Errorf("profile %s does not exist: add it with kickstand profile add %s --distro NAME", m.Profile, m.Profile)
	} else if err != nil {
		return err
	}
	old, err := s.Machine(ctx, m.MAC)
	switch {
	case err == nil && old.Profile != "":
		return fmt.Errorf("machine %s is already registered (profile %s): remove it first with kickstand machine remove %s", m.MAC, old.Profile, m.MAC)
	case err == nil: // discovered on the wire: keep its timeline
		m.Created = old.Created
	case !errors.Is(err, store.ErrNotFound):
		return err
	}
	m.Token = app.NewToken()
	if err := e.checkKickstart(ctx, s, m); err != nil {
		return err
	}
	if err := s.PutMachine(ctx, m); err != nil {
		return err
	}
	if _, err := s.Record(ctx, store.Event{MAC: m.MAC, Kind: "registered", Detail: "profile " + m.Profile}, ""); err != nil {
		return err
	}
	fmt.Fprintf(e.stdout, "added machine %s (profile %s): it installs on its next network boot\n", m.MAC, m.Profile)
	return nil
}

// machineJSON is the documented JSON form of a machine.
type machineJSON struct {
	MAC       string            `json:"mac"`
	Profile   string            `json:"profile"`
	Hostname  string            `json:"hostname"`
	IP        string            `json:"ip,omitempty"`
	UUID      string            `json:"uuid,omitempty"`
	Network   *store.Network    `json:"network,omitempty"` // static settings; absent: DHCP
	State     string            `json:"state"`
	Vars      map[string]string `json:"vars"`
	Created   time.Time         `json:"created"`
	Updated   time.Time         `json:"updated"`
	LastEvent *eventJSON        `json:"last_event,omitempty"`
	// Warnings are what anaconda would log about the machine's kickstart.
	Warnings []string    `json:"warnings,omitempty"`
	Events   []eventJSON `json:"events,omitempty"`
}

type eventJSON struct {
	Time   time.Time `json:"time"`
	Kind   string    `json:"kind"`
	Detail string    `json:"detail"`
	// SincePowerOn is the seconds since the boot this event belongs to began.
	SincePowerOn float64 `json:"since_power_on"`
}

func toJSON(m store.Machine, evs []store.Event) machineJSON {
	j := machineJSON{MAC: m.MAC.String(), Profile: m.Profile, Hostname: m.Hostname, State: string(m.State),
		Vars: m.Vars, Created: m.Created, Updated: m.Updated}
	if m.IP.IsValid() {
		j.IP = m.IP.String()
	}
	j.UUID = m.UUID
	if m.Network.Static() {
		j.Network = &m.Network
	}
	for i, e := range evs {
		j.Events = append(j.Events, eventJSON{Time: e.Time, Kind: e.Kind, Detail: e.Detail,
			SincePowerOn: sincePowerOn(evs, i).Seconds()})
	}
	if n := len(j.Events); n > 0 {
		j.LastEvent = &j.Events[n-1]
	}
	return j
}

func (e *env) machineList(ctx context.Context, s store.Store, output string) error {
	ms, err := s.Machines(ctx)
	if err != nil {
		return err
	}
	var rows []machineJSON
	for _, m := range ms {
		evs, err := s.Events(ctx, m.MAC)
		if err != nil {
			return err
		}
		j := toJSON(m, evs)
		j.Events = nil
		rows = append(rows, j)
	}
	switch output {
	case "json":
		if rows == nil {
			rows = []machineJSON{}
		}
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

func (e *env) machineShow(ctx context.Context, s store.Store, macText, output string) error {
	m, err := machineArg(ctx, s, macText, false)
	if err != nil {
		return err
	}
	mac := m.MAC
	evs, err := s.Events(ctx, mac)
	if err != nil {
		return err
	}
	j := toJSON(m, evs)
	if m.Registered() {
		// What anaconda would warn about in the kickstart it gets now.
		warnings, err := app.CheckMachine(ctx, s, m, e.site())
		if err != nil {
			j.Warnings = append(j.Warnings, "error: "+err.Error())
		}
		for _, w := range warnings {
			j.Warnings = append(j.Warnings, w.String())
		}
	}
	switch output {
	case "json":
		if j.Events == nil {
			j.Events = []eventJSON{}
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
	if n := m.Network; n.Static() {
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
	if len(m.Vars) > 0 {
		keys := slices.Sorted(maps.Keys(m.Vars))
		fmt.Fprintln(e.stdout, "vars:")
		for _, k := range keys {
			fmt.Fprintf(e.stdout, "  %s=%s\n", k, m.Vars[k])
		}
	}
	if len(j.Warnings) > 0 {
		fmt.Fprintln(e.stdout, "kickstart warnings (anaconda goes on):")
		for _, w := range j.Warnings {
			fmt.Fprintf(e.stdout, "  %s\n", w)
		}
	}
	fmt.Fprintln(e.stdout, "timeline:")
	writeTimeline(e, evs)
	return nil
}

// writeTimeline prints each event with its time and the time since the
// power-on of the boot it belongs to; a power-on is marked with "*".
func writeTimeline(e *env, evs []store.Event) {
	w := tabwriter.NewWriter(e.stdout, 0, 4, 2, ' ', 0)
	for i, ev := range evs {
		mark := " "
		if i > 0 && isPowerOn(evs, i) {
			mark = "*"
		}
		since := sincePowerOn(evs, i).Round(time.Millisecond)
		fmt.Fprintf(w, "  %s\t%s+%s\t%s\t%s\n", ev.Time.Local().Format("15:04:05.000"), mark, since, ev.Kind, ev.Detail)
	}
	w.Flush()
}

// isPowerOn reports whether evs[i] starts a boot: a firmware's DHCP
// discover (PXEClient or HTTPClient) after the machine was registered, edited,
// sent to reinstall or reported its install's end, or after ten quiet
// minutes. A boot's own later discovers (iPXE, the installer) do not.
func isPowerOn(evs []store.Event, i int) bool {
	ev := evs[i]
	if ev.Kind != "dhcp-discover" || !(strings.Contains(ev.Detail, "PXEClient") || strings.Contains(ev.Detail, "HTTPClient")) {
		return false
	}
	if i == 0 {
		return true
	}
	prev := evs[i-1]
	switch {
	case ev.Time.Sub(prev.Time) > 10*time.Minute:
		return true
	case prev.Kind == "registered", prev.Kind == "edited", prev.Kind == "reinstall":
		return true
	case prev.Kind == "phone-home" && !strings.HasPrefix(prev.Detail, "installing"):
		return true
	}
	return false
}

// sincePowerOn is the time from the power-on of evs[i]'s boot (or the first
// event, before any) to evs[i].
func sincePowerOn(evs []store.Event, i int) time.Duration {
	start := evs[0].Time
	for j := i; j > 0; j-- {
		if isPowerOn(evs, j) {
			start = evs[j].Time
			break
		}
	}
	return evs[i].Time.Sub(start)
}

func writeJSON(e *env, v any) error {
	enc := json.NewEncoder(e.stdout)
	enc.SetIndent("", "  ")
	return enc.Encode(v)
}
