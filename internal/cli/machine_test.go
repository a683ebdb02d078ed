package cli

import (
	"encoding/json"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"kickstand/internal/store"
	"kickstand/internal/store/sqlite"
)

// showJSON returns kickstand machine show MAC -o json.
func (c *cliEnv) showJSON(mac string) map[string]any {
	c.t.Helper()
	var m map[string]any
	if err := json.Unmarshal([]byte(c.ok("machine", "show", mac, "-o", "json")), &m); err != nil {
		c.t.Fatal(err)
	}
	return m
}

func TestMachineEdit(t *testing.T) { eachMode(t, testMachineEdit) }

func testMachineEdit(t *testing.T, c *cliEnv) {
	c.setup()
	c.ok("profile", "add", "db", "--distro", "rocky9")
	const mac = "52:54:00:12:34:56"
	out := c.ok("machine", "edit", mac, "--profile", "db", "--hostname", "db1", "--var", "disk=vda", "--unset-var", "timezone",
		"--address", "10.0.0.5/24", "--gateway", "10.0.0.1", "--dns", "10.0.0.2,10.0.0.3", "--uuid", "4C4C4544-0042-3510-8051-B2C04F4B4E32")
	if !strings.Contains(out, "address, dns, gateway, hostname, profile, uuid, vars") {
		t.Errorf("edit says %q, want the changed fields", out)
	}
	m := c.showJSON(mac)
	vars := m["vars"].(map[string]any)
	netw := m["network"].(map[string]any)
	if m["profile"] != "db" || m["hostname"] != "db1" || vars["disk"] != "vda" || vars["timezone"] != nil ||
		m["ip"] != "10.0.0.5" || m["uuid"] != "4c4c4544-0042-3510-8051-b2c04f4b4e32" ||
		netw["address"] != "10.0.0.5/24" || netw["gateway"] != "10.0.0.1" || len(netw["dns"].([]any)) != 2 {
		t.Fatalf("after edit: %v", m)
	}
	text := c.ok("machine", "show", mac)
	if !strings.Contains(text, "network:   10.0.0.5/24 gateway 10.0.0.1 dns 10.0.0.2 dns 10.0.0.3") || !strings.Contains(text, "disk=vda") {
		t.Errorf("machine show:\n%s", text)
	}
	// Back to DHCP drops the rest of the static settings.
	c.ok("machine", "edit", mac, "--address", "")
	if m := c.showJSON(mac); m["network"] != nil || m["hostname"] != "db1" {
		t.Fatalf("after --address '': %v", m)
	}
	c.fails("nothing to change", "machine", "edit", mac)
	c.fails("needs a profile", "machine", "edit", mac, "--profile", "")
	c.fails("goes back to DHCP", "machine", "edit", mac, "--address", "", "--gateway", "10.0.0.1")
	c.fails("profile nope does not exist", "machine", "edit", mac, "--profile", "nope")
	c.fails("--gateway", "machine", "edit", mac, "--address", "10.0.0.5/24", "--gateway", "192.168.1.1")
	c.fails("--address: a gateway, DNS servers and a device set a static network: give its address too", "machine", "edit", mac, "--gateway", "10.0.0.1")
	c.fails("--address", "machine", "edit", mac, "--address", "10.0.0.5")
	c.fails("--uuid", "machine", "edit", mac, "--uuid", "nope")
	c.fails("variable nope is not set: nothing to remove", "machine", "edit", mac, "--unset-var", "nope")
	c.fails("is not registered", "machine", "edit", "52:54:00:00:00:99", "--hostname", "x")
	if m := c.showJSON(mac); m["profile"] != "db" || m["network"] != nil {
		t.Fatalf("failed edits changed the machine: %v", m)
	}
}

func TestMachineReinstall(t *testing.T) { eachMode(t, testMachineReinstall) }

