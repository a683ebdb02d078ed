package cli

import (
	"encoding/json"
	"strings"
	"testing"
	"time"

	"kickstand/internal/store"
)

// doctor on the loopback interface (no DHCP probe: --dhcp-wait 0) with an
// empty boot loader directory: the loaders fail, so it exits 1, and every
// check is a PASS, WARN or FAIL line.
func TestDoctorHost(t *testing.T) {
	c := newCLI(t)
	c.setup()
	args := []string{"doctor", "--interface", "lo", "--dhcp-wait", "0", "--bootloader-dir", t.TempDir()}
	out, errs, code := c.run(args...)
	if code != 1 || !strings.HasPrefix(errs, "kickstand: doctor: ") || !strings.Contains(errs, "checks failed") {
		t.Fatalf("exit %d, stderr %q; want 1 and the count of failed checks", code, errs)
	}
	lines := strings.Split(strings.TrimSpace(out), "\n")
	for _, l := range lines[:len(lines)-1] {
		if !strings.HasPrefix(l, "PASS  ") && !strings.HasPrefix(l, "WARN  ") && !strings.HasPrefix(l, "FAIL  ") {
			t.Errorf("line %q is not a PASS, WARN or FAIL line", l)
		}
	}
	for _, want := range []string{
		"PASS  interface: lo is up, 127.0.0.1/8",
		"FAIL  loader: BIOS: lpxelinux.0, pxelinux.0, ldlinux.c32, menu.c32, libutil.c32, libcom32.c32 not found in",
		"WARN  dhcp: other DHCP servers not looked for (probe turned off)",
		"  firewall: ",
		"PASS  distro: distro rocky9 (Rocky Linux 9.6 x86_64): tree " + c.tree + " in place and unchanged since import",
		"PASS  data-dir: " + c.data + " is writable",
		"port: 67/udp (DHCP)",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("doctor output lacks %q:\n%s", want, out)
		}
	}
	if !strings.HasSuffix(lines[len(lines)-1], "failed") {
		t.Errorf("last line %q: want the counts", lines[len(lines)-1])
	}

	out, _, code = c.run(append(args, "-o", "json")...)
	var j doctorJSON
	if err := json.Unmarshal([]byte(out), &j); err != nil || code != 1 {
		t.Fatalf("-o json: exit %d, %v:\n%s", code, err, out)
	}
	if j.Fail == 0 || j.Pass+j.Warn+j.Fail != len(j.Checks) || j.Checks[0].Name != "interface" {
		t.Errorf("-o json: %+v", j)
	}
}

func TestDoctorHostRefusesBadSettings(t *testing.T) {
	c := newCLI(t)
	c.fails(`--dhcp "half": want proxy, full or off`, "doctor", "--dhcp", "half")
	c.fails(`-o "yaml": want text or json`, "doctor", "-o", "yaml")
	c.fails("accepts at most 1 arg", "doctor", "52:54:00:12:34:56", "52:54:00:12:34:57")
}

// A store that does not exist yet is not created by doctor.
func TestDoctorHostCreatesNothing(t *testing.T) {
	c := newCLI(t)
	out, _, _ := c.run("doctor", "--interface", "lo", "--dhcp-wait", "0", "--dhcp", "full")
	if !strings.Contains(out, "WARN  distro: distros not checked: no store in "+c.data) ||
		!strings.Contains(out, "PASS  data-dir: "+c.data+" does not exist yet") {
		t.Errorf("output:\n%s", out)
	}
}

func TestDoctorMachine(t *testing.T) {
	c := newCLI(t)
	c.setup()
	// A machine registered 20 minutes ago, stuck since its DHCP ACK.
	mac, _ := store.ParseMAC("52:54:00:12:34:57")
	db := c.open()
	t0 := time.Now().Add(-20 * time.Minute)
	if err := db.PutMachine(t.Context(), store.Machine{MAC: mac, Profile: "web", State: store.StateNew, Token: "t0k3n"}); err != nil {
		t.Fatal(err)
	}
	for i, ev := range []store.Event{
		{Kind: "registered", Detail: "profile web"},
		{Kind: "dhcp-discover", Detail: `vendor class "PXEClient:Arch:00000:UNDI:002001", arch 0 (Intel x86PC)`},
		{Kind: "dhcp-offer", Detail: `boot "lpxelinux.0" from 10.0.0.1, arch 0 (Intel x86PC)`},
		{Kind: "dhcp-ack", Detail: `boot "lpxelinux.0" from 10.0.0.1, arch 0 (Intel x86PC)`},
	} {
		ev.MAC, ev.Time = mac, t0.Add(time.Duration(i)*time.Second)
		if _, err := db.Record(t.Context(), ev, ""); err != nil {
			t.Fatal(err)
		}
	}
	db.Close()

	out := c.ok("doctor", "52-54-00-12-34-57")
	for _, want := range []string{
		"machine:    52:54:00:12:34:57 (profile web, state new)",
		"outcome:    stuck",
		`last step:  kickstand's DHCP ACK (boot "lpxelinux.0")`,
		"missing:    a TFTP request for lpxelinux.0",
		"1. a firewall on this host drops TFTP (69/udp)",
		`dhcp-ack  boot "lpxelinux.0" from 10.0.0.1`,
	} {
		if !strings.Contains(out, want) {
			t.Errorf("doctor MAC lacks %q:\n%s", want, out)
		}
	}
	var d struct {
		Outcome string `json:"outcome"`
		Causes  []struct {
			Text   string                  `json:"text"`
			Events []struct{ Kind string } `json:"events"`
		} `json:"causes"`
	}
	if err := json.Unmarshal([]byte(c.ok("doctor", "52:54:00:12:34:57", "-o", "json")), &d); err != nil {
		t.Fatal(err)
	}
	if d.Outcome != "stuck" || len(d.Causes) == 0 || len(d.Causes[0].Events) == 0 || d.Causes[0].Events[0].Kind != "dhcp-ack" {
		t.Errorf("-o json: %+v", d)
	}
	c.fails("machine 52:54:00:99:99:99 is not known", "doctor", "52:54:00:99:99:99")
	c.fails("bad MAC address", "doctor", "not-a-mac")
}
