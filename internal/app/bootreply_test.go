package app

import (
	"context"
	"errors"
	"io"
	"io/fs"
	"log/slog"
	"net"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"kickstand/internal/boot"
	"kickstand/internal/bootfs"
	"kickstand/internal/dhcp"
	"kickstand/internal/netif"
	"kickstand/internal/store"
	"kickstand/internal/store/sqlite"
)

func TestBootReplyByFirmware(t *testing.T) {
	ctx := context.Background()
	db, err := sqlite.Open(ctx, filepath.Join(t.TempDir(), "data"))
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	log := slog.New(slog.DiscardHandler)
	a := &App{log: log, store: db, net: netif.Network{ServerIP: netip.MustParseAddr("10.0.0.1")},
		tree: &bootfs.Tree{Loaders: map[string]string{"snponly.efi": "/x/snponly.efi"}}}
	a.machines = &machines{store: db, unknown: boot.UnknownMenu, baseURL: "http://10.0.0.1", log: log}
	mac, _ := store.ParseMAC("52:54:00:00:00:07")
	tests := []struct {
		name     string
		facts    dhcp.ClientFacts
		wantOK   bool
		wantFile string
	}{
		{"BIOS PXE", dhcp.ClientFacts{MAC: mac}, true, "lpxelinux.0"},
		{"BIOS iPXE", dhcp.ClientFacts{MAC: mac, Arch: 0, HasArch: true, IPXE: true}, true, "lpxelinux.0"},
		{"UEFI x64 iPXE", dhcp.ClientFacts{MAC: mac, Arch: 7, HasArch: true, IPXE: true}, true, "http://10.0.0.1/ipxe/01-52-54-00-00-00-07.ipxe"},
		{"UEFI x64 firmware PXE", dhcp.ClientFacts{MAC: mac, Arch: 7, HasArch: true}, true, "snponly.efi"},
		{"UEFI x64 firmware PXE (arch 9)", dhcp.ClientFacts{MAC: mac, Arch: 9, HasArch: true}, true, "snponly.efi"},
		{"UEFI HTTP Boot x64", dhcp.ClientFacts{MAC: mac, Arch: 16, HasArch: true, HTTPClient: true}, true, "http://10.0.0.1/snponly.efi"},
		{"UEFI HTTP Boot ARM64 without aarch64 media", dhcp.ClientFacts{MAC: mac, Arch: 19, HasArch: true, HTTPClient: true}, false, ""},
		{"ARM64 iPXE (not yet)", dhcp.ClientFacts{MAC: mac, Arch: 11, HasArch: true, IPXE: true}, false, ""},
		{"unknown arch", dhcp.ClientFacts{MAC: mac, Arch: 42, HasArch: true}, false, ""},
	}
	for _, tt := range tests {
		r, ok := a.bootReply(ctx, tt.facts)
		if ok != tt.wantOK || r.BootFile != tt.wantFile {
			t.Errorf("%s: bootReply = %+v, %v; want %q, %v", tt.name, r, ok, tt.wantFile, tt.wantOK)
		}
		if ok && r.NextServer.String() != "10.0.0.1" {
			t.Errorf("%s: next-server %v, want 10.0.0.1", tt.name, r.NextServer)
		}
	}
	// --ipxe chains BIOS PXE into undionly.kpxe, and BIOS iPXE to its script.
	a.cfg.IPXE = true
	a.tree.Loaders["undionly.kpxe"] = "/x/undionly.kpxe"
	for _, tt := range []struct {
		name     string
		facts    dhcp.ClientFacts
		wantFile string
	}{
		{"--ipxe BIOS PXE", dhcp.ClientFacts{MAC: mac}, "undionly.kpxe"},
		{"--ipxe BIOS iPXE", dhcp.ClientFacts{MAC: mac, Arch: 0, HasArch: true, IPXE: true}, "http://10.0.0.1/ipxe/01-52-54-00-00-00-07.ipxe"},
		{"--ipxe UEFI x64 firmware PXE", dhcp.ClientFacts{MAC: mac, Arch: 7, HasArch: true}, "snponly.efi"},
	} {
		if r, ok := a.bootReply(ctx, tt.facts); !ok || r.BootFile != tt.wantFile {
			t.Errorf("%s: bootReply = %+v, %v; want %q", tt.name, r, ok, tt.wantFile)
		}
	}
	delete(a.tree.Loaders, "undionly.kpxe")
	if r, ok := a.bootReply(ctx, dhcp.ClientFacts{MAC: mac}); ok {
		t.Errorf("--ipxe without undionly.kpxe on the host: %+v, want no answer", r)
	}
	a.cfg.IPXE = false
	// --uefi-boot http declines UEFI PXE, so the firmware moves on to HTTP Boot,
	// but still answers iPXE and HTTP Boot clients.
	a.cfg.UEFIBoot = "http"
	if r, ok := a.bootReply(ctx, dhcp.ClientFacts{MAC: mac, Arch: 7, HasArch: true}); !ok || r.BootFile != boot.DeclineUEFIPXE {
		t.Errorf("--uefi-boot http answered UEFI PXE with %+v, %v; want the declining boot file", r, ok)
	}
	if f, err := a.tree.Open(ctx, boot.DeclineUEFIPXE, netip.Addr{}); err == nil {
		f.Close()
		t.Error("the declining boot file exists in the tree")
	}
	if _, ok := a.bootReply(ctx, dhcp.ClientFacts{MAC: mac, Arch: 16, HasArch: true, HTTPClient: true}); !ok {
		t.Error("--uefi-boot http did not answer HTTP Boot")
	}
	if _, ok := a.bootReply(ctx, dhcp.ClientFacts{MAC: mac, Arch: 7, HasArch: true, IPXE: true}); !ok {
		t.Error("--uefi-boot http did not answer iPXE")
	}
	a.cfg.UEFIBoot = "pxe"
	// Without iPXE on the host a UEFI firmware client gets no answer.
	a.tree.Loaders = nil
	if r, ok := a.bootReply(ctx, dhcp.ClientFacts{MAC: mac, Arch: 7, HasArch: true}); ok {
		t.Errorf("UEFI PXE without iPXE on the host: %+v, want no answer", r)
	}
	a.machines.unknown = boot.UnknownIgnore
	if r, ok := a.bootReply(ctx, dhcp.ClientFacts{MAC: mac}); !ok || !r.Ignore {
		t.Errorf("--unknown ignore: %+v, %v; want Ignore", r, ok)
	}
}

