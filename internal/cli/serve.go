package cli

import (
	"reflect"

	"github.com/spf13/cobra"

	"kickstand/internal/config"
)

func (e *env) serveCmd() *cobra.Command {
	cfg := config.Default()
	var configFile string
	var debug bool
	cmd := &cobra.Command{
		Use:   "serve",
		Short: "Serve DHCP (proxy by default), TFTP and HTTP so machines network-install",
		Long: `kickstand serve answers PXE and UEFI firmware (proxy DHCP beside the network's own
DHCP server by default, or full DHCP), serves boot loaders, per-machine boot configs,
kernels and installers over TFTP and HTTP (and FTP), and kickstarts, until stopped.

Settings are the defaults, then --config FILE (YAML whose keys are these flags' names;
the packages ship /etc/kickstand/kickstand.yaml with every key and its default), then
the flags given, which win. Machines, profiles and distros are not settings: they are
in the data directory's store, read on every request, so changes need no restart.

SIGTERM or SIGINT stops serving (and removes the firewall rules --open-firewall
added). SIGHUP does not reload: settings are read only at start, so kickstand logs
which settings in FILE changed, for a restart to apply.

Under systemd (Type=notify) it tells READY=1 once every socket is open and
STOPPING=1 when it stops; when its standard error is the journal, log lines carry
their priority and no time of their own.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			final, err := e.settings(configFile, &cfg, cmd.Flags().Changed)
			if err != nil {
				return err
			}
			if err := final.Validate(); err != nil {
				return err
			}
			if e.Serve == nil {
				return errNoServe
			}
			log := newLogger(e.stderr, final.LogFormat, debug)
			reread := func() (config.Config, error) {
				now, err := e.settings(configFile, &cfg, cmd.Flags().Changed)
				if err == nil {
					err = now.Validate()
				}
				return now, err
			}
			defer onHangup(reread, final, log)()
			return e.Serve(cmd.Context(), final, log)
		},
	}
	f := cmd.Flags()
	f.StringVar(&configFile, "config", "", "YAML file with these settings (flags win)")
	f.StringVar(&cfg.Interface, "interface", "", "interface to serve on (default: the default route's)")
	f.StringVar(&cfg.ServerIP, "server-ip", "", "address given to clients as next-server and in URLs (default: the interface's)")
	f.StringVar(&cfg.DHCP, "dhcp", cfg.DHCP, "proxy (boot info only, beside the LAN's DHCP), full (addresses too) or off")
	f.StringVar(&cfg.DHCPRange, "dhcp-range", "", "FIRST-LAST addresses to lend in full mode")
	f.StringVar(&cfg.DHCPRouter, "dhcp-router", "", "default gateway for full mode")
	f.StringSliceVar(&cfg.DHCPDNS, "dhcp-dns", nil, "DNS servers for full mode, comma-separated")
	f.StringArrayVar(&cfg.DHCPSubnets, "dhcp-subnet", nil,
		"a network behind a DHCP relay that full mode also serves: PREFIX,range=FIRST-LAST[,router=IP][,dns=IP]... (repeatable)")
	f.DurationVar(&cfg.DHCPLease, "dhcp-lease", cfg.DHCPLease, "lease time in full mode")
	f.IntVar(&cfg.TFTPPort, "tftp-port", cfg.TFTPPort, "TFTP port")
	f.IntVar(&cfg.TFTPMaxTransfers, "tftp-max-transfers", cfg.TFTPMaxTransfers, "TFTP transfers at once; more get \"server busy\"")
	f.IntVar(&cfg.TFTPMaxPerClient, "tftp-max-per-client", cfg.TFTPMaxPerClient, "TFTP transfers at once from one client address")
	f.DurationVar(&cfg.TFTPBusyPoll, "tftp-busy-poll", cfg.TFTPBusyPoll, "how long a TFTP transfer polls for the client's answer before it sleeps, while fewer transfers run than there are CPUs (0: never)")
	f.IntVar(&cfg.TFTPMaxBlockSize, "tftp-max-blksize", 0, "largest TFTP block granted (default: what fits the interface's MTU, 1468 on Ethernet)")
	f.IntVar(&cfg.HTTPPort, "http-port", cfg.HTTPPort, "HTTP port")
	f.StringVar(&cfg.Unknown, "unknown", cfg.Unknown, "unregistered machines: menu (local boot after 10 s), install (first profile) or ignore")
	f.StringVar(&cfg.BootloaderDir, "bootloader-dir", "", "directory with lpxelinux.0 and ldlinux.c32 (default: the syslinux packages' directories)")
	f.StringVar(&cfg.Bootloaders, "bootloaders", cfg.Bootloaders, "where boot loaders come from: auto (the host's, else the syslinux-tftpboot and ipxe-bootimgs RPMs on the imported media), host or media")
	f.StringArrayVar(&cfg.ISOs, "iso", nil, "install media to serve (repeatable); imported with a default profile on first use")
	f.IntVar(&cfg.FTPPort, "ftp-port", cfg.FTPPort, "FTP port (0 turns FTP off)")
	f.StringVar(&cfg.FTPPassive, "ftp-passive-ports", cfg.FTPPassive, "FIRST-LAST passive FTP data ports (open these in the firewall)")
	f.StringVar(&cfg.UEFIBoot, "uefi-boot", cfg.UEFIBoot, "UEFI firmware boots by pxe (TFTP), or http (UEFI HTTP Boot; UEFI PXE is declined)")
	f.StringVar(&cfg.ProxyShim, "proxy-shim", cfg.ProxyShim,
		"with --dhcp proxy, UEFI PXE firmware gets the distro's signed shim and GRUB (Secure Boot) when its GRUB takes proxy offers: auto (RHEL, Rocky, Alma >= 8.6, CentOS Stream, Fedora >= 34), on (every distro), off (iPXE)")
	f.BoolVar(&cfg.IPXE, "ipxe", false, "chain BIOS and UEFI x64 PXE firmware into iPXE (undionly.kpxe, snponly.efi), so kernel and initrd come over HTTP; no Secure Boot")
	f.BoolVar(&cfg.KSSourceCheck, "ks-source-check", cfg.KSSourceCheck,
		"serve a machine's boot config and kickstart only to its address (neighbour table, DHCP); =false when clients reach kickstand through NAT")
	f.StringVar(&cfg.PasswordPolicy, "password-policy", cfg.PasswordPolicy,
		"a plaintext password in a kickstart: warn (anaconda takes it), or refuse (serve only hashes); a profile's own policy wins")
	f.BoolVar(&cfg.OpenFirewall, "open-firewall", false,
		"open the blocked ports in the host's firewall (firewalld runtime rules, nftables or iptables rules tagged kickstand) while serving; removed on exit")
	f.StringVar(&cfg.APIListen, "api-listen", "", "serve the REST API on this address (e.g. 127.0.0.1:8443) instead of the HTTP port")
	f.BoolVar(&cfg.Metrics, "metrics", cfg.Metrics, "serve Prometheus metrics at /metrics beside the API, without a token; =false turns them off")
	f.DurationVar(&cfg.Retention, "event-retention", cfg.Retention, "prune timeline events older than this (0 keeps them all)")
	f.StringVar(&cfg.LogFormat, "log-format", cfg.LogFormat, "log lines as text (key=value) or json; under systemd without times, which the journal adds")
	f.BoolVar(&debug, "debug", false, "log every request")
	return cmd
}

// settings are serve's: the defaults, then configFile (if any), then the
// flags given; the data directory and the store are --data-dir's and
// --store's when given or without a file.
func (e *env) settings(configFile string, flags *config.Config, changed func(name string) bool) (config.Config, error) {
	final := config.Default()
	if configFile != "" {
		if err := final.Load(configFile); err != nil {
			return config.Config{}, err
		}
	}
	overlay(&final, flags, changed)
	if changed("data-dir") || configFile == "" {
		final.DataDir = e.dataDir
	}
	if changed("store") || configFile == "" {
		final.Store = e.store
	}
	return final, nil
}

// overlay copies into final every setting whose flag the user set: flags win
// over the config file. A flag and its YAML key have the same name.
func overlay(final, flags *config.Config, changed func(name string) bool) {
	dst, src := reflect.ValueOf(final).Elem(), reflect.ValueOf(flags).Elem()
	for i := range dst.NumField() {
		if changed(dst.Type().Field(i).Tag.Get("yaml")) {
			dst.Field(i).Set(src.Field(i))
		}
	}
}
