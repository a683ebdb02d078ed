//go:build e2e

package e2e

import (
	"context"
	"encoding/json"
	"fmt"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// TestBIOSInstallFullDHCP installs a BIOS machine with kickstand as the LAN's only
// DHCP server.
func TestBIOSInstallFullDHCP(t *testing.T) {
	testBIOSInstall(t, "full")
}

// TestBIOSInstallProxyDHCP installs a BIOS machine on a LAN whose addresses come from
// another DHCP server (dnsmasq, on another host of the LAN), kickstand answering as
// proxyDHCP with the boot information only.
func TestBIOSInstallProxyDHCP(t *testing.T) {
	testBIOSInstall(t, "proxy")
}

const httpPort = "8080"

func testBIOSInstall(t *testing.T, dhcpMode string) {
	tools := []string{"curl"}
	if dhcpMode == "proxy" {
		tools = append(tools, "dnsmasq")
	}
	requireHost(t, tools...)
	fx := buildFixture(t)
	cli := &kickstand{bin: kickstandBinary(t), dataDir: t.TempDir()}
	l := newLAN(t, "10.213.7")
	logs := t.TempDir()
	mac := randomMAC(t)

	cli.run(t, "distro", "import", "rocky9", fx.tree)
	cli.run(t, "profile", "add", "rocky9", "--distro", "rocky9", "--kernel-args", "console=ttyS0")
	cli.run(t, "machine", "add", mac, "--profile", "rocky9", "--hostname", "node1")

	serve := []string{cli.bin, "serve", "--data-dir", cli.dataDir, "--interface", l.bridge,
		"--dhcp", dhcpMode, "--http-port", httpPort}
	logsToDump := map[string]string{}
	switch dhcpMode {
	case "full":
		serve = append(serve, "--dhcp-range", l.prefix+".100-"+l.prefix+".150")
	case "proxy":
		peer, iface := l.addPeer(t, l.prefix+".2")
		dnsmasq := startDnsmasq(t, peer, iface, l.prefix+".50", l.prefix+".99")
		logsToDump["dnsmasq"] = dnsmasq.log
	}
	server := startDaemon(t, l.ns, filepath.Join(logs, "kickstand.log"), serve...)
	consolePath := filepath.Join(logs, "console.log")
	logsToDump["kickstand serve"] = server.log
	logsToDump["console"] = consolePath
	dumpOnFailure(t, logsToDump)
	waitForHTTP(t, l, server)

	console := runQEMU(t, l.ns, consolePath, qemuTimeout(t, 6*time.Minute), pxeBootArgs(l.tap, mac)...)
	got := checkInstallerRun(t, console, fx.stage2SHA)
	t.Logf("installer markers:\n  %s", strings.Join(got, "\n  "))

	// The %post phone-home marks the machine installed; allow the store a moment.
	var m machineRecord
	err := waitFor(15*time.Second, 500*time.Millisecond, func() error {
		m = cli.machine(t, mac)
		if m.State != "installed" {
			return fmt.Errorf("machine %s state %q, want %q", mac, m.State, "installed")
		}
		return nil
	})
	if err != nil {
		t.Error(err)
	}
	t.Logf("kickstand machine show %s:\n%s", mac, cli.run(t, "machine", "show", mac))
	for _, kind := range []string{"dhcp", "tftp", "kickstart"} {
		if !m.hasEventKind(kind) {
			t.Errorf("machine %s has no event whose kind contains %q", mac, kind)
		}
	}

	// Installed machines boot from their disk from now on.
	cfgName := "pxelinux.cfg/01-" + strings.ReplaceAll(strings.ToLower(mac), ":", "-")
	cfg := l.ns.run(t, "curl", "-sS", "--max-time", "20", "tftp://"+l.serverIP+"/"+cfgName)
	if !strings.Contains(strings.ToUpper(cfg), "LOCALBOOT") {
		t.Errorf("after the install, %s over TFTP is:\n%s\nwant a LOCALBOOT config", cfgName, cfg)
	}
}

// waitForHTTP waits until kickstand answers HTTP on the LAN, or fails the test if it
// exits or does not answer within 30 s.
func waitForHTTP(t *testing.T, l *lan, server *daemon) {
	t.Helper()
	url := "http://" + l.serverIP + ":" + httpPort + "/"
	err := waitFor(30*time.Second, 300*time.Millisecond, func() error {
		if ended, err := server.exited(); ended {
			return fmt.Errorf("kickstand serve exited: %v", err)
		}
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		code, _ := l.ns.command(ctx, "curl", "-s", "-o", "/dev/null", "-w", "%{http_code}",
			"--max-time", "2", url).Output()
		if c := strings.TrimSpace(string(code)); c == "" || c == "000" {
			return fmt.Errorf("no HTTP answer from %s", url)
		}
		return nil
	})
	if err != nil {
		t.Fatalf("kickstand serve is not up: %v\n%s", err, logFile(server.log))
	}
}

// kickstand runs the CLI against one data directory.
type kickstand struct {
	bin     string
	dataDir string
}

func (k *kickstand) run(t *testing.T, args ...string) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	args = append(args, "--data-dir", k.dataDir)
	out, err := exec.CommandContext(ctx, k.bin, args...).CombinedOutput()
	if err != nil {
		t.Fatalf("kickstand %s: %v\n%s", strings.Join(args, " "), err, out)
	}
	return string(out)
}

// machineRecord is the part of `kickstand machine show MAC -o json` the test reads.
type machineRecord struct {
	MAC      string         `json:"mac"`
	Profile  string         `json:"profile"`
	Hostname string         `json:"hostname"`
	State    string         `json:"state"`
	Events   []machineEvent `json:"events"`
}

type machineEvent struct {
	Time   any    `json:"time"` // RFC 3339 text or a number: printed as given
	Kind   string `json:"kind"`
	Detail string `json:"detail"`
}

func (k *kickstand) machine(t *testing.T, mac string) machineRecord {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	out, err := exec.CommandContext(ctx, k.bin, "machine", "show", mac, "-o", "json", "--data-dir", k.dataDir).Output()
	if err != nil {
		t.Fatalf("kickstand machine show %s -o json: %v\n%s", mac, err, stderrOf(err))
	}
	var m machineRecord
	if err := json.Unmarshal(out, &m); err != nil {
		t.Fatalf("kickstand machine show %s -o json: %v\n%s", mac, err, out)
	}
	return m
}

func (m machineRecord) hasEventKind(kind string) bool {
	for _, e := range m.Events {
		if strings.Contains(strings.ToLower(e.Kind), kind) {
			return true
		}
	}
	return false
}

func stderrOf(err error) string {
	if ee, ok := err.(*exec.ExitError); ok {
		return string(ee.Stderr)
	}
	return ""
}
