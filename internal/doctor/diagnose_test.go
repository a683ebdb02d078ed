package doctor

import (
	"bytes"
	"encoding/json"
	"flag"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"kickstand/internal/events"
	"kickstand/internal/store"
)

var update = flag.Bool("update", false, "rewrite golden files under testdata/")

// The timelines below have the shape of real ones (printed by the e2e
// tests: TestBIOSInstallFullDHCP, TestBIOSInstallProxyDHCP,
// TestUEFIFirmwarePXEInstall), broken the way the field breaks them.

var (
	t0      = time.Date(2026, 11, 30, 18, 53, 5, 230e6, time.UTC)
	testMAC = net.HardwareAddr{0x52, 0x54, 0x00, 0x3a, 0x8d, 0x28}
)

// at is an event sec seconds after t0.
func at(sec float64, kind, detail string) store.Event {
	return store.Event{MAC: testMAC, Time: t0.Add(time.Duration(sec * float64(time.Second))), Kind: events.Kind(kind), Detail: detail}
}

func machine(state store.State) store.Machine {
	return store.Machine{MAC: testMAC, Profile: "rocky9", Hostname: "node1", State: state}
}

const (
	biosDiscover = `vendor class "PXEClient:Arch:00000:UNDI:002001", arch 0 (Intel x86PC)`
	biosBoot     = `boot "lpxelinux.0" from 10.213.7.1, arch 0 (Intel x86PC)`
	uefiDiscover = `vendor class "PXEClient:Arch:00007:UNDI:003000", arch 7 (EFI x86-64)`
	ipxeDiscover = `vendor class "PXEClient:Arch:00007:UNDI:003010", arch 7 (EFI x86-64)`
	shimBoot     = `boot "BOOTX64.EFI" from 10.213.7.1, arch 7 (EFI x86-64)`
	snpBoot      = `boot "snponly.efi" from 10.213.7.1, arch 7 (EFI x86-64)`
	pxeConfig    = "pxelinux.cfg/01-52-54-00-3a-8d-28"
	grubConfig   = "grub.cfg-01-52-54-00-3a-8d-28"
)

// biosToInitrd is a BIOS machine in --dhcp full up to its initrd.
var biosToInitrd = []store.Event{
	at(0, "registered", "profile rocky9"),
	at(3.687, "dhcp-discover", biosDiscover),
	at(3.696, "dhcp-offer", biosBoot),
	at(4.932, "dhcp-ack", biosBoot),
	at(21.867, "tftp", "lpxelinux.0 75072 bytes in 75ms"),
	at(22.135, "tftp", "ldlinux.c32 119524 bytes in 40ms"),
	at(22.153, "boot-config", pxeConfig+": registered: install profile rocky9"),
	at(22.155, "tftp", pxeConfig+" 443 bytes in 3ms"),
	at(22.996, "http", "distros/rocky9/images/pxeboot/vmlinuz 200: 8245760 bytes in 832ms"),
	at(23.119, "http", "distros/rocky9/images/pxeboot/initrd.img 200: 1239905 bytes in 68ms"),
}

// biosToKickstart goes on to the installer's DHCP and kickstart.
var biosToKickstart = append(clone(biosToInitrd),
	at(33.433, "dhcp-discover", `vendor class "anaconda-Linux", arch none`),
	at(33.433, "dhcp-offer", "address only"),
	at(33.472, "dhcp-ack", "address only"),
	at(33.605, "kickstart", "profile rocky9, 1075 bytes to 10.213.7.100"),
)

// biosToStage2 goes on to stage2.
var biosToStage2 = append(clone(biosToKickstart),
	at(33.668, "http", "distros/rocky9/.treeinfo 200: 1306 bytes in 0s"),
	at(33.702, "stage2", "images/install.img download started over HTTP"),
	at(33.796, "http", "distros/rocky9/images/install.img 200: 8388608 bytes in 94ms"),
	at(33.796, "stage2", "images/install.img fetched over HTTP (8388608 bytes in 94ms): the installer starts its second stage"),
)

