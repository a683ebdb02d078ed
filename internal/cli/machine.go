package cli

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/netip"
	"regexp"
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
	add.Flags().StringVar(&opts.profile, "profile", "", "profile to install (required)")
	add.Flags().StringVar(&opts.hostname, "hostname", "", "host name for the installed system")
	add.Flags().StringVar(&opts.ip, "ip", "", "address reserved for it in --dhcp full mode")
	add.Flags().StringArrayVar(&opts.vars, "var", nil, "template variable K=V (repeatable)")
	add.MarkFlagRequired("profile")

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
	cmd.AddCommand(add, list, show, remove)
	return cmd
}

type machineOpts struct {
	profile, hostname, ip string
	vars                  []string
}

var (
	hostnameRE = regexp.MustCompile(`^([A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?)(\.[A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?)*$`)
	varKeyRE   = regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_]*$`)
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
	for _, kv := range o.vars {
		k, v, ok := strings.Cut(kv, "=")
		if !ok || !varKeyRE.MatchString(k) {
			return m, fmt.Errorf("--var %q: want KEY=VALUE with KEY made of letters, digits and '_'", kv)
		}
		m.Vars[k] = v
	}
	return m, nil
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
	State     string            `json:"state"`
	Vars      map[string]string `json:"vars"`
	Created   time.Time         `json:"created"`
	Updated   time.Time         `json:"updated"`
	LastEvent *eventJSON        `json:"last_event,omitempty"`
	Events    []eventJSON       `json:"events,omitempty"`
}

type eventJSON struct {
	Time   time.Time `json:"time"`
	Kind   string    `json:"kind"`
	Detail string    `json:"detail"`
}

func toJSON(m store.Machine, evs []store.Event) machineJSON {
	j := machineJSON{MAC: m.MAC.String(), Profile: m.Profile, Hostname: m.Hostname, State: string(m.State),
		Vars: m.Vars, Created: m.Created, Updated: m.Updated}
	if m.IP.IsValid() {
		j.IP = m.IP.String()
	}
	for _, e := range evs {
		j.Events = append(j.Events, eventJSON{Time: e.Time, Kind: e.Kind, Detail: e.Detail})
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
	mac, err := store.ParseMAC(macText)
	if err != nil {
		return err
	}
	m, err := s.Machine(ctx, mac)
	if errors.Is(err, store.ErrNotFound) {
		return fmt.Errorf("machine %s is not known: register it with kickstand machine add %s --profile NAME", mac, mac)
	} else if err != nil {
		return err
	}
	evs, err := s.Events(ctx, mac)
	if err != nil {
		return err
	}
	j := toJSON(m, evs)
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
	fmt.Fprintln(e.stdout, "timeline:")
	writeTimeline(e, evs)
	return nil
}

// writeTimeline prints each event with its time and the time since the first.
func writeTimeline(e *env, evs []store.Event) {
	w := tabwriter.NewWriter(e.stdout, 0, 4, 2, ' ', 0)
	for _, ev := range evs {
		since := ev.Time.Sub(evs[0].Time).Round(time.Millisecond)
		fmt.Fprintf(w, "  %s\t+%s\t%s\t%s\n", ev.Time.Local().Format("15:04:05.000"), since, ev.Kind, ev.Detail)
	}
	w.Flush()
}

func writeJSON(e *env, v any) error {
	enc := json.NewEncoder(e.stdout)
	enc.SetIndent("", "  ")
	return enc.Encode(v)
}