func testMachineReinstall(t *testing.T, c *cliEnv) {
	c.setup()
	const mac = "52:54:00:12:34:56"
	db := c.open()
	hw, _ := net.ParseMAC(mac)
	m, _ := db.Machine(t.Context(), hw)
	oldToken := m.Token
	db.Record(t.Context(), store.Event{MAC: hw, Kind: "phone-home", Detail: "installed"}, store.StateInstalled)
	db.Close()

	out := c.ok("machine", "reinstall", mac)
	if !strings.Contains(out, "installs again") {
		t.Errorf("reinstall says %q", out)
	}
	db = c.open()
	defer db.Close()
	m, _ = db.Machine(t.Context(), hw)
	if m.State != store.StateNew || m.Token == oldToken || m.Token == "" {
		t.Fatalf("after reinstall: state %s, token rotated %v", m.State, m.Token != oldToken)
	}
	if _, err := db.MachineByToken(t.Context(), oldToken); err == nil {
		t.Error("the old token still finds the machine")
	}
	c.fails("not registered", "machine", "reinstall", "52:54:00:00:00:99")
}

// open opens the CLI's store directly, for what only the server does.
func (c *cliEnv) open() store.Store {
	c.t.Helper()
	db, err := sqlite.Open(c.t.Context(), c.data)
	if err != nil {
		c.t.Fatal(err)
	}
	return db
}

func TestKickstartValidate(t *testing.T) {
	c := newCLI(t)
	dir := t.TempDir()
	good := filepath.Join(dir, "good.ks")
	bad := filepath.Join(dir, "bad.ks")
	os.WriteFile(good, []byte("text\nurl --url=http://10.0.0.1/distros/rocky9/\nrootpw --lock\nautopart\n%packages\n@^minimal-environment\n%end\n"), 0o644)
	os.WriteFile(bad, []byte("text\nautopart\npart / --size=1000\nrootpw secret\n%post\necho hi\n"), 0o644)
	if out := c.ok("kickstart", "validate", good); !strings.Contains(out, "good.ks: ok") {
		t.Errorf("a valid kickstart: %q", out)
	}
	out, errs, code := c.run("kickstart", "validate", good, bad)
	if code == 0 || !strings.Contains(errs, "1 of 2 kickstart files have errors that anaconda stops on") {
		t.Fatalf("a bad kickstart: exit %d, stderr %q", code, errs)
	}
	for _, want := range []string{"bad.ks:2: error: autopart conflicts with part on line 3", "bad.ks:4: warning: rootpw", "bad.ks:5: error: %post has no %end"} {
		if !strings.Contains(out, want) {
			t.Errorf("validate output lacks %q:\n%s", want, out)
		}
	}
	// Warnings only: printed, exit 0; --strict fails on them; the password
	// policy can make a plaintext password an error.
	warned := filepath.Join(dir, "warned.ks")
	os.WriteFile(warned, []byte("text\nautopart\nrootpw --plaintext secret\ntimezone Europe/Berlin --isUtc\n"), 0o644)
	out = c.ok("kickstart", "validate", warned)
	for _, want := range []string{"warned.ks:3: warning: rootpw password is plaintext", "warned.ks:4: warning: timezone --isUtc will be deprecated: write --utc"} {
		if !strings.Contains(out, want) {
			t.Errorf("validate output lacks %q:\n%s", want, out)
		}
	}
	if _, errs, code := c.run("kickstart", "validate", "--strict", warned); code != 1 || !strings.Contains(errs, "--strict fails on them") {
		t.Errorf("--strict with warnings: exit %d, %q", code, errs)
	}
	if out, _, code := c.run("kickstart", "validate", "--password-policy", "refuse", warned); code != 1 || !strings.Contains(out, "warned.ks:3: error: rootpw password is plaintext, which the password policy refuses") {
		t.Errorf("--password-policy refuse: exit %d, %q", code, out)
	}
	// The syntax follows the version: --isUtc is gone in RHEL 10.
	if out, _, code := c.run("kickstart", "validate", "--version", "rhel10", warned); code != 1 || !strings.Contains(out, "timezone has no option --isUtc") {
		t.Errorf("--version rhel10: exit %d, %q", code, out)
	}
	// A relative %include is read beside the file; a missing one is a warning.
	os.MkdirAll(filepath.Join(dir, "parts"), 0o755)
	os.WriteFile(filepath.Join(dir, "parts", "disk.ks"), []byte("autopart --typo\n"), 0o644)
	os.WriteFile(filepath.Join(dir, "incl.ks"), []byte("text\n%include parts/disk.ks\n%include parts/missing.ks\n"), 0o644)
	out, _, code = c.run("kickstart", "validate", filepath.Join(dir, "incl.ks"))
	if code != 1 || !strings.Contains(out, "incl.ks:2: error: in "+filepath.Join(dir, "parts/disk.ks")+" line 1: autopart has no option --typo") ||
		!strings.Contains(out, "incl.ks:3: warning: %include parts/missing.ks is not checked") {
		t.Errorf("relative includes: exit %d\n%s", code, out)
	}
}