// uefiShim is a UEFI machine in --dhcp full through shim.
var uefiShim = []store.Event{
	at(0, "registered", "profile rocky9"),
	at(5.645, "dhcp-discover", uefiDiscover),
	at(5.646, "dhcp-offer", shimBoot),
	at(9.772, "dhcp-ack", shimBoot),
	at(9.802, "tftp", "BOOTX64.EFI: size query (tsize), no data asked"),
	at(9.905, "tftp", "BOOTX64.EFI 1048504 bytes in 99ms"),
	at(9.936, "tftp", "revocations_sku.efi: not found"),
	at(9.950, "tftp", "revocations_sbat.efi: not found"),
	at(9.964, "tftp", "shim_certificate_0.efi: not found"),
}

func clone(evs []store.Event) []store.Event { return append([]store.Event(nil), evs...) }

func join(parts ...[]store.Event) []store.Event {
	var out []store.Event
	for _, p := range parts {
		out = append(out, p...)
	}
	return out
}

func TestDiagnose(t *testing.T) {
	min := func(m float64) time.Time { return t0.Add(time.Duration(m * float64(time.Minute))) }
	tests := []struct {
		name    string
		machine store.Machine
		events  []store.Event
		now     time.Time
		outcome Outcome
		cause   string // in the first cause; "" for none
	}{
		{"installed", machine(store.StateInstalled), join(biosToStage2, []store.Event{
			at(33.955, "phone-home", "installing"),
			at(33.971, "http", "distros/rocky9/BaseOS/repodata/repomd.xml 200: 637 bytes in 0s"),
			at(33.998, "phone-home", "installed"),
		}), min(60), OutcomeInstalled, ""},

		{"waiting-for-first-boot", machine(store.StateNew), []store.Event{at(0, "registered", "profile rocky9")},
			min(120), OutcomeWaiting, "did not boot from the network"},

		// The firmware's DISCOVERs arrive, but kickstand has nothing for UEFI
		// x64 in proxy mode (no snponly.efi installed).
		{"no-offer-uefi", machine(store.StateBooting), []store.Event{
			at(0, "registered", "profile rocky9"),
			at(5, "dhcp-discover", uefiDiscover),
			at(9, "dhcp-discover", uefiDiscover),
			at(17, "dhcp-discover", uefiDiscover),
			at(33, "dhcp-discover", uefiDiscover),
		}, min(10), OutcomeStuck, "no boot program for UEFI x64"},

		// --dhcp full, and the LAN's router answers faster: our offers are
		// never taken.
		{"offer-never-requested", machine(store.StateBooting), []store.Event{
			at(0, "registered", "profile rocky9"),
			at(3.7, "dhcp-discover", biosDiscover),
			at(3.7, "dhcp-offer", biosBoot),
			at(4.9, "dhcp-discover", biosDiscover),
			at(4.9, "dhcp-offer", biosBoot),
			at(12.9, "dhcp-discover", biosDiscover),
			at(12.9, "dhcp-offer", biosBoot),
		}, min(10), OutcomeStuck, "another DHCP server answered"},

		// nftables drops 69/udp: the ACK goes out, no TFTP request comes in.
		{"firewall-drops-tftp", machine(store.StateBooting), biosToInitrd[:4], min(10), OutcomeStuck, "firewall on this host drops TFTP"},

		// Proxy mode on a LAN whose DHCP server is down: the firmware keeps
		// asking and never fetches anything.
		{"proxy-without-lan-dhcp", machine(store.StateBooting), []store.Event{
			at(0, "registered", "profile rocky9"),
			at(2.2, "dhcp-discover", biosDiscover),
			at(2.2, "proxy-offer", biosBoot),
			at(3.3, "dhcp-discover", biosDiscover),
			at(3.3, "proxy-offer", biosBoot),
			at(5.3, "dhcp-discover", biosDiscover),
			at(5.3, "proxy-offer", biosBoot),
			at(9.3, "dhcp-discover", biosDiscover),
			at(9.3, "proxy-offer", biosBoot),
		}, min(10), OutcomeStuck, "gave it no address"},

		// A 1400-byte MTU tunnel between: the OACK passes, the first full
		// block never does.
		{"tftp-stall-mtu", machine(store.StateBooting), join(uefiShim[:5], []store.Event{
			at(25.0, "tftp", `BOOTX64.EFI 0 bytes in 15.204s: tftp: send "BOOTX64.EFI": tftp: client stopped answering`),
			at(29.1, "tftp", "BOOTX64.EFI: size query (tsize), no data asked"),
			at(44.3, "tftp", `BOOTX64.EFI 0 bytes in 15.107s: tftp: send "BOOTX64.EFI": tftp: client stopped answering`),
		}), min(10), OutcomeStuck, "TFTP stalled at the first block"},

		// Proxy mode, and the LAN's DHCP server hands iPXE snponly.efi again.
		{"ipxe-boot-loop", machine(store.StateBooting), []store.Event{
			at(0, "registered", "profile rocky9"),
			at(5.1, "dhcp-discover", uefiDiscover),
			at(5.1, "proxy-offer", snpBoot),
			at(8.7, "tftp", "snponly.efi: size query (tsize), no data asked"),
			at(8.8, "tftp", "snponly.efi 173792 bytes in 69ms"),
			at(11.0, "dhcp-discover", ipxeDiscover),
			at(11.0, "proxy-offer", snpBoot),
			at(11.9, "tftp", "snponly.efi 173792 bytes in 70ms"),
			at(14.1, "dhcp-discover", ipxeDiscover),
			at(14.1, "proxy-offer", snpBoot),
			at(15.0, "tftp", "snponly.efi 173792 bytes in 68ms"),
			at(17.2, "dhcp-discover", ipxeDiscover),
			at(17.2, "proxy-offer", snpBoot),
			at(18.1, "tftp", "snponly.efi 173792 bytes in 71ms"),
		}, min(10), OutcomeStuck, "boot loop: snponly.efi fetched 4 times"},

		// Proxy mode with Secure Boot on: the firmware refuses iPXE.
		{"ipxe-refused-secure-boot", machine(store.StateBooting), []store.Event{
			at(0, "registered", "profile rocky9"),
			at(5.1, "dhcp-discover", uefiDiscover),
			at(5.1, "proxy-offer", snpBoot),
			at(8.7, "tftp", "snponly.efi: size query (tsize), no data asked"),
			at(8.8, "tftp", "snponly.efi 173792 bytes in 69ms"),
		}, min(10), OutcomeStuck, "Secure Boot refuses snponly.efi"},

		// Media without grubx64.efi beside its shim.
		{"shim-without-grub", machine(store.StateBooting), join(uefiShim, []store.Event{
			at(10.1, "tftp", "grubx64.efi: not found"),
			at(10.2, "tftp", "fbx64.efi: not found"),
		}), min(10), OutcomeStuck, "shim asked for grubx64.efi"},

		// Secure Boot refuses a GRUB from other media: shim starts MokManager.
		{"shim-mokmanager", machine(store.StateBooting), join(uefiShim, []store.Event{
			at(10.261, "tftp", "grubx64.efi 868352 bytes in 260ms"),
			at(10.4, "tftp", "mmx64.efi: not found"),
		}), min(10), OutcomeStuck, "shim started MokManager"},

		// --dhcp off, and the LAN's server gives the media's path.
		{"boot-file-with-path", machine(store.StateBooting), []store.Event{
			at(0, "registered", "profile rocky9"),
			at(6.2, "tftp", "EFI/BOOT/BOOTX64.EFI: not found"),
			at(10.2, "tftp", "EFI/BOOT/BOOTX64.EFI: not found"),
		}, min(10), OutcomeStuck, "under EFI/BOOT/"},

		// Behind NAT: its config request comes from the router's address.
		{"boot-config-refused", machine(store.StateBooting), join(biosToInitrd[:6], []store.Event{
			at(22.153, "boot-config-refused", pxeConfig+": 192.168.50.1 is not known as an address of 52:54:00:3a:8d:28 (neighbour table, DHCP); --ks-source-check=false turns this check off"),
			at(22.155, "tftp", pxeConfig+": not found"),
		}), min(10), OutcomeStuck, "refused its boot-config"},

		// The installer starts but its initrd has no driver for the NIC.
		{"installer-without-network", machine(store.StateBooting), biosToInitrd, min(15), OutcomeStuck, "did not get its network up"},

		// The install's token ended under it: reinstalled while booting.
		{"kickstart-refused", machine(store.StateBooting), join(biosToInitrd, []store.Event{
			at(33.4, "dhcp-discover", `vendor class "anaconda-Linux", arch none`),
			at(33.4, "dhcp-offer", "address only"),
			at(33.5, "dhcp-ack", "address only"),
			at(33.6, "kickstart-refused", "unknown token from 10.213.7.100"),
		}), min(15), OutcomeStuck, "refused the kickstart"},

		// A profile whose template anaconda would refuse.
		{"kickstart-invalid", machine(store.StateBooting), join(biosToInitrd, []store.Event{
			at(33.6, "kickstart-invalid", "kickstart: line 12: unknown command \"autopartt\""),
		}), min(15), OutcomeStuck, "anaconda would refuse it"},

		// --repo-protocol ftp with the passive range blocked.
		{"ftp-passive-blocked", machine(store.StateInstalling), join(biosToKickstart, []store.Event{
			at(48.7, "ftp", "pub/.treeinfo 0 bytes in 15.002s: network error: Unable to open transfer: failed to accept passive transfer connection: accept tcp [::]:30004: use of closed network connection"),
			at(64.9, "ftp", "pub/.treeinfo 0 bytes in 15.001s: network error: Unable to open transfer: failed to accept passive transfer connection: accept tcp [::]:30011: use of closed network connection"),
		}), min(15), OutcomeStuck, "FTP downloads carried no data"},

		// The stage2 download begins and the installer never gets it whole.
		{"stage2-never-finished", machine(store.StateInstalling), join(biosToKickstart, []store.Event{
			at(33.7, "http", "distros/rocky9/.treeinfo 200: 1306 bytes in 0s"),
			at(33.8, "stage2", "images/install.img download started over HTTP"),
		}), min(20), OutcomeStuck, "stage2's download started and never finished"},

		// %pre fails: stage2 runs, nothing is reported.
		{"pre-failed", machine(store.StateInstalling), biosToStage2, min(30), OutcomeStuck, "%pre failed"},

		// A custom template without the phone-home snippet: the install goes
		// on, unreported.
		{"no-phone-home", machine(store.StateInstalling), join(biosToStage2, []store.Event{
			at(40, "http", "distros/rocky9/BaseOS/repodata/repomd.xml 200: 637 bytes in 0s"),
			at(41, "http", "distros/rocky9/BaseOS/Packages/b/bash-5.1.8-9.el9.x86_64.rpm 200: 1771343 bytes in 20ms"),
			at(42, "http", "distros/rocky9/BaseOS/Packages/c/coreutils-8.32-36.el9.x86_64.rpm 200: 1220305 bytes in 14ms"),
		}), min(30), OutcomeStuck, "does not phone home"},

		{"installing", machine(store.StateInstalling), join(biosToStage2, []store.Event{
			at(34, "phone-home", "installing"),
			at(90, "http", "distros/rocky9/BaseOS/Packages/k/kernel-core-5.14.0-570.el9.x86_64.rpm 200: 18306214 bytes in 190ms"),
		}), min(4), OutcomeInProgress, ""},

		{"failed", machine(store.StateFailed), join(biosToStage2, []store.Event{
			at(34, "phone-home", "installing"),
			at(41, "http", "distros/rocky9/AppStream/repodata/repomd.xml 404: 0 bytes in 0s"),
			at(52, "phone-home", "failed: anaconda: payload: failed to download package metadata"),
		}), min(60), OutcomeFailed, "the installer reported failure"},

		// A discovered machine gets the menu and boots its disk.
		{"not-registered", store.Machine{MAC: testMAC, State: store.StateBooting}, []store.Event{
			at(2.2, "dhcp-discover", biosDiscover),
			at(2.2, "proxy-offer", biosBoot),
			at(18.6, "tftp", "lpxelinux.0 75072 bytes in 11ms"),
			at(18.9, "tftp", "ldlinux.c32 119524 bytes in 44ms"),
			at(18.9, "boot-config", pxeConfig+": unknown machine: menu, local disk by default"),
			at(18.9, "tftp", pxeConfig+" 1456 bytes in 2ms"),
		}, min(10), OutcomeNotInstalling, "not registered"},

		// Installed, but its disk does not boot: every power-on is sent to
		// the disk and comes back.
		{"installed-disk-does-not-boot", machine(store.StateInstalled), join(biosToStage2, []store.Event{
			at(34, "phone-home", "installing"),
			at(300, "phone-home", "installed"),
			at(330, "dhcp-discover", biosDiscover),
			at(330, "dhcp-offer", biosBoot),
			at(331, "dhcp-ack", biosBoot),
			at(348, "tftp", "lpxelinux.0 75072 bytes in 75ms"),
			at(348, "boot-config", pxeConfig+": installed: boot from local disk"),
			at(380, "dhcp-discover", biosDiscover),
			at(380, "dhcp-offer", biosBoot),
			at(381, "dhcp-ack", biosBoot),
			at(398, "tftp", "lpxelinux.0 75072 bytes in 74ms"),
			at(398, "boot-config", pxeConfig+": installed: boot from local disk"),
			at(430, "dhcp-discover", biosDiscover),
			at(430, "dhcp-offer", biosBoot),
			at(431, "dhcp-ack", biosBoot),
			at(448, "tftp", "lpxelinux.0 75072 bytes in 76ms"),
			at(448, "boot-config", pxeConfig+": installed: boot from local disk"),
		}), min(10), OutcomeInstalled, "each time sent to its local disk"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			d := Diagnose(tc.machine, tc.events, tc.now)
			if d.Outcome != tc.outcome {
				t.Errorf("outcome %s, want %s (%s)", d.Outcome, tc.outcome, d.Summary)
			}
			switch {
			case tc.cause == "" && len(d.Causes) > 0:
				t.Errorf("causes %q, want none", d.Causes[0].Text)
			case tc.cause != "" && len(d.Causes) == 0:
				t.Errorf("no causes, want one about %q", tc.cause)
			case tc.cause != "" && !strings.Contains(d.Causes[0].Text, tc.cause):
				t.Errorf("first cause %q, want one about %q", d.Causes[0].Text, tc.cause)
			}
			for i, c := range d.Causes {
				if i == 0 && tc.cause != "" && len(c.Events) == 0 {
					t.Errorf("first cause %q quotes no event", c.Text)
				}
			}
			var buf bytes.Buffer
			if err := WriteDiagnosis(&buf, d, time.UTC); err != nil {
				t.Fatal(err)
			}
			golden(t, filepath.Join("testdata", "diagnose", tc.name+".txt"), buf.Bytes())
			if _, err := json.Marshal(d); err != nil {
				t.Fatal(err)
			}
		})
	}
}