// In full mode a UEFI firmware client whose distro carries shim and GRUB gets
// the signed shim, and the tree serves the distro's shim and GRUB at the root;
// in proxy mode it gets iPXE.
func TestUEFIShimInFullMode(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	writeFile(t, filepath.Join(dir, "tree/EFI/BOOT/BOOTX64.EFI"), "signed shim")
	writeFile(t, filepath.Join(dir, "tree/EFI/BOOT/grubx64.efi"), "grub")
	writeFile(t, filepath.Join(dir, "tree/EFI/BOOT/mmx64.efi"), "mok manager")
	db, err := sqlite.Open(ctx, filepath.Join(dir, "data"))
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	mac, _ := store.ParseMAC("52:54:00:00:00:08")
	if err := db.AddDistro(ctx, store.Distro{Name: "rocky9", Source: filepath.Join(dir, "tree")}); err != nil {
		t.Fatal(err)
	}
	db.AddProfile(ctx, store.Profile{Name: "web", Distro: "rocky9"})
	db.PutMachine(ctx, store.Machine{MAC: mac, Profile: "web", State: store.StateNew, Token: "t"})
	log := slog.New(slog.DiscardHandler)
	a := &App{log: log, store: db, peers: newNeighbours(""), net: netif.Network{ServerIP: netip.MustParseAddr("10.0.0.1")}}
	a.cfg.DHCP = "full"
	a.machines = &machines{store: db, unknown: boot.UnknownMenu, baseURL: "http://10.0.0.1", log: log}
	a.tree = &bootfs.Tree{Loaders: map[string]string{"snponly.efi": "/x"}, Distro: a.distroSource, Default: a.defaultDistro, Generate: a.generate}
	uefi := dhcp.ClientFacts{MAC: mac, Arch: 7, HasArch: true}
	if r, ok := a.bootReply(ctx, uefi); !ok || r.BootFile != boot.ShimX64 {
		t.Fatalf("full mode: %+v, %v; want %s", r, ok, boot.ShimX64)
	}
	a.peers.learn(netip.MustParseAddr("10.0.0.50"), mac)
	// shim's MokManager comes from the media too, where it has one.
	for name, want := range map[string]string{boot.ShimX64: "signed shim", boot.GRUBX64: "grub", boot.MokManagerX64: "mok manager"} {
		f, err := a.tree.Open(ctx, name, netip.MustParseAddr("10.0.0.50"))
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		b, _ := io.ReadAll(f)
		f.Close()
		if string(b) != want {
			t.Errorf("%s = %q, want %q", name, b, want)
		}
	}
	if _, err := a.tree.Open(ctx, boot.FallbackX64, netip.MustParseAddr("10.0.0.50")); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("fbx64.efi, which the media lacks: %v, want not found", err)
	}
	// An aarch64 machine gets its media's BOOTAA64.EFI when the distro has it.
	arm, _ := store.ParseMAC("52:54:00:00:00:09")
	writeFile(t, filepath.Join(dir, "arm/EFI/BOOT/BOOTAA64.EFI"), "arm shim")
	writeFile(t, filepath.Join(dir, "arm/EFI/BOOT/grubaa64.efi"), "arm grub")
	db.AddDistro(ctx, store.Distro{Name: "rocky9-aarch64", Arch: "aarch64", Source: filepath.Join(dir, "arm")})
	db.AddProfile(ctx, store.Profile{Name: "arm", Distro: "rocky9-aarch64"})
	db.PutMachine(ctx, store.Machine{MAC: arm, Profile: "arm", State: store.StateNew, Token: "t2"})
	armFacts := dhcp.ClientFacts{MAC: arm, Arch: 11, HasArch: true}
	if r, ok := a.bootReply(ctx, armFacts); !ok || r.BootFile != boot.ShimARM64 {
		t.Fatalf("aarch64 full mode: %+v, %v; want %s", r, ok, boot.ShimARM64)
	}
	a.peers.learn(netip.MustParseAddr("10.0.0.51"), arm)
	if f, err := a.tree.Open(ctx, boot.GRUBARM64, netip.MustParseAddr("10.0.0.51")); err != nil {
		t.Fatalf("grubaa64.efi: %v", err)
	} else {
		b, _ := io.ReadAll(f)
		f.Close()
		if string(b) != "arm grub" {
			t.Errorf("grubaa64.efi = %q", b)
		}
	}

	// UEFI HTTP Boot on aarch64: the distro's shim by URL.
	armHTTP := dhcp.ClientFacts{MAC: arm, Arch: 19, HasArch: true, HTTPClient: true}
	if r, ok := a.bootReply(ctx, armHTTP); !ok || r.BootFile != "http://10.0.0.1/"+boot.ShimARM64 {
		t.Fatalf("aarch64 HTTP Boot: %+v, %v; want the URL of %s", r, ok, boot.ShimARM64)
	}
	// UEFI HTTP Boot on x64: the distro's shim by URL.
	x64HTTP := dhcp.ClientFacts{MAC: mac, Arch: 16, HasArch: true, HTTPClient: true}
	if r, ok := a.bootReply(ctx, x64HTTP); !ok || r.BootFile != "http://10.0.0.1/"+boot.ShimX64 {
		t.Fatalf("x64 HTTP Boot: %+v, %v; want the URL of %s", r, ok, boot.ShimX64)
	}
	// --ipxe in full mode: x64 firmware gets iPXE, not shim; aarch64 still shim.
	a.cfg.IPXE = true
	if r, ok := a.bootReply(ctx, uefi); !ok || r.BootFile != boot.IPXEEFI {
		t.Fatalf("full mode with --ipxe: %+v, %v; want %s", r, ok, boot.IPXEEFI)
	}
	if r, ok := a.bootReply(ctx, armFacts); !ok || r.BootFile != boot.ShimARM64 {
		t.Fatalf("aarch64 full mode with --ipxe: %+v, %v; want %s", r, ok, boot.ShimARM64)
	}
	a.cfg.IPXE = false

	a.cfg.DHCP = "proxy"
	if r, ok := a.bootReply(ctx, uefi); !ok || r.BootFile != boot.IPXEEFI {
		t.Fatalf("proxy mode: %+v, %v; want %s", r, ok, boot.IPXEEFI)
	}
	// There is no iPXE for aarch64 here: in proxy mode it gets no answer.
	if r, ok := a.bootReply(ctx, armFacts); ok {
		t.Fatalf("aarch64 proxy mode: %+v, want no answer", r)
	}

	// Proxy mode, media whose GRUB takes proxy offers (Rocky 9.6): shim.
	el9, _ := store.ParseMAC("52:54:00:00:00:0a")
	db.AddDistro(ctx, store.Distro{Name: "rocky96", Family: "Rocky Linux", Version: "9.6", Source: filepath.Join(dir, "tree")})
	db.AddProfile(ctx, store.Profile{Name: "el9", Distro: "rocky96"})
	db.PutMachine(ctx, store.Machine{MAC: el9, Profile: "el9", State: store.StateNew, Token: "t3"})
	el9Facts := dhcp.ClientFacts{MAC: el9, Arch: 7, HasArch: true}
	for _, tc := range []struct {
		setting string
		facts   dhcp.ClientFacts
		want    string
	}{
		{"auto", el9Facts, boot.ShimX64},
		{"auto", uefi, boot.IPXEEFI}, // a distro that does not say what it is
		{"off", el9Facts, boot.IPXEEFI},
		{"on", uefi, boot.ShimX64},
		// Over HTTP Boot the firmware reads the proxy offer: shim whatever GRUB.
		{"off", dhcp.ClientFacts{MAC: mac, Arch: 16, HasArch: true, HTTPClient: true}, "http://10.0.0.1/" + boot.ShimX64},
	} {
		a.cfg.ProxyShim = tc.setting
		if r, ok := a.bootReply(ctx, tc.facts); !ok || r.BootFile != tc.want {
			t.Errorf("proxy mode, --proxy-shim %s, %s: %+v, %v; want %s", tc.setting, tc.facts.MAC, r, ok, tc.want)
		}
	}
}

