package cli

import (
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

const applyYAML = `profiles:
  - name: web
    distro: rocky9
    kernel-args: console=ttyS0
    vars: {timezone: Europe/Berlin}
  - name: db
    distro: rocky9
    kickstart: db.ks.tmpl
machines:
  - mac: 52:54:00:aa:00:01
    profile: web
    hostname: web1
    vars: {disk: vda}
  - mac: 52-54-00-aa-00-02
    profile: db
    hostname: db1
    network: {address: 10.0.0.12/24, gateway: 10.0.0.1, dns: [10.0.0.2]}
`

func writeApply(t *testing.T, yaml string) string {
	t.Helper()
	dir := t.TempDir()
	os.WriteFile(filepath.Join(dir, "db.ks.tmpl"), []byte("text\nurl --url={{ .RepoURL }}\nrootpw --lock\n{{ snippet \"network\" }}\n{{ snippet \"partitioning\" }}\n{{ snippet \"phone-home\" }}\n"), 0o644)
	f := filepath.Join(dir, "site.yaml")
	os.WriteFile(f, []byte(yaml), 0o644)
	return f
}

func TestApply(t *testing.T) { eachMode(t, testApply) }

func testApply(t *testing.T, c *cliEnv) {
	c.ok("distro", "import", "rocky9", c.tree)
	f := writeApply(t, applyYAML)

	out := c.ok("apply", "-f", f, "--dry-run")
	if !strings.Contains(out, "dry run, nothing written: 4 to create, 0 to update, 0 unchanged") {
		t.Errorf("dry run:\n%s", out)
	}
	if list := c.ok("profile", "list"); strings.Contains(list, "web") {
		t.Fatalf("a dry run wrote profiles:\n%s", list)
	}
	out = c.ok("apply", "-f", f)
	if !strings.Contains(out, "applied: 4 to create") {
		t.Errorf("apply:\n%s", out)
	}
	m := c.showJSON("52:54:00:aa:00:02")
	if m["profile"] != "db" || m["hostname"] != "db1" || m["network"].(map[string]any)["address"] != "10.0.0.12/24" || m["state"] != "new" {
		t.Errorf("machine after apply: %v", m)
	}
	ks := c.ok("kickstart", "render", "52:54:00:aa:00:02", "--server-ip", "10.0.0.1")
	if !strings.Contains(ks, "--bootproto=static --device=link --ip=10.0.0.12 --netmask=255.255.255.0") {
		t.Errorf("db1's kickstart (from the file's template) lacks its static network:\n%s", ks)
	}
	if ks := c.ok("kickstart", "render", "52:54:00:aa:00:01", "--server-ip", "10.0.0.1"); !strings.Contains(ks, "timezone Europe/Berlin") || !strings.Contains(ks, "--only-use=vda") {
		t.Errorf("web1's kickstart lacks the profile's timezone or its own disk:\n%s", ks)
	}

	// Idempotent: again, nothing changes; the token (kickstart URL) is kept.
	before := c.showJSON("52:54:00:aa:00:01")
	token := func() string {
		db := c.open()
		defer db.Close()
		hw, _ := net.ParseMAC("52:54:00:aa:00:01")
		m, _ := db.Machine(t.Context(), hw)
		return m.Token
	}
	tokenBefore := token()
	if out := c.ok("apply", "-f", f); !strings.Contains(out, "0 to create, 0 to update, 4 unchanged") {
		t.Errorf("second apply:\n%s", out)
	}
	if after := c.showJSON("52:54:00:aa:00:01"); len(after["events"].([]any)) != len(before["events"].([]any)) {
		t.Errorf("an unchanged apply added events: %v", after["events"])
	}
	if tokenBefore == "" || token() != tokenBefore {
		t.Error("apply changed the machine's token (its kickstart URL)")
	}

	// A change is shown, then written; state is kept.
	changed := writeApply(t, strings.Replace(applyYAML, "hostname: web1", "hostname: web2", 1))
	out = c.ok("apply", "-f", changed, "--dry-run")
	if !strings.Contains(out, `update    machine 52:54:00:aa:00:01: hostname "web1" → "web2"`) {
		t.Errorf("dry run of a change:\n%s", out)
	}
	c.ok("apply", "-f", changed)
	if m := c.showJSON("52:54:00:aa:00:01"); m["hostname"] != "web2" || m["state"] != "new" {
		t.Errorf("after the change: %v", m)
	}
}

// A bad file writes nothing at all, and says what is wrong.
func TestApplyBadFileWritesNothing(t *testing.T) { eachMode(t, testApplyBadFileWritesNothing) }

func testApplyBadFileWritesNothing(t *testing.T, c *cliEnv) {
	c.ok("distro", "import", "rocky9", c.tree)
	for _, tc := range []struct{ name, yaml, want string }{
		{"unknown key", "profiles:\n  - name: web\n    distro: rocky9\n    colour: blue\n", "field colour not found"},
		{"missing distro", "profiles:\n  - name: web\n    distro: nope\n", "distro nope does not exist"},
		{"bad machine after good profile", applyYAML + "  - mac: 52:54:00\n    profile: web\n", "bad MAC"},
		{"unknown profile", "machines:\n  - mac: 52:54:00:aa:00:09\n    profile: ghost\n", "profile ghost does not exist"},
		{"listed twice", applyYAML + "  - mac: 52:54:00:aa:00:01\n    profile: web\n", "listed twice"},
		{"invalid kickstart", "profiles:\n  - name: p\n    distro: rocky9\n    vars: {autopart_type: zfs}\n", "error"},
		{"ip reserved twice", "profiles:\n  - name: p\n    distro: rocky9\nmachines:\n  - {mac: 52:54:00:aa:00:05, profile: p, ip: 10.0.0.9}\n  - {mac: 52:54:00:aa:00:06, profile: p, ip: 10.0.0.9}\n", "reserved for 52:54:00:aa:00:05"},
		{"bad gateway", "profiles:\n  - name: p\n    distro: rocky9\nmachines:\n  - mac: 52:54:00:aa:00:03\n    profile: p\n    network: {address: 10.0.0.5/24, gateway: 192.168.0.1}\n", "gateway \"192.168.0.1\": want an address inside"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c.fails(tc.want, "apply", "-f", writeApply(t, tc.yaml))
		})
	}
	if list := c.ok("profile", "list"); strings.Count(list, "\n") != 1 {
		t.Errorf("bad files left profiles behind:\n%s", list)
	}
	if list := c.ok("machine", "list"); strings.Count(list, "\n") != 1 {
		t.Errorf("bad files left machines behind:\n%s", list)
	}
}
