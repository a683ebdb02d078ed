package app

import (
	"context"
	"io"
	"log/slog"
	"net/netip"
	"path/filepath"
	"testing"

	"kickstand/internal/boot"
	"kickstand/internal/bootfs"
	"kickstand/internal/dhcp"
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
	a := &App{log: log, store: db, net: Network{ServerIP: netip.MustParseAddr("10.0.0.1")},
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
		{"UEFI HTTP Boot ARM64 (not yet)", dhcp.ClientFacts{MAC: mac, Arch: 19, HasArch: true, HTTPClient: true}, false, ""},
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
	// --uefi-boot http declines UEFI PXE, so the firmware moves on to HTTP Boot,
	// but still answers iPXE and HTTP Boot clients.
	a.cfg.UEFIBoot = "http"
	if r, ok := a.bootReply(ctx, dhcp.ClientFacts{MAC: mac, Arch: 7, HasArch: true}); ok {
		t.Errorf("--uefi-boot http answered UEFI PXE: %+v", r)
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
	a := &App{log: log, store: db, peers: newNeighbours(), net: Network{ServerIP: netip.MustParseAddr("10.0.0.1")}}
	a.cfg.DHCP = "full"
	a.machines = &machines{store: db, unknown: boot.UnknownMenu, baseURL: "http://10.0.0.1", log: log}
	a.tree = &bootfs.Tree{Loaders: map[string]string{"snponly.efi": "/x"}, Distro: a.distroSource, Default: a.defaultDistro, Generate: a.generate}
	uefi := dhcp.ClientFacts{MAC: mac, Arch: 7, HasArch: true}
	if r, ok := a.bootReply(ctx, uefi); !ok || r.BootFile != boot.ShimX64 {
		t.Fatalf("full mode: %+v, %v; want %s", r, ok, boot.ShimX64)
	}
	a.peers.learn(netip.MustParseAddr("10.0.0.50"), mac)
	for name, want := range map[string]string{boot.ShimX64: "signed shim", boot.GRUBX64: "grub"} {
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

	a.cfg.DHCP = "proxy"
	if r, ok := a.bootReply(ctx, uefi); !ok || r.BootFile != boot.IPXEEFI {
		t.Fatalf("proxy mode: %+v, %v; want %s", r, ok, boot.IPXEEFI)
	}
	// There is no iPXE for aarch64 here: in proxy mode it gets no answer.
	if r, ok := a.bootReply(ctx, armFacts); ok {
		t.Fatalf("aarch64 proxy mode: %+v, want no answer", r)
	}
}
