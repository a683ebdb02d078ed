package cli

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"kickstand/internal/config"
	"kickstand/internal/doctor"
	"kickstand/internal/firewall"
	"kickstand/internal/inventory"
	"kickstand/internal/store"
	"kickstand/internal/store/backend"
	"kickstand/internal/store/sqlite"
)

func (e *env) doctorCmd() *cobra.Command {
	cfg := config.Default()
	var configFile, output string
	var wait time.Duration
	cmd := &cobra.Command{
		Use:   "doctor [MAC]",
		Short: "Check this host for what serve needs (exit 1 on any FAIL), or say why a machine's install is stuck",
		Long: `kickstand doctor checks what kickstand serve needs, with the same settings: each port
(free, or held by which process), the firewall, other DHCP servers on the interface
(a PXE DISCOVER is broadcast and every offer listed), the interface, its MTU and the
TFTP block size that fits, boot loaders, each distro's media, the data directory and
SELinux. It prints PASS, WARN and FAIL lines and exits 1 on any FAIL. Run it as root:
naming other processes and the DHCP probe need it.

kickstand doctor MAC reads the machine's timeline and says where its install stands:
the last step that happened, the step that did not, and the likely causes, most
likely first, each with the events it rests on.`,
		Args: cobra.MaximumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if output != "text" && output != "json" {
				return fmt.Errorf("-o %q: want text or json", output)
			}
			if len(args) == 1 {
				return e.withStore(func(ctx context.Context, s store.Store, args []string) error {
					return e.doctorMachine(ctx, s, args[0], output)
				})(cmd, args)
			}
			final, err := e.settings(configFile, &cfg, cmd.Flags().Changed)
			if err != nil {
				return err
			}
			if err := checkDoctorConfig(final); err != nil {
				return err
			}
			if wait == 0 {
				wait = -1 // the probe is off
			}
			return e.doctorHost(cmd.Context(), final, wait, output)
		},
	}
	f := cmd.Flags()
	f.StringVar(&configFile, "config", "", "serve's YAML file (flags win)")
	f.StringVar(&cfg.Interface, "interface", "", "interface kickstand serves on (default: the default route's)")
	f.StringVar(&cfg.ServerIP, "server-ip", "", "address given to clients (default: the interface's)")
	f.StringVar(&cfg.DHCP, "dhcp", cfg.DHCP, "DHCP mode serve runs in: proxy, full or off")
	f.IntVar(&cfg.TFTPPort, "tftp-port", cfg.TFTPPort, "TFTP port")
	f.IntVar(&cfg.HTTPPort, "http-port", cfg.HTTPPort, "HTTP port")
	f.IntVar(&cfg.FTPPort, "ftp-port", cfg.FTPPort, "FTP port (0: FTP is off)")
	f.StringVar(&cfg.FTPPassive, "ftp-passive-ports", cfg.FTPPassive, "FIRST-LAST passive FTP data ports")
	f.StringVar(&cfg.BootloaderDir, "bootloader-dir", "", "directory with lpxelinux.0 and ldlinux.c32 (default: the syslinux packages' directories)")
	f.StringVar(&cfg.Bootloaders, "bootloaders", cfg.Bootloaders, "where boot loaders come from: auto (the host's, else the syslinux-tftpboot and ipxe-bootimgs RPMs on the imported media), host or media")
	f.BoolVar(&cfg.IPXE, "ipxe", false, "serve runs with --ipxe (BIOS machines need undionly.kpxe)")
	f.DurationVar(&wait, "dhcp-wait", doctor.DefaultDHCPWait, "how long to listen for other DHCP servers' offers (0 skips the probe)")
	f.StringVarP(&output, "output", "o", "text", "output format: text or json")
	return cmd
}

// checkDoctorConfig checks the settings doctor uses; unlike serve it needs
// no --dhcp-range to check a --dhcp full setup.
func checkDoctorConfig(c config.Config) error {
	probe := c
	if probe.DHCP == "full" && probe.DHCPRange == "" {
		probe.DHCPRange = "0.0.0.1-0.0.0.1" // doctor does not lend addresses
	}
	return probe.Validate()
}

// doctorJSON is the documented JSON form of the environment checks.
type doctorJSON struct {
	Checks []doctor.Check `json:"checks"`
	Pass   int            `json:"pass"`
	Warn   int            `json:"warn"`
	Fail   int            `json:"fail"`
}

