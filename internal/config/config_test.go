package config

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func TestValidate(t *testing.T) {
	tests := []struct {
		name    string
		change  func(*Config)
		wantErr string
	}{
		{"default", func(*Config) {}, ""},
		{"full", func(c *Config) {
			c.DHCP = "full"
			c.DHCPRange = "10.0.0.10-10.0.0.20"
			c.DHCPDNS = []string{"10.0.0.1"}
		}, ""},
		{"bad mode", func(c *Config) { c.DHCP = "auto" }, "want proxy, full or off"},
		{"full without range", func(c *Config) { c.DHCP = "full" }, "needs --dhcp-range"},
		{"range in proxy", func(c *Config) { c.DHCPRange = "10.0.0.10-10.0.0.20" }, "need --dhcp full"},
		{"bad unknown", func(c *Config) { c.Unknown = "yes" }, "menu, install or ignore"},
		{"bad port", func(c *Config) { c.HTTPPort = 70000 }, "--http-port"},
		{"bad server ip", func(c *Config) { c.ServerIP = "::1" }, "--server-ip"},
		{"bad router", func(c *Config) { c.DHCP = "full"; c.DHCPRange = "a-b"; c.DHCPRouter = "x" }, "--dhcp-router"},
		{"bad dns", func(c *Config) { c.DHCP = "full"; c.DHCPRange = "a-b"; c.DHCPDNS = []string{"1.1.1.1", "nope"} }, "--dhcp-dns"},
		{"uefi http", func(c *Config) { c.UEFIBoot = "http" }, ""},
		{"bad uefi boot", func(c *Config) { c.UEFIBoot = "https" }, "--uefi-boot"},
		{"proxy shim on", func(c *Config) { c.ProxyShim = "on" }, ""},
		{"bad proxy shim", func(c *Config) { c.ProxyShim = "yes" }, "--proxy-shim"},
		{"negative retention", func(c *Config) { c.Retention = -time.Hour }, "--event-retention"},
		{"ftp off", func(c *Config) { c.FTPPort = 0; c.FTPPassive = "junk" }, ""},
		{"bad ftp port", func(c *Config) { c.FTPPort = -1 }, "--ftp-port"},
		{"bad passive range", func(c *Config) { c.FTPPassive = "30010-30000" }, "lower port first"},
		{"busy poll off", func(c *Config) { c.TFTPBusyPoll = 0 }, ""},
		{"busy poll too long", func(c *Config) { c.TFTPBusyPoll = time.Second }, "--tftp-busy-poll"},
		{"short lease", func(c *Config) { c.DHCP = "full"; c.DHCPRange = "a-b"; c.DHCPLease = time.Second }, "--dhcp-lease"},
		{"postgres store", func(c *Config) { c.Store = "postgres://ks@db/ks" }, ""},
		{"sqlite store", func(c *Config) { c.Store = "sqlite:/srv/ks" }, ""},
		{"bad store", func(c *Config) { c.Store = "/srv/ks" }, "--store"},
	}
	for _, tt := range tests {
		c := Default()
		tt.change(&c)
		err := c.Validate()
		if tt.wantErr == "" && err != nil || tt.wantErr != "" && (err == nil || !strings.Contains(err.Error(), tt.wantErr)) {
			t.Errorf("%s: Validate() = %v, want %q", tt.name, err, tt.wantErr)
		}
	}
}

func TestLoad(t *testing.T) {
	path := filepath.Join(t.TempDir(), "k.yaml")
	os.WriteFile(path, []byte("dhcp: full\ndhcp-range: 10.0.0.10-10.0.0.20\ndhcp-lease: 2h\nhttp-port: 8080\n"), 0o644)
	c := Default()
	if err := c.Load(path); err != nil {
		t.Fatal(err)
	}
	if c.DHCP != "full" || c.DHCPLease != 2*time.Hour || c.HTTPPort != 8080 || c.TFTPPort != 69 {
		t.Fatalf("Load = %+v", c)
	}
	os.WriteFile(path, []byte("dhcp-mode: full\n"), 0o644)
	if err := c.Load(path); err == nil || !strings.Contains(err.Error(), "dhcp-mode") {
		t.Fatalf("unknown key: %v", err)
	}
}

func TestDataDirFromEnv(t *testing.T) {
	t.Setenv("KICKSTAND_DATA_DIR", "/tmp/ks")
	t.Setenv("KICKSTAND_STORE", "postgres://ks@db/ks")
	if Default().DataDir != "/tmp/ks" {
		t.Fatal("KICKSTAND_DATA_DIR ignored")
	}
	if Default().Store != "postgres://ks@db/ks" {
		t.Fatal("KICKSTAND_STORE ignored")
	}
}
