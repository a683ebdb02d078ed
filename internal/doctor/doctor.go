// Package doctor checks the host kickstand serves from — its ports, the
// firewall, other DHCP servers on the LAN, the interface, boot loaders,
// distros, the data directory and SELinux — and explains from a machine's
// timeline why its install is stuck (Diagnose).
package doctor

import (
	"context"
	"fmt"
	"io"
	"net/netip"
	"time"

	"kickstand/internal/config"
	"kickstand/internal/store"
)

// Status is the verdict of one check.
type Status string

// The verdicts, from good to bad. Any Fail makes `kickstand doctor` exit 1.
const (
	Pass Status = "pass"
	Warn Status = "warn"
	Fail Status = "fail"
)

// Check is one finding of the environment checks.
type Check struct {
	// Name is what was checked: "interface", "port", "firewall", "dhcp",
	// "loader", "distro", "data-dir" or "selinux".
	Name   string `json:"check"`
	Status Status `json:"status"`
	// Text says what was found and, unless it passed, what to do.
	Text string `json:"text"`
}

// Catalog is what the checks read from the store; store.Store has it.
type Catalog interface {
	Distros(ctx context.Context) ([]store.Distro, error)
	Profiles(ctx context.Context) ([]store.Profile, error)
}

// DefaultDHCPWait is how long the DHCP probe collects offers.
const DefaultDHCPWait = 3 * time.Second

// Doctor runs the environment checks for the settings `kickstand serve`
// would run with. Its zero value, with Config, checks everything but the
// firewall and the distros.
type Doctor struct {
	// Config is serve's settings: the data directory, interface, server IP,
	// DHCP mode, ports and boot loader directory are checked.
	Config config.Config

	// Firewall is the seam for the firewall checks (package
	// internal/firewall): given what kickstand serves and where, it returns
	// Checks named "firewall" — Fail for each port the host's rules drop,
	// with the command that opens it in Text; Warn for one it cannot tell;
	// Pass when every port gets in. nil reports the firewall as not checked
	// (Warn).
	Firewall func(ctx context.Context, s Served) []Check

	// Catalog lists the distros and profiles; nil skips the distro checks.
	Catalog Catalog
	// SourceStatus says whether a distro's ISO or tree is still as imported:
	// "ok", "missing" or "changed" (app.CheckSource); nil skips that check.
	SourceStatus func(store.Distro) string

	// DHCPWait is how long the DHCP probe listens for offers: zero means
	// DefaultDHCPWait, a negative value skips the probe.
	DHCPWait time.Duration

	// ProcRoot and SysRoot are where /proc and /sys are mounted ("" for the
	// real ones); tests point them at fakes.
	ProcRoot, SysRoot string
}

// Served is what kickstand serves and where, as the checks found it: the
// firewall seam's input.
type Served struct {
	Interface string       // "" when it could not be found
	ServerIP  netip.Addr   // the address clients reach; zero if not known
	Subnet    netip.Prefix // the interface's subnet; zero if not known
	Ports     []Port
}

// Run runs every check, in the order a boot needs them: the interface, the
// ports, the firewall, other DHCP servers, boot loaders, distros, the data
// directory and SELinux. ctx bounds the DHCP probe and the firewall seam.
func (d *Doctor) Run(ctx context.Context) []Check {
	var checks []Check
	ifc := d.checkInterface()
	checks = append(checks, ifc.checks...)
	ports := Ports(d.Config)
	checks = append(checks, d.checkPorts(ports)...)
	checks = append(checks, d.checkFirewall(ctx, d.served(ifc, ports))...)
	checks = append(checks, d.checkDHCP(ctx, ifc)...)
	checks = append(checks, d.checkLoaders(ctx)...)
	distros, distroChecks := d.checkDistros(ctx)
	checks = append(checks, distroChecks...)
	checks = append(checks, d.checkDataDir()...)
	checks = append(checks, d.checkSELinux(distros)...)
	return checks
}

func (d *Doctor) checkFirewall(ctx context.Context, s Served) []Check {
	if d.Firewall == nil {
		return []Check{{Name: "firewall", Status: Warn, Text: "not checked (this build cannot read firewalld, nftables or iptables rules yet): make sure " +
			PortList(s.Ports) + " are open"}}
	}
	return d.Firewall(ctx, s)
}

// served says what kickstand serves where, from the interface checks.
func (d *Doctor) served(ifc iface, ports []Port) Served {
	s := Served{Interface: ifc.name, Ports: ports}
	if ifc.prefix.IsValid() {
		s.ServerIP, s.Subnet = ifc.prefix.Addr(), ifc.prefix.Masked()
	}
	if ip, err := netip.ParseAddr(d.Config.ServerIP); err == nil && ip.Is4() {
		s.ServerIP = ip
	}
	return s
}

// Failed reports whether any check failed.
func Failed(checks []Check) bool {
	for _, c := range checks {
		if c.Status == Fail {
			return true
		}
	}
	return false
}

// Count returns how many checks have each status.
func Count(checks []Check) map[Status]int {
	n := map[Status]int{Pass: 0, Warn: 0, Fail: 0}
	for _, c := range checks {
		n[c.Status]++
	}
	return n
}

// WriteChecks prints one line per check: "PASS  name: text".
func WriteChecks(w io.Writer, checks []Check) error {
	for _, c := range checks {
		if _, err := fmt.Fprintf(w, "%-4s  %s: %s\n", label(c.Status), c.Name, c.Text); err != nil {
			return err
		}
	}
	return nil
}

func label(s Status) string {
	switch s {
	case Pass:
		return "PASS"
	case Warn:
		return "WARN"
	case Fail:
		return "FAIL"
	}
	return string(s)
}

func (d *Doctor) procRoot() string {
	if d.ProcRoot == "" {
		return "/proc"
	}
	return d.ProcRoot
}

func (d *Doctor) sysRoot() string {
	if d.SysRoot == "" {
		return "/sys"
	}
	return d.SysRoot
}

func (d *Doctor) dhcpWait() time.Duration {
	if d.DHCPWait == 0 {
		return DefaultDHCPWait
	}
	return d.DHCPWait
}