// TestDiagnoseQuotesEvents checks that every event a diagnosis quotes is
// one of the machine's: causes rest on what happened, nothing else.
func TestDiagnoseQuotesEvents(t *testing.T) {
	events := join(uefiShim, []store.Event{at(10.1, "tftp", "grubx64.efi: not found")})
	d := Diagnose(machine(store.StateBooting), events, t0.Add(time.Hour))
	seen := map[Evidence]bool{}
	for _, e := range events {
		seen[Evidence{Time: e.Time, Kind: string(e.Kind), Detail: e.Detail}] = true
	}
	for _, c := range d.Causes {
		for _, e := range c.Events {
			if !seen[e] {
				t.Errorf("cause %q quotes %v, which is not in the timeline", c.Text, e)
			}
		}
	}
	if d.Last == nil || !seen[d.Last.Event] {
		t.Errorf("last step %+v is not an event of the timeline", d.Last)
	}
}

// An old install does not explain a new boot: after ten quiet minutes, a
// firmware DISCOVER starts the attempt that is diagnosed.
func TestDiagnoseLatestAttempt(t *testing.T) {
	events := join(biosToInitrd[:4], []store.Event{
		at(3600, "dhcp-discover", biosDiscover),
		at(3600, "dhcp-offer", biosBoot),
	})
	d := Diagnose(machine(store.StateBooting), events, t0.Add(3610*time.Second))
	if d.Outcome != OutcomeInProgress || d.Last == nil || !d.Last.Event.Time.Equal(t0.Add(3600*time.Second)) {
		t.Errorf("got %s, last step %+v; want in progress from the second boot's offer", d.Outcome, d.Last)
	}
}

func golden(t *testing.T, path string, got []byte) {
	t.Helper()
	if *update {
		if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(path, got, 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run go test ./internal/doctor/ -update to write it)", err)
	}
	if !bytes.Equal(got, want) {
		t.Errorf("%s differs (go test ./internal/doctor/ -update rewrites it):\n--- got\n%s--- want\n%s", path, got, want)
	}
}
