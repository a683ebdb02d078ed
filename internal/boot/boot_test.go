package boot

import (
	"flag"
	"net"
	"net/netip"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"kickstand/internal/store"
)

var update = flag.Bool("update", false, "rewrite golden files under testdata/")

var mac = net.HardwareAddr{0x52, 0x54, 0x00, 0x12, 0x34, 0x56}

func trees() []Tree {
	rocky := store.Distro{Name: "rocky9", Kernel: "images/pxeboot/vmlinuz", Initrd: "images/pxeboot/initrd.img"}
	alma := store.Distro{Name: "alma9", Kernel: "images/pxeboot/vmlinuz", Initrd: "images/pxeboot/initrd.img"}
	return []Tree{
		{Profile: store.Profile{Name: "db", Distro: "alma9"}, Distro: alma},
		{Profile: store.Profile{Name: "web", Distro: "rocky9", KernelArgs: "console=ttyS0 "}, Distro: rocky},
	}
}

func machine(profile string, state store.State) *store.Machine {
	return &store.Machine{MAC: mac, Profile: profile, State: state, Token: "TOKEN"}
}

func TestDecide(t *testing.T) {
	tests := []struct {
		name     string
		machine  *store.Machine
		unknown  Unknown
		action   Action
		profiles []string
	}{
		{"registered new installs", machine("web", store.StateNew), UnknownMenu, ActionInstall, []string{"web"}},
		{"registered booting installs", machine("web", store.StateBooting), UnknownIgnore, ActionInstall, []string{"web"}},
		{"failed gets the menu of its own profile", machine("web", store.StateFailed), UnknownInstall, ActionMenu, []string{"web"}},
		{"installed boots locally", machine("web", store.StateInstalled), UnknownInstall, ActionLocal, nil},
		{"missing profile boots locally", machine("gone", store.StateNew), UnknownInstall, ActionLocal, nil},
		{"unknown menu", nil, UnknownMenu, ActionMenu, []string{"db", "web"}},
		{"discovered menu", machine("", store.StateBooting), UnknownMenu, ActionMenu, []string{"db", "web"}},
		{"unknown install takes first profile", nil, UnknownInstall, ActionInstall, []string{"db"}},
		{"unknown ignore", machine("", store.StateNew), UnknownIgnore, ActionIgnore, nil},
		// A machine nobody registered never installs by itself, whatever
		// requests about it made its record say.
		{"discovered installing gets the menu", machine("", store.StateInstalling), UnknownMenu, ActionMenu, []string{"db", "web"}},
		{"discovered installing, --unknown install, installs again", machine("", store.StateInstalling), UnknownInstall, ActionInstall, []string{"db"}},
		{"discovered failed gets the menu", machine("", store.StateFailed), UnknownInstall, ActionMenu, []string{"db", "web"}},
		{"discovered installed from the menu boots locally", machine("", store.StateInstalled), UnknownMenu, ActionLocal, nil},
		{"discovered installed, --unknown install, boots locally", machine("", store.StateInstalled), UnknownInstall, ActionLocal, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			d := Decide(Input{MAC: mac, Machine: tt.machine, Trees: trees(), Unknown: tt.unknown, BaseURL: "http://10.0.0.1"})
			var got []string
			for _, in := range d.Installs {
				got = append(got, in.Profile)
			}
			if d.Action != tt.action || strings.Join(got, ",") != strings.Join(tt.profiles, ",") {
				t.Fatalf("Decide = %v %v (%s), want %v %v", d.Action, got, d.Reason, tt.action, tt.profiles)
			}
			if d.Reason == "" {
				t.Error("decision has no reason")
			}
		})
	}
}