// The GRUB config a machine gets speaks its distro's GRUB: linux/initrd
// over http for a GRUB 2.06 with http, linuxefi/initrdefi over TFTP for a
// RHEL 8 one without, and the former when the image cannot be read.
func TestGRUBConfigFollowsTheDistrosGRUB(t *testing.T) {
	requireTools(t, "grub-mkimage")
	ctx := context.Background()
	dir := t.TempDir()
	mkimage := func(tree string, modules ...string) {
		out := filepath.Join(dir, tree, "EFI/BOOT/grubx64.efi")
		os.MkdirAll(filepath.Dir(out), 0o755)
		args := append([]string{"-O", "x86_64-efi", "-p", "", "-o", out}, modules...)
		if b, err := exec.Command("grub-mkimage", args...).CombinedOutput(); err != nil {
			t.Fatalf("grub-mkimage: %v\n%s", err, b)
		}
	}
	mkimage("el9", "normal", "linux", "efinet", "tftp", "http")
	writeFile(t, filepath.Join(dir, "el9/EFI/BOOT/grub.cfg"), "menuentry 'Install' {\n\tlinux /images/pxeboot/vmlinuz\n\tinitrd /images/pxeboot/initrd.img\n}\n")
	mkimage("el8", "normal", "linux", "linuxefi", "efinet", "tftp")
	writeFile(t, filepath.Join(dir, "el8/EFI/BOOT/grub.cfg"), "menuentry 'Install' {\n\tlinuxefi /images/pxeboot/vmlinuz\n\tinitrdefi /images/pxeboot/initrd.img\n}\n")
	writeFile(t, filepath.Join(dir, "junk/EFI/BOOT/grubx64.efi"), "not a GRUB image")

	a, db := grubApp(t, dir)
	for i, tc := range []struct{ distro, linux, initrd, from string }{
		{"el9", "\tlinux '(http,10.0.0.1:8080)/distros/el9/images/pxeboot/vmlinuz'", "\tinitrd '(http,10.0.0.1:8080)/", "http"},
		{"el8", "\tlinuxefi '(tftp,10.0.0.1)/distros/el8/images/pxeboot/vmlinuz'", "\tinitrdefi '(tftp,10.0.0.1)/", "tftp"},
		{"junk", "\tlinux '(http,10.0.0.1:8080)/distros/junk/images/pxeboot/vmlinuz'", "\tinitrd '(http,10.0.0.1:8080)/", "http"},
	} {
		mac := net.HardwareAddr{0x52, 0x54, 0, 0, 1, byte(i)}
		db.AddDistro(ctx, store.Distro{Name: tc.distro, Arch: "x86_64", Source: filepath.Join(dir, tc.distro),
			Kernel: "images/pxeboot/vmlinuz", Initrd: "images/pxeboot/initrd.img"})
		db.AddProfile(ctx, store.Profile{Name: tc.distro, Distro: tc.distro})
		db.PutMachine(ctx, store.Machine{MAC: mac, Profile: tc.distro, State: store.StateNew, Token: "t" + tc.distro})
		f, err := a.tree.Open(ctx, boot.GRUBConfigName(mac), netip.Addr{})
		if err != nil {
			t.Fatalf("%s: %v", tc.distro, err)
		}
		b, _ := io.ReadAll(f)
		f.Close()
		if !strings.Contains(string(b), tc.linux) || !strings.Contains(string(b), tc.initrd) {
			t.Errorf("%s: GRUB config loads the kernel not as %q ... over %s:\n%s", tc.distro, tc.linux, tc.from, b)
		}
	}
}