func (e *env) doctorHost(ctx context.Context, cfg config.Config, wait time.Duration, output string) error {
	d := &doctor.Doctor{Config: cfg, DHCPWait: wait, SourceStatus: inventory.CheckSource}
	d.Firewall = firewallChecks
	spec, err := backend.Parse(cfg.Store)
	if err != nil {
		return err
	}
	dir := cfg.DataDir
	if spec.Dir != "" {
		dir = spec.Dir
	}
	// Only an existing SQLite store is opened: doctor creates no data
	// directory. A PostgreSQL database is the administrator's to create.
	if _, err := os.Stat(filepath.Join(dir, sqlite.FileName)); err == nil || spec.Kind == backend.Postgres {
		s, err := spec.Open(ctx, dir)
		if err != nil {
			d.Catalog = brokenCatalog{err}
		} else {
			defer s.Close()
			d.Catalog = s
		}
	} else if !errors.Is(err, fs.ErrNotExist) {
		d.Catalog = brokenCatalog{err}
	}
	checks := d.Run(ctx)
	n := doctor.Count(checks)
	if output == "json" {
		if err := writeJSON(e, doctorJSON{Checks: checks, Pass: n[doctor.Pass], Warn: n[doctor.Warn], Fail: n[doctor.Fail]}); err != nil {
			return err
		}
	} else {
		if err := doctor.WriteChecks(e.stdout, checks); err != nil {
			return err
		}
		fmt.Fprintf(e.stdout, "%d passed, %d with warnings, %d failed\n", n[doctor.Pass], n[doctor.Warn], n[doctor.Fail])
	}
	if n[doctor.Fail] > 0 {
		return fmt.Errorf("doctor: %d of %d checks failed: fix the FAIL lines, then run kickstand doctor again", n[doctor.Fail], len(checks))
	}
	return nil
}

// brokenCatalog reports why the store could not be read.
type brokenCatalog struct{ err error }

func (b brokenCatalog) Distros(context.Context) ([]store.Distro, error)   { return nil, b.err }
func (b brokenCatalog) Profiles(context.Context) ([]store.Profile, error) { return nil, b.err }

func (e *env) doctorMachine(ctx context.Context, s store.Store, macText, output string) error {
	mac, err := inventory.ParseMAC(macText)
	if err != nil {
		return err
	}
	v, err := (&inventory.Inventory{Store: s}).Machine(ctx, mac)
	if err != nil {
		return err
	}
	d := doctor.Diagnose(v.Machine, v.Events, time.Now())
	if output == "json" {
		return writeJSON(e, d)
	}
	return doctor.WriteDiagnosis(e.stdout, d, time.Local)
}

// firewallChecks judges the host's firewall for what doctor serves: a FAIL
// per port a firewall drops (with the command that opens it), a WARN per
// port it cannot tell about, else one PASS.
func firewallChecks(ctx context.Context, s doctor.Served) []doctor.Check {
	t := firewall.Target{Interface: s.Interface, ServerIP: s.ServerIP, Subnet: s.Subnet}
	for _, p := range s.Ports {
		fp := firewall.Port{Proto: p.Proto, First: p.First, Service: p.What, Broadcast: p.Broadcast}
		if p.Last > p.First {
			fp.Last = p.Last
		}
		t.Ports = append(t.Ports, fp)
	}
	rep, err := firewall.Check(ctx, t)
	if err != nil {
		return []doctor.Check{{Name: "firewall", Status: doctor.Warn, Text: "not checked: " + err.Error()}}
	}
	var checks []doctor.Check
	lines := rep.Warnings("run kickstand serve --open-firewall")
	for i, pr := range rep.NotAllowed() {
		st := doctor.Fail
		if pr.Verdict == firewall.Unknown {
			st = doctor.Warn
		}
		checks = append(checks, doctor.Check{Name: "firewall", Status: st, Text: strings.TrimPrefix(lines[i], "firewall: ")})
	}
	if checks != nil {
		return checks
	}
	var active []string
	for _, f := range rep.Firewalls {
		if f.Active {
			active = append(active, f.Name)
		}
	}
	if len(active) == 0 {
		return []doctor.Check{{Name: "firewall", Status: doctor.Pass, Text: "no firewall rules on this host stop what kickstand serves"}}
	}
	return []doctor.Check{{Name: "firewall", Status: doctor.Pass,
		Text: "every port kickstand serves gets through " + strings.Join(active, " and ")}}
}