func TestInstallURLs(t *testing.T) {
	d := Decide(Input{MAC: mac, Machine: machine("web", store.StateNew), Trees: trees(), BaseURL: "http://10.0.0.1:8080"})
	in := d.Installs[0]
	want := Install{Profile: "web", Distro: "rocky9",
		Kernel:  "http://10.0.0.1:8080/distros/rocky9/images/pxeboot/vmlinuz",
		Initrd:  "http://10.0.0.1:8080/distros/rocky9/images/pxeboot/initrd.img",
		Cmdline: "inst.repo=http://10.0.0.1:8080/distros/rocky9/ inst.ks=http://10.0.0.1:8080/ks/TOKEN console=ttyS0"}
	if in != want {
		t.Fatalf("install = %+v\nwant      %+v", in, want)
	}
	// A profile that wants FTP gets an ftp:// repo, but kernel and initrd stay on HTTP.
	ts := trees()
	ts[1].Profile.RepoProtocol = store.RepoFTP
	d = Decide(Input{MAC: mac, Machine: machine("web", store.StateNew), Trees: ts, BaseURL: "http://h", FTPBase: "ftp://h"})
	if in := d.Installs[0]; !strings.HasPrefix(in.Cmdline, "inst.repo=ftp://h/distros/rocky9/ ") || !strings.HasPrefix(in.Kernel, "http://h/") {
		t.Fatalf("ftp profile install = %+v", in)
	}
	// The distro at pub/ is reached there over FTP, as in the classic vsftpd layout.
	d = Decide(Input{MAC: mac, Machine: machine("web", store.StateNew), Trees: ts, BaseURL: "http://h", FTPBase: "ftp://h", PubDistro: "rocky9"})
	if !strings.HasPrefix(d.Installs[0].Cmdline, "inst.repo=ftp://h/pub/ ") {
		t.Fatalf("ftp profile of the pub distro: %q", d.Installs[0].Cmdline)
	}
	// With FTP off the same profile falls back to HTTP.
	d = Decide(Input{MAC: mac, Machine: machine("web", store.StateNew), Trees: ts, BaseURL: "http://h"})
	if !strings.HasPrefix(d.Installs[0].Cmdline, "inst.repo=http://h/distros/rocky9/ ") {
		t.Fatalf("ftp profile without FTP: %q", d.Installs[0].Cmdline)
	}
}

// Menu entries never carry the machine's own token: each has its one-time
// offer, or no kickstart at all.
func TestOffersNotTokens(t *testing.T) {
	offers := map[string]string{"db": "OFFER-db", "web": "OFFER-web"}
	for _, tt := range []struct {
		name    string
		machine *store.Machine
		unknown Unknown
	}{
		{"unknown menu", nil, UnknownMenu},
		{"discovered menu", machine("", store.StateBooting), UnknownMenu},
		{"unknown install", machine("", store.StateNew), UnknownInstall},
		{"failed registered", machine("web", store.StateFailed), UnknownMenu},
	} {
		t.Run(tt.name, func(t *testing.T) {
			in := Input{MAC: mac, Machine: tt.machine, Trees: trees(), Unknown: tt.unknown, BaseURL: "http://h"}
			d := Decide(in)
			if !d.Offered || len(d.Installs) == 0 {
				t.Fatalf("Decide = %+v, want offered installs", d)
			}
			for _, i := range d.Installs {
				if strings.Contains(i.Cmdline, "TOKEN") || strings.Contains(i.Cmdline, "inst.ks=") {
					t.Errorf("without offers: %s has cmdline %q", i.Profile, i.Cmdline)
				}
			}
			in.Offers = offers
			for _, i := range Decide(in).Installs {
				want := "inst.ks=http://h/ks/OFFER-" + i.Profile
				if !strings.Contains(i.Cmdline, want) || strings.Contains(i.Cmdline, "TOKEN") {
					t.Errorf("%s cmdline = %q, want %s and no machine token", i.Profile, i.Cmdline, want)
				}
			}
		})
	}
	// A registered machine's install is its own: its token, no offer.
	d := Decide(Input{MAC: mac, Machine: machine("web", store.StateNew), Trees: trees(), BaseURL: "http://h", Offers: offers})
	if d.Offered || !strings.Contains(d.Installs[0].Cmdline, "inst.ks=http://h/ks/TOKEN") {
		t.Fatalf("registered install = %+v", d)
	}
}

