package app

import (
	"context"
	"errors"
	"io"
	"net"
	"net/netip"

	"kickstand/internal/boot"
	"kickstand/internal/store"
)

// generate makes the tree's per-client files: boot configs, and the shim and
// GRUB a UEFI machine fetches from the TFTP root, taken from its distro.
func (a *App) generate(ctx context.Context, name string, client netip.Addr) ([]byte, bool, error) {
	if !boot.IsEFILoader(name) {
		return a.machines.generate(ctx, name, client)
	}
	mac, _ := a.peers.lookup(client)
	distro, err := a.distroFor(ctx, mac)
	if err != nil || distro == "" {
		return nil, false, err
	}
	f, err := a.tree.Open(ctx, efiPath(distro, name), client)
	if err != nil {
		return nil, false, err
	}
	defer f.Close()
	b, err := io.ReadAll(f)
	return b, err == nil, err
}

func efiPath(distro, name string) string { return "distros/" + distro + "/EFI/BOOT/" + name }

// distroFor is the distro a machine installs: its profile's, else (unknown
// machines, menus) the default distro.
func (a *App) distroFor(ctx context.Context, mac net.HardwareAddr) (string, error) {
	if len(mac) > 0 {
		m, err := a.store.Machine(ctx, mac)
		if err != nil && !errors.Is(err, store.ErrNotFound) {
			return "", err
		}
		if err == nil && m.Profile != "" {
			p, err := a.store.Profile(ctx, m.Profile)
			if err != nil {
				return "", err
			}
			return p.Distro, nil
		}
	}
	return a.defaultDistro(ctx)
}

// hasShim reports whether the distro carries shim and GRUB for the firmware.
func (a *App) hasShim(ctx context.Context, distro string, fw boot.Firmware) bool {
	shim, grub, ok := boot.EFILoaders(fw)
	if !ok {
		return false
	}
	for _, name := range []string{shim, grub} {
		f, err := a.tree.Open(ctx, efiPath(distro, name), netip.Addr{})
		if err != nil {
			return false
		}
		f.Close()
	}
	return true
}

// uefiBootFile chooses what a UEFI firmware (not iPXE) client boots: in
// full mode the distro's signed shim, which loads the distro's GRUB, so that
// Secure Boot machines install; in proxy mode (where GRUB would read the LAN
// server's answer, not ours) or without shim, iPXE (x64 only).
func (a *App) uefiBootFile(ctx context.Context, mac net.HardwareAddr, fw boot.Firmware) (string, bool) {
	if a.cfg.DHCP == "full" {
		if d, err := a.distroFor(ctx, mac); err == nil && d != "" && a.hasShim(ctx, d, fw) {
			shim, _, _ := boot.EFILoaders(fw)
			return shim, true
		}
	}
	if _, ok := a.tree.Loaders[boot.IPXEEFI]; ok && fw == boot.FirmwareEFIX64 {
		return boot.IPXEEFI, true
	}
	a.log.Warn("no boot answer for a UEFI client: no shim for it in its distro (or proxy mode) and no iPXE for it; for x64 install the ipxe package (Debian) or ipxe-bootimgs-x86 (RHEL)",
		"mac", mac.String(), "firmware", fw.String())
	return "", false
}
