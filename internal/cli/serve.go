package cli

import (
	"strings"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"

	"kickstand/internal/app"
	"kickstand/internal/config"
)

func (e *env) serveCmd() *cobra.Command {
	cfg := config.Default()
	var configFile, dns string
	var debug bool
	cmd := &cobra.Command{
		Use:   "serve",
		Short: "Serve DHCP (proxy by default), TFTP and HTTP so machines network-install",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			final := config.Default()
			if configFile != "" {
				if err := final.Load(configFile); err != nil {
					return err
				}
			}
			// Flags the user set win over the file.
			cmd.Flags().Visit(func(f *pflag.Flag) { applyFlag(&final, &cfg, f.Name, dns) })
			if cmd.Flags().Changed("data-dir") || configFile == "" {
				final.DataDir = e.dataDir
			}
			return app.Run(cmd.Context(), final, newLogger(e.stderr, debug))
		},
	}
	f := cmd.Flags()
	f.StringVar(&configFile, "config", "", "YAML file with these settings (flags win)")
	f.StringVar(&cfg.Interface, "interface", "", "interface to serve on (default: the default route's)")
	f.StringVar(&cfg.ServerIP, "server-ip", "", "address given to clients as next-server and in URLs (default: the interface's)")
	f.StringVar(&cfg.DHCP, "dhcp", cfg.DHCP, "proxy (boot info only, beside the LAN's DHCP), full (addresses too) or off")
	f.StringVar(&cfg.DHCPRange, "dhcp-range", "", "FIRST-LAST addresses to lend in full mode")
	f.StringVar(&cfg.DHCPRouter, "dhcp-router", "", "default gateway for full mode")
	f.StringVar(&dns, "dhcp-dns", "", "DNS servers for full mode, comma-separated")
	f.DurationVar(&cfg.DHCPLease, "dhcp-lease", cfg.DHCPLease, "lease time in full mode")
	f.IntVar(&cfg.TFTPPort, "tftp-port", cfg.TFTPPort, "TFTP port")
	f.IntVar(&cfg.HTTPPort, "http-port", cfg.HTTPPort, "HTTP port")
	f.StringVar(&cfg.Unknown, "unknown", cfg.Unknown, "unregistered machines: menu (local boot after 10 s), install (first profile) or ignore")
	f.StringVar(&cfg.BootloaderDir, "bootloader-dir", "", "directory with lpxelinux.0 and ldlinux.c32 (default: the syslinux packages' directories)")
	f.StringArrayVar(&cfg.ISOs, "iso", nil, "install media to serve (repeatable); imported with a default profile on first use")
	f.IntVar(&cfg.FTPPort, "ftp-port", cfg.FTPPort, "FTP port (0 turns FTP off)")
	f.StringVar(&cfg.FTPPassive, "ftp-passive-ports", cfg.FTPPassive, "FIRST-LAST passive FTP data ports (open these in the firewall)")
	f.BoolVar(&debug, "debug", false, "log every request")
	return cmd
}

// applyFlag copies the flag called name from the flag-bound cfg into final.
func applyFlag(final, cfg *config.Config, name, dns string) {
	switch name {
	case "interface":
		final.Interface = cfg.Interface
	case "server-ip":
		final.ServerIP = cfg.ServerIP
	case "dhcp":
		final.DHCP = cfg.DHCP
	case "dhcp-range":
		final.DHCPRange = cfg.DHCPRange
	case "dhcp-router":
		final.DHCPRouter = cfg.DHCPRouter
	case "dhcp-dns":
		final.DHCPDNS = nil
		for d := range strings.SplitSeq(dns, ",") {
			if d = strings.TrimSpace(d); d != "" {
				final.DHCPDNS = append(final.DHCPDNS, d)
			}
		}
	case "dhcp-lease":
		final.DHCPLease = cfg.DHCPLease
	case "tftp-port":
		final.TFTPPort = cfg.TFTPPort
	case "http-port":
		final.HTTPPort = cfg.HTTPPort
	case "unknown":
		final.Unknown = cfg.Unknown
	case "bootloader-dir":
		final.BootloaderDir = cfg.BootloaderDir
	case "iso":
		final.ISOs = cfg.ISOs
	case "ftp-port":
		final.FTPPort = cfg.FTPPort
	case "ftp-passive-ports":
		final.FTPPassive = cfg.FTPPassive
	}
}