func TestClassify(t *testing.T) {
	tests := []struct {
		arch    uint16
		hasArch bool
		want    Firmware
	}{
		{0, false, FirmwareBIOS},
		{0, true, FirmwareBIOS},
		{6, true, FirmwareEFIIA32},
		{7, true, FirmwareEFIX64},
		{9, true, FirmwareEFIX64},
		{11, true, FirmwareEFIARM64},
		{16, true, FirmwareHTTPX64},
		{19, true, FirmwareHTTPARM64},
		{2, true, FirmwareUnknown},  // Itanium
		{10, true, FirmwareUnknown}, // 32-bit ARM UEFI
		{0xffff, true, FirmwareUnknown},
	}
	for _, tt := range tests {
		if got := Classify(tt.arch, tt.hasArch); got != tt.want {
			t.Errorf("Classify(%d, %v) = %v, want %v", tt.arch, tt.hasArch, got, tt.want)
		}
	}
	if FirmwareEFIX64.String() != "efi-x64" || FirmwareUnknown.String() != "unknown" {
		t.Error("Firmware names")
	}
}

func TestConfigName(t *testing.T) {
	name := PXELinuxConfigName(mac)
	if name != "pxelinux.cfg/01-52-54-00-12-34-56" {
		t.Fatalf("PXELinuxConfigName = %q", name)
	}
	got, ok := ParsePXELinuxConfigName(name)
	if !ok || got.String() != mac.String() {
		t.Fatalf("ParsePXELinuxConfigName(%q) = %v, %v", name, got, ok)
	}
	for _, bad := range []string{"pxelinux.cfg/default", "pxelinux.cfg/01-52-54", "pxelinux.cfg/C0A8", "pxelinux.cfg/01-zz-54-00-12-34-56"} {
		if _, ok := ParsePXELinuxConfigName(bad); ok {
			t.Errorf("ParsePXELinuxConfigName(%q) accepted", bad)
		}
	}
}

func TestParseUnknown(t *testing.T) {
	for _, s := range []string{"menu", "install", "ignore"} {
		if u, err := ParseUnknown(s); err != nil || string(u) != s {
			t.Errorf("ParseUnknown(%q) = %v, %v", s, u, err)
		}
	}
	if _, err := ParseUnknown("always"); err == nil {
		t.Error("ParseUnknown accepted a bad policy")
	}
}

// TestRenderGolden renders the install, local and menu decisions with every
// boot loader's renderer and compares them with testdata/.
func TestRenderGolden(t *testing.T) {
	renderers := []struct {
		prefix, ext, base string
		render            func(Decision, string) []byte
	}{
		{"pxelinux-", ".cfg", "http://10.0.0.1", RenderPXELinux},
		{"ipxe-", ".ipxe", "http://10.0.0.1", RenderIPXE},
		{"grub-", ".cfg", "http://10.0.0.1:8080", RenderGRUB},
	}
	for _, r := range renderers {
		cases := map[string]Decision{
			"install":        Decide(Input{MAC: mac, Machine: machine("web", store.StateBooting), Trees: trees(), BaseURL: r.base}),
			"install-static": Decide(Input{MAC: mac, Machine: staticMachine(), Trees: trees(), BaseURL: r.base}),
			"local":          Decide(Input{MAC: mac, Machine: machine("web", store.StateInstalled), Trees: trees(), BaseURL: r.base}),
			"menu": Decide(Input{MAC: mac, Machine: machine("", store.StateBooting), Trees: trees(), Unknown: UnknownMenu, BaseURL: r.base,
				Offers: map[string]string{"db": "OFFER-db", "web": "OFFER-web"}}),
		}
		for name, d := range cases {
			golden(t, filepath.Join("testdata", r.prefix+name+r.ext), r.render(d, "kickstand: 52:54:00:12:34:56"))
		}
	}
}

// staticMachine is a registered machine with a static address, gateway,
// name servers and a host name.
func staticMachine() *store.Machine {
	m := machine("web", store.StateNew)
	m.Hostname = "web1.example.com"
	m.Network = store.Network{Address: netip.MustParsePrefix("10.0.0.5/24"), Gateway: netip.MustParseAddr("10.0.0.1"),
		DNS: []netip.Addr{netip.MustParseAddr("10.0.0.2"), netip.MustParseAddr("10.0.0.3")}}
	return m
}