// Profiles and machines whose kickstart anaconda would refuse are not
// written; profile show prints what was.
func TestProfileAndMachineKickstartsAreValidated(t *testing.T) {
	eachMode(t, testProfileAndMachineKickstartsAreValidated)
}

func testProfileAndMachineKickstartsAreValidated(t *testing.T, c *cliEnv) {
	c.setup()
	bad := filepath.Join(t.TempDir(), "bad.ks")
	os.WriteFile(bad, []byte("text\nurl --url={{ .RepoURL }}\nautopart\npart / --size=1\n"), 0o644)
	c.fails("line 3: autopart conflicts with part on line 4", "profile", "add", "bad", "--distro", "rocky9", "--kickstart", bad)
	plain := filepath.Join(t.TempDir(), "plain.ks")
	os.WriteFile(plain, []byte("text\nurl --url={{ .RepoURL }}\nrootpw {{ var \"pw\" }}\nautopart\n"), 0o644)
	c.fails("which the password policy refuses", "profile", "add", "plain", "--distro", "rocky9", "--kickstart", plain, "--var", "pw=secret", "--password-policy", "refuse")
	if out := c.ok("profile", "add", "plain", "--distro", "rocky9", "--kickstart", plain, "--var", "pw=secret"); !strings.Contains(out, "line 3: warning: rootpw password is plaintext") {
		t.Errorf("profile add with a plaintext rootpw does not warn:\n%s", out)
	}
	out := c.ok("profile", "show", "plain")
	for _, want := range []string{"distro:       rocky9", "kickstart warnings (anaconda goes on):", "line 3: warning: rootpw password is plaintext", "pw=********", "rootpw {{ var \"pw\" }}"} {
		if !strings.Contains(out, want) {
			t.Errorf("profile show lacks %q:\n%s", want, out)
		}
	}
	if strings.Contains(out, "secret") {
		t.Errorf("profile show shows a password variable's value:\n%s", out)
	}
	var j map[string]any
	if err := json.Unmarshal([]byte(c.ok("profile", "show", "web", "-o", "json")), &j); err != nil || j["distro"] != "rocky9" || j["kickstart"] != "" {
		t.Errorf("profile show -o json: %v, %v", j, err)
	}
	c.fails("does not exist", "profile", "show", "nope")
	// machine show lists its kickstart's warnings.
	c.ok("machine", "add", "52:54:00:99:00:01", "--profile", "plain")
	if out := c.ok("machine", "show", "52:54:00:99:00:01"); !strings.Contains(out, "kickstart warnings (anaconda goes on):\n  line 3: warning: rootpw password is plaintext") {
		t.Errorf("machine show does not list its kickstart's warnings:\n%s", out)
	}

	// A machine variable that breaks its kickstart: the built-in template's
	// disk goes into --only-use=, and a space there makes two arguments.
	c.fails("not written", "machine", "add", "52:54:00:00:00:31", "--profile", "web", "--var", "disk=sda --bogus")
	c.fails("not written", "machine", "edit", "52:54:00:12:34:56", "--var", "autopart_type=zfs")
	// A built-in variable's value that no kickstart would show wrong.
	c.fails(`variable send_logs="alwyas": want one of onerror, always, never`, "machine", "edit", "52:54:00:12:34:56", "--var", "send_logs=alwyas")
	c.fails(`variable send_logs="": want one of onerror, always, never`, "profile", "add", "quiet", "--distro", "rocky9", "--var", "send_logs=")
	if m := c.showJSON("52:54:00:12:34:56"); m["vars"].(map[string]any)["autopart_type"] != nil {
		t.Errorf("a refused edit was written: %v", m)
	}
}