// A GRUB that reads a grub.cfg whose name has no MAC — Debian's netboot GRUB,
// whose built-in prefix /grub makes it read grub/grub.cfg, or any GRUB at the
// root — gets the config of the machine at its address; an address that is no
// known machine's gets the shared config that boots the disk, and a directory
// that is not the GRUB's prefix has no grub.cfg.
func TestGRUBConfigByAddress(t *testing.T) {
	requireTools(t, "grub-mkimage")
	ctx := context.Background()
	dir := t.TempDir()
	image := filepath.Join(dir, "deb/EFI/BOOT/grubx64.efi")
	os.MkdirAll(filepath.Dir(image), 0o755)
	if b, err := exec.Command("grub-mkimage", "-O", "x86_64-efi", "-p", "/grub", "-o", image,
		"normal", "linux", "efinet", "tftp", "http").CombinedOutput(); err != nil {
		t.Fatalf("grub-mkimage: %v\n%s", err, b)
	}
	a, db := grubApp(t, dir)
	mac := net.HardwareAddr{0x52, 0x54, 0, 0, 2, 1}
	db.AddDistro(ctx, store.Distro{Name: "deb", Arch: "x86_64", Source: filepath.Join(dir, "deb"),
		Kernel: "images/pxeboot/vmlinuz", Initrd: "images/pxeboot/initrd.img"})
	db.AddProfile(ctx, store.Profile{Name: "deb", Distro: "deb"})
	db.PutMachine(ctx, store.Machine{MAC: mac, Profile: "deb", State: store.StateNew, Token: "tdeb"})
	machineIP, stranger := netip.MustParseAddr("10.0.0.60"), netip.MustParseAddr("192.0.2.99")
	a.peers.learn(machineIP, mac)
	read := func(name string, client netip.Addr) (string, error) {
		f, err := a.tree.Open(ctx, name, client)
		if err != nil {
			return "", err
		}
		defer f.Close()
		b, err := io.ReadAll(f)
		return string(b), err
	}
	install := "\tlinux '(http,10.0.0.1:8080)/distros/deb/images/pxeboot/vmlinuz'"
	for _, tc := range []struct {
		name   string
		client netip.Addr
		want   string // "" for not found
	}{
		{"grub/grub.cfg", machineIP, install},
		{"/grub/grub.cfg", machineIP, install},
		{"grub.cfg", machineIP, install},
		{"grub.cfg", stranger, "\texit\n"},
		{"grub/grub.cfg", stranger, ""},
		{"other/grub.cfg", machineIP, ""},
		{"grub/x86_64-efi/grub.cfg", machineIP, ""},
	} {
		got, err := read(tc.name, tc.client)
		switch {
		case tc.want == "" && !errors.Is(err, fs.ErrNotExist):
			t.Errorf("%s from %s: %v\n%s\nwant not found", tc.name, tc.client, err, got)
		case tc.want != "" && (err != nil || !strings.Contains(got, tc.want)):
			t.Errorf("%s from %s: %v\n%s\nwant a config with %q", tc.name, tc.client, err, got, tc.want)
		}
	}
}

// grubApp is an App on a store in dir whose GRUB configs follow each
// distro's GRUB, with HTTP at 10.0.0.1:8080.
func grubApp(t *testing.T, dir string) (*App, store.Store) {
	t.Helper()
	db, err := sqlite.Open(context.Background(), filepath.Join(dir, "data"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	log := slog.New(slog.DiscardHandler)
	a := &App{log: log, store: db, peers: newNeighbours("")}
	a.machines = &machines{store: db, unknown: boot.UnknownMenu, baseURL: "http://10.0.0.1:8080", grub: a.grubDialect, log: log}
	a.tree = &bootfs.Tree{Distro: a.distroSource, Default: a.defaultDistro, Generate: a.generate}
	return a, db
}