// A machine with a static address gets it on the installer's command line,
// on the NIC it booted from (BOOTIF names it); one without gets none and
// keeps DHCP.
func TestStaticIP(t *testing.T) {
	const ip = "ip=10.0.0.5::10.0.0.1:255.255.255.0:web1.example.com::none"
	tests := []struct {
		name       string
		machine    func(*store.Machine)
		kernelArgs string
		want       []string // the arguments after inst.ks=
	}{
		{"static", nil, "", []string{ip, "nameserver=10.0.0.2", "nameserver=10.0.0.3"}},
		{"no gateway, no DNS, no host name", func(m *store.Machine) {
			m.Hostname, m.Network.Gateway, m.Network.DNS = "", netip.Addr{}, nil
		}, "", []string{"ip=10.0.0.5:::255.255.255.0:::none"}},
		{"a /20", func(m *store.Machine) { m.Network.Address = netip.MustParsePrefix("10.0.16.5/20") }, "",
			[]string{"ip=10.0.16.5::10.0.0.1:255.255.240.0:web1.example.com::none", "nameserver=10.0.0.2", "nameserver=10.0.0.3"}},
		{"a host name that does not fit in ip=", func(m *store.Machine) { m.Hostname = "a:b" }, "",
			[]string{"ip=10.0.0.5::10.0.0.1:255.255.255.0:::none", "nameserver=10.0.0.2", "nameserver=10.0.0.3"}},
		{"DHCP", func(m *store.Machine) { m.Network = store.Network{} }, "", nil},
		{"the address is another device's", func(m *store.Machine) { m.Network.Device = "eno2" }, "", nil},
		{"the profile sets ip=", nil, "ip=dhcp", []string{"ip=dhcp"}},
		{"the profile sets nameserver=", nil, "nameserver=1.1.1.1", []string{ip, "nameserver=1.1.1.1"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			m := staticMachine()
			if tt.machine != nil {
				tt.machine(m)
			}
			ts := trees()
			ts[1].Profile.KernelArgs = tt.kernelArgs
			d := Decide(Input{MAC: mac, Machine: m, Trees: ts, BaseURL: "http://h"})
			_, rest, _ := strings.Cut(d.Installs[0].Cmdline, "inst.ks=http://h/ks/TOKEN")
			if got := strings.Fields(rest); !slices.Equal(got, tt.want) {
				t.Fatalf("arguments after inst.ks= %q, want %q", got, tt.want)
			}
		})
	}
	// Menus of a machine with a static address carry it too: the failed
	// machine's own profile, installed again by hand over the same network.
	d := Decide(Input{MAC: mac, Machine: func() *store.Machine { m := staticMachine(); m.State = store.StateFailed; return m }(),
		Trees: trees(), BaseURL: "http://h"})
	if d.Action != ActionMenu || !strings.Contains(d.Installs[0].Cmdline, " "+ip+" ") {
		t.Fatalf("failed static machine: %v %q", d.Action, d.Installs)
	}
}

func golden(t *testing.T, path string, got []byte) {
	t.Helper()
	if *update {
		if err := os.WriteFile(path, got, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run go test -update to create it)", err)
	}
	if string(got) != string(want) {
		t.Errorf("%s differs:\n--- got\n%s\n--- want\n%s", path, got, want)
	}
}

func TestIPXEScriptName(t *testing.T) {
	name := IPXEScriptName(mac)
	if name != "ipxe/01-52-54-00-12-34-56.ipxe" {
		t.Fatalf("IPXEScriptName = %q", name)
	}
	if got, ok := ParseIPXEScriptName(name); !ok || got.String() != mac.String() {
		t.Fatalf("ParseIPXEScriptName(%q) = %v, %v", name, got, ok)
	}
	for _, bad := range []string{"ipxe/01-52-54-00-12-34-56", "ipxe/52-54-00-12-34-56.ipxe", "ipxe/01-zz.ipxe", "pxelinux.cfg/01-52-54-00-12-34-56"} {
		if _, ok := ParseIPXEScriptName(bad); ok {
			t.Errorf("ParseIPXEScriptName(%q) accepted", bad)
		}
	}
}