func TestKickstartRenderProfile(t *testing.T) { eachMode(t, testKickstartRenderProfile) }

func testKickstartRenderProfile(t *testing.T, c *cliEnv) {
	c.setup()
	c.ok("profile", "add", "db", "--distro", "rocky9", "--var", "timezone=Asia/Tokyo")
	ks := c.ok("kickstart", "render", "--profile", "db", "--server-ip", "10.0.0.1")
	for _, want := range []string{"timezone Asia/Tokyo --utc", "url --url=http://10.0.0.1/distros/rocky9/", "--hostname=sample"} {
		if !strings.Contains(ks, want) {
			t.Errorf("render --profile db lacks %q:\n%s", want, ks)
		}
	}
	c.fails("give a MAC, or --profile NAME", "kickstart", "render")
	c.fails("give a MAC, or --profile NAME", "kickstart", "render", "52:54:00:12:34:56", "--profile", "db")
	c.fails("profile nope does not exist", "kickstart", "render", "--profile", "nope", "--server-ip", "10.0.0.1")
	c.fails("not registered", "kickstart", "render", "52:54:00:00:00:77", "--server-ip", "10.0.0.1")
}

func TestMachineLogs(t *testing.T) { eachMode(t, testMachineLogs) }

func testMachineLogs(t *testing.T, c *cliEnv) {
	c.setup()
	const mac = "52:54:00:12:34:56"
	c.fails("machine 52:54:00:12:34:56 has no install logs: an install sends its logs when it fails", "machine", "logs", mac)
	db, err := sqlite.Open(t.Context(), c.data)
	if err != nil {
		t.Fatal(err)
	}
	hw, _ := net.ParseMAC(mac)
	for _, l := range []struct{ install, name, body string }{
		{"first", "anaconda.log", "INFO anaconda: first try\n"},
		{"second", "anaconda.log", "ERROR anaconda: %post failed\n"}, {"second", "ks.cfg", "text\nurl --url=http://x/"},
	} {
		if err := db.AddInstallLog(t.Context(), store.InstallLog{MAC: hw, Install: l.install, Name: l.name, Body: []byte(l.body)}, 3); err != nil {
			t.Fatal(err)
		}
	}
	db.Close()

	out := c.ok("machine", "logs", mac)
	if !strings.Contains(out, "==> anaconda.log (install 1, ") || !strings.Contains(out, "ERROR anaconda: %post failed\n\n==> ks.cfg (install 1, ") ||
		!strings.HasSuffix(out, "url --url=http://x/\n") || strings.Contains(out, "first try") {
		t.Errorf("machine logs:\n%s", out)
	}
	if out := c.ok("machine", "logs", mac, "--name", "anaconda.log"); out != "ERROR anaconda: %post failed\n" {
		t.Errorf("--name anaconda.log: %q, want the file as it is", out)
	}
	if out := c.ok("machine", "logs", mac, "--install", "2"); !strings.Contains(out, "==> anaconda.log (install 2, ") || !strings.Contains(out, "first try") || strings.Contains(out, "ks.cfg") {
		t.Errorf("--install 2:\n%s", out)
	}
	if out := c.ok("machine", "logs", mac, "--all", "--name", "anaconda.log"); strings.Count(out, "==> anaconda.log") != 2 ||
		strings.Index(out, "%post failed") > strings.Index(out, "first try") {
		t.Errorf("--all --name anaconda.log: want the newest install first:\n%s", out)
	}
	var logs []map[string]any
	if err := json.Unmarshal([]byte(c.ok("machine", "logs", mac, "-o", "json", "--all")), &logs); err != nil || len(logs) != 3 || logs[0]["install"] != 1.0 {
		t.Errorf("-o json --all: %v %v", logs, err)
	}
	c.fails("has no install logs of install 3", "machine", "logs", mac, "--install", "3")
	c.fails("has no storage.log", "machine", "logs", mac, "--name", "storage.log")
	c.fails("not known", "machine", "logs", "52:54:00:12:34:99")
	c.fails("if any flags in the group [install all] are set none of the others can be", "machine", "logs", mac, "--install", "2", "--all")
}
