// Package config holds the typed settings of `kickstand serve`: defaults,
// a YAML file, flags on top, and Validate. A Config is a value, never a global.
package config

import (
	"bytes"
	"fmt"
	"net/netip"
	"os"
	"strings"
	"time"

	"go.yaml.in/yaml/v3"

	"kickstand/internal/dhcp"
	"kickstand/internal/ftp"
	"kickstand/internal/kickstart/validate"
	"kickstand/internal/store/backend"
	"kickstand/internal/tftp"
)

// DefaultDataDir is where the store lives unless --data-dir or KICKSTAND_DATA_DIR says otherwise.
const DefaultDataDir = "/var/lib/kickstand"

// Config is everything `kickstand serve` needs.
type Config struct {
	DataDir string `yaml:"data-dir"`
	// Store is the inventory's database: "" (SQLite in DataDir), sqlite:DIR,
	// or a postgres:// URL that several servers share.
	Store      string   `yaml:"store"`
	Interface  string   `yaml:"interface"`   // "" = the default route's interface
	ServerIP   string   `yaml:"server-ip"`   // "" = the interface's address
	DHCP       string   `yaml:"dhcp"`        // proxy, full or off
	DHCPRange  string   `yaml:"dhcp-range"`  // FIRST-LAST, full mode
	DHCPRouter string   `yaml:"dhcp-router"` // full mode
	DHCPDNS    []string `yaml:"dhcp-dns"`    // full mode
	// DHCPSubnets are networks behind DHCP relays that full mode also
	// serves: "PREFIX,range=FIRST-LAST[,router=IP][,dns=IP]..." each.
	DHCPSubnets []string      `yaml:"dhcp-subnet"`
	DHCPLease   time.Duration `yaml:"dhcp-lease"`
	TFTPPort    int           `yaml:"tftp-port"`
	// TFTPMaxTransfers and TFTPMaxPerClient bound the TFTP transfers in
	// flight, in all and per client address.
	TFTPMaxTransfers int `yaml:"tftp-max-transfers"`
	TFTPMaxPerClient int `yaml:"tftp-max-per-client"`
	// TFTPMaxBlockSize caps the TFTP blksize; 0 fits it to the interface's MTU.
	TFTPMaxBlockSize int `yaml:"tftp-max-blksize"`
	// TFTPBusyPoll is how long a TFTP transfer polls for the client's
	// acknowledgement before it sleeps; 0 never polls.
	TFTPBusyPoll   time.Duration `yaml:"tftp-busy-poll"`
	HTTPPort       int           `yaml:"http-port"`
	Unknown        string        `yaml:"unknown"` // menu, install or ignore
	BootloaderDir  string        `yaml:"bootloader-dir"`
	Bootloaders    string        `yaml:"bootloaders"`       // auto, host or media: where boot loaders come from
	ISOs           []string      `yaml:"iso"`               // install media to serve; imported on first use
	FTPPort        int           `yaml:"ftp-port"`          // 0 disables FTP
	FTPPassive     string        `yaml:"ftp-passive-ports"` // FIRST-LAST
	UEFIBoot       string        `yaml:"uefi-boot"`         // pxe or http: how UEFI firmware boots
	IPXE           bool          `yaml:"ipxe"`              // chain BIOS and UEFI x64 PXE clients into iPXE
	ProxyShim      string        `yaml:"proxy-shim"`        // auto, on or off: shim and GRUB to UEFI machines in proxy mode
	KSSourceCheck  bool          `yaml:"ks-source-check"`   // serve per-machine configs and kickstarts only to the machine's address
	PasswordPolicy string        `yaml:"password-policy"`   // warn or refuse: plaintext passwords in kickstarts
	OpenFirewall   bool          `yaml:"open-firewall"`     // open the ports in the host's firewall while serving
	APIListen      string        `yaml:"api-listen"`        // ADDR for the REST API; "" serves it on the HTTP port
	Metrics        bool          `yaml:"metrics"`           // serve Prometheus metrics at /metrics, beside the API
	Retention      time.Duration `yaml:"event-retention"`   // events older are pruned; 0 keeps them
	LogFormat      string        `yaml:"log-format"`        // text (key=value) or json
}

// DefaultFTPPassive is the passive data port range unless --ftp-passive-ports
// says otherwise: fixed and small, so that one firewall rule covers it.
var DefaultFTPPassive = fmt.Sprintf("%d-%d", ftp.DefaultPassivePorts[0], ftp.DefaultPassivePorts[1])

// Default returns the settings used when nothing else is said.
func Default() Config {
	dir := os.Getenv("KICKSTAND_DATA_DIR")
	if dir == "" {
		dir = DefaultDataDir
	}
	return Config{DataDir: dir, Store: os.Getenv("KICKSTAND_STORE"), DHCP: "proxy", DHCPLease: time.Hour, TFTPPort: 69, HTTPPort: 80, Unknown: "menu",
		FTPPort: 21, FTPPassive: DefaultFTPPassive, UEFIBoot: "pxe", ProxyShim: "auto", Retention: 90 * 24 * time.Hour,
		KSSourceCheck: true, Metrics: true, PasswordPolicy: "warn", TFTPMaxTransfers: tftp.DefaultMaxTransfers, TFTPMaxPerClient: tftp.DefaultMaxTransfersPerClient,
		TFTPBusyPoll: tftp.DefaultBusyPoll, Bootloaders: "auto", LogFormat: "text"}
}