func TestGRUBNames(t *testing.T) {
	if got := GRUBConfigName(mac); got != "grub.cfg-01-52-54-00-12-34-56" {
		t.Fatalf("GRUBConfigName = %q", got)
	}
	if got, ok := ParseGRUBConfigName("grub.cfg-01-52-54-00-12-34-56"); !ok || got.String() != mac.String() {
		t.Fatalf("ParseGRUBConfigName = %v, %v", got, ok)
	}
	for _, bad := range []string{"grub.cfg", "grub.cfg-0A000001", "grub.cfg-01-52-54"} {
		if _, ok := ParseGRUBConfigName(bad); ok {
			t.Errorf("ParseGRUBConfigName(%q) accepted", bad)
		}
	}
	if got := grubPath("http://10.0.0.1:8080/distros/a/vmlinuz", false); got != "(http,10.0.0.1:8080)/distros/a/vmlinuz" {
		t.Errorf("grubPath = %q", got)
	}
	if got := grubPath("http://10.0.0.1:8080/distros/a/vmlinuz", true); got != "(tftp,10.0.0.1)/distros/a/vmlinuz" {
		t.Errorf("grubPath over TFTP = %q", got)
	}
	if got := grubQuote("it's"); got != `'it'\''s'` {
		t.Errorf("grubQuote = %q", got)
	}
}

func TestEFILoaders(t *testing.T) {
	tests := []struct {
		fw         Firmware
		shim, grub string
		ok         bool
	}{
		{FirmwareEFIX64, "BOOTX64.EFI", "grubx64.efi", true},
		{FirmwareEFIARM64, "BOOTAA64.EFI", "grubaa64.efi", true},
		{FirmwareBIOS, "", "", false},
		{FirmwareEFIIA32, "", "", false},
		{FirmwareHTTPX64, "", "", false},
	}
	for _, tt := range tests {
		shim, grub, ok := EFILoaders(tt.fw)
		if shim != tt.shim || grub != tt.grub || ok != tt.ok {
			t.Errorf("EFILoaders(%v) = %q, %q, %v", tt.fw, shim, grub, ok)
		}
		if ok && (!IsEFILoader(shim) || !IsEFILoader(grub)) {
			t.Errorf("IsEFILoader does not know %s/%s", shim, grub)
		}
	}
	if IsEFILoader("snponly.efi") || IsEFILoader("grub.cfg") {
		t.Error("IsEFILoader accepts a file that is not shim or GRUB")
	}
}

// An aarch64 machine installing aarch64 media gets the same GRUB config
// shape, pointing at that media's kernel and initrd.
func TestRenderGRUBAArch64Golden(t *testing.T) {
	arm := store.Distro{Name: "rocky9-aarch64", Arch: "aarch64", Kernel: "images/pxeboot/vmlinuz", Initrd: "images/pxeboot/initrd.img"}
	ts := []Tree{{Profile: store.Profile{Name: "arm", Distro: arm.Name, KernelArgs: "console=ttyAMA0"}, Distro: arm}}
	d := Decide(Input{MAC: mac, Machine: machine("arm", store.StateNew), Trees: ts, BaseURL: "http://10.0.0.1:8080"})
	golden(t, filepath.Join("testdata", "grub-install-aarch64.cfg"), RenderGRUB(d, "kickstand"))
}

// A RHEL 8 GRUB (linuxefi, no http module) gets linuxefi/initrdefi with
// kernel and initrd over TFTP, in installs and in menus.
func TestRenderGRUBRHEL8Golden(t *testing.T) {
	base := "http://10.0.0.1:8080"
	rhel8 := GRUBDialect{LinuxEFI: true, TFTP: true}
	install := Decide(Input{MAC: mac, Machine: machine("web", store.StateBooting), Trees: trees(), BaseURL: base})
	install.GRUB = rhel8
	golden(t, filepath.Join("testdata", "grub-install-rhel8.cfg"), RenderGRUB(install, "kickstand"))
	menu := Decide(Input{MAC: mac, Machine: machine("", store.StateBooting), Trees: trees(), Unknown: UnknownMenu, BaseURL: base,
		Offers: map[string]string{"db": "OFFER-db", "web": "OFFER-web"}})
	menu.GRUB = rhel8
	golden(t, filepath.Join("testdata", "grub-menu-rhel8.cfg"), RenderGRUB(menu, "kickstand"))
}