// Load reads a YAML file over c; unknown keys are errors.
func (c *Config) Load(path string) error {
	b, err := os.ReadFile(path)
	if err != nil {
		return fmt.Errorf("config: %w", err)
	}
	dec := yaml.NewDecoder(bytes.NewReader(b))
	dec.KnownFields(true)
	if err := dec.Decode(c); err != nil && err.Error() != "EOF" {
		return fmt.Errorf("config %s: %w", path, err)
	}
	return nil
}

// Validate checks the settings and says what to change.
func (c *Config) Validate() error {
	switch c.DHCP {
	case "proxy", "full", "off":
	default:
		return fmt.Errorf("--dhcp %q: want proxy, full or off", c.DHCP)
	}
	switch c.Unknown {
	case "menu", "install", "ignore":
	default:
		return fmt.Errorf("--unknown %q: want menu, install or ignore", c.Unknown)
	}
	switch c.Bootloaders {
	case "auto", "host", "media":
	default:
		return fmt.Errorf("--bootloaders %q: want auto (the host's, else the install media's RPMs), host or media", c.Bootloaders)
	}
	switch c.UEFIBoot {
	case "pxe", "http":
	default:
		return fmt.Errorf("--uefi-boot %q: want pxe or http", c.UEFIBoot)
	}
	switch c.ProxyShim {
	case "auto", "on", "off":
	default:
		return fmt.Errorf("--proxy-shim %q: want auto, on or off", c.ProxyShim)
	}
	switch c.LogFormat {
	case "text", "json":
	default:
		return fmt.Errorf("--log-format %q: want text or json", c.LogFormat)
	}
	if _, err := validate.ParsePasswordPolicy(c.PasswordPolicy); err != nil {
		return fmt.Errorf("--password-policy: %w", err)
	}
	if c.DataDir == "" {
		return fmt.Errorf("--data-dir is empty")
	}
	if _, err := backend.Parse(c.Store); err != nil {
		return err
	}
	if c.Retention < 0 {
		return fmt.Errorf("--event-retention %s: want a positive duration like 720h, or 0 to keep every event", c.Retention)
	}
	for name, p := range map[string]int{"--tftp-port": c.TFTPPort, "--http-port": c.HTTPPort} {
		if p < 1 || p > 65535 {
			return fmt.Errorf("%s %d: want 1-65535", name, p)
		}
	}
	if c.TFTPMaxTransfers < 1 || c.TFTPMaxPerClient < 1 || c.TFTPMaxPerClient > c.TFTPMaxTransfers {
		return fmt.Errorf("--tftp-max-transfers %d, --tftp-max-per-client %d: want at least 1 each, and no more per client than in all",
			c.TFTPMaxTransfers, c.TFTPMaxPerClient)
	}
	if c.TFTPMaxBlockSize != 0 && (c.TFTPMaxBlockSize < 8 || c.TFTPMaxBlockSize > 65464) {
		return fmt.Errorf("--tftp-max-blksize %d: want 8-65464 (RFC 2348), or 0 to fit the interface's MTU", c.TFTPMaxBlockSize)
	}
	if c.TFTPBusyPoll < 0 || c.TFTPBusyPoll > time.Millisecond {
		return fmt.Errorf("--tftp-busy-poll %s: want 0 (never poll) to 1ms; the default is %s", c.TFTPBusyPoll, tftp.DefaultBusyPoll)
	}
	if c.FTPPort < 0 || c.FTPPort > 65535 {
		return fmt.Errorf("--ftp-port %d: want 1-65535, or 0 to turn FTP off", c.FTPPort)
	}
	if c.FTPPort != 0 {
		if _, err := ftp.ParsePortRange(c.FTPPassive); err != nil {
			return fmt.Errorf("--ftp-passive-ports: %w", err)
		}
	}
	if c.ServerIP != "" {
		if a, err := netip.ParseAddr(c.ServerIP); err != nil || !a.Is4() {
			return fmt.Errorf("--server-ip %q: want an IPv4 address", c.ServerIP)
		}
	}
	if c.DHCP == "full" {
		if c.DHCPRange == "" {
			return fmt.Errorf("--dhcp full needs --dhcp-range FIRST-LAST (e.g. 192.168.1.100-192.168.1.200)")
		}
		if c.DHCPLease < time.Minute {
			return fmt.Errorf("--dhcp-lease %s: want at least 1m", c.DHCPLease)
		}
	} else if c.DHCPRange != "" || c.DHCPRouter != "" || len(c.DHCPDNS) > 0 || len(c.DHCPSubnets) > 0 {
		return fmt.Errorf("--dhcp-range, --dhcp-router, --dhcp-dns and --dhcp-subnet need --dhcp full (now %s)", c.DHCP)
	}
	for _, sub := range c.DHCPSubnets {
		if _, err := dhcp.ParseSubnet(sub); err != nil {
			return err
		}
	}
	if c.DHCPRouter != "" {
		if a, err := netip.ParseAddr(c.DHCPRouter); err != nil || !a.Is4() {
			return fmt.Errorf("--dhcp-router %q: want an IPv4 address", c.DHCPRouter)
		}
	}
	for _, d := range c.DHCPDNS {
		if a, err := netip.ParseAddr(strings.TrimSpace(d)); err != nil || !a.Is4() {
			return fmt.Errorf("--dhcp-dns %q: want IPv4 addresses separated by commas", d)
		}
	}
	return nil
}
