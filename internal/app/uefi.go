package app

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net"
	"net/netip"
	"path"
	"sync"

	"kickstand/internal/boot"
	"kickstand/internal/bootfs"
	"kickstand/internal/distro"
	"kickstand/internal/store"
	"kickstand/internal/treepath"
)

// generate makes the tree's per-client files: boot configs, and the shim and
// GRUB a UEFI machine fetches from the TFTP root, taken from its distro.
func (a *App) generate(ctx context.Context, name string, client netip.Addr) ([]byte, bool, error) {
	if path.Base(name) == "grub.cfg" {
		return a.grubConfigByAddress(ctx, name, client)
	}
	if !boot.IsEFILoader(name) {
		return a.machines.generate(ctx, name, client)
	}
	mac, _ := a.peers.lookup(client)
	d, err := a.distroFor(ctx, mac)
	if err != nil || d == "" {
		return nil, false, err
	}
	b, err := a.readTreeFile(ctx, treepath.EFI(d, name), maxGRUBImage)
	return b, err == nil, err
}

// grubConfigByAddress answers a request for grub.cfg, at the root or in the
// config directory of the client's GRUB (Debian's netboot GRUB reads only
// $prefix/grub.cfg; RHEL's, booted over HTTP, only the grub.cfg beside
// itself): the config of the machine at the client's address. A client
// that is no known machine's, or not the machine's own address, gets the
// shared config, which boots from the local disk.
func (a *App) grubConfigByAddress(ctx context.Context, name string, client netip.Addr) ([]byte, bool, error) {
	mac, known := a.peers.lookup(client)
	dir := path.Dir(name)
	if dir != "." && (!known || dir != a.grubDialect(ctx, mac).ConfigDir) {
		return nil, false, nil
	}
	if known {
		b, ok, err := a.machines.grubByAddress(ctx, name, mac, client)
		if ok || err != nil {
			return b, ok, err
		}
	}
	return a.machines.generate(ctx, "grub.cfg", client)
}

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

// hasShim reports whether the distro mac installs carries shim and GRUB
// for the firmware.
func (a *App) hasShim(ctx context.Context, mac net.HardwareAddr, fw boot.Firmware) bool {
	shim, grub, ok := boot.EFILoaders(fw)
	d, err := a.distroFor(ctx, mac)
	if !ok || err != nil || d == "" {
		return false
	}
	for _, name := range []string{shim, grub} {
		f, err := a.tree.Open(ctx, treepath.EFI(d, name), netip.Addr{})
		if err != nil {
			return false
		}
		f.Close()
	}
	return true
}

// proxyGRUB reports whether the GRUB of the distro mac installs takes its
// server from a proxyDHCP offer: --proxy-shim on or off, else what the
// distro's family and version say (boot.GRUBTakesProxyOffers).
func (a *App) proxyGRUB(ctx context.Context, mac net.HardwareAddr) bool {
	switch a.cfg.ProxyShim {
	case "on":
		return true
	case "off":
		return false
	}
	name, err := a.distroFor(ctx, mac)
	if err != nil || name == "" {
		return false
	}
	d, err := a.store.Distro(ctx, name)
	return err == nil && boot.GRUBTakesProxyOffers(d.Family, d.Version)
}

// maxGRUBImage bounds what is read of a distro's shim or GRUB image
// (distros' are 1-4 MiB).
const maxGRUBImage = 64 << 20

// grubDialects caches each distro's GRUB dialect, keyed by the distro's
// source as imported, so that a re-import reads it again.
type grubDialects struct {
	mu sync.Mutex
	m  map[bootfs.Source]boot.GRUBDialect
}

// grubDialect is what the GRUB that mac runs understands: its distro's
// grubx64.efi (grubaa64.efi for aarch64 media) and grub.cfg. When they
// cannot be read it is GRUB 2.06's linux/initrd over http, and logged. What
// the media says is cached; a failed read (a client gone, an I/O error) is
// tried again on the next request.
func (a *App) grubDialect(ctx context.Context, mac net.HardwareAddr) boot.GRUBDialect {
	name, err := a.distroFor(ctx, mac)
	if err != nil || name == "" {
		return boot.GRUBDialect{}
	}
	src, err := a.distroSource(ctx, name)
	if err != nil {
		return boot.GRUBDialect{}
	}
	a.grubs.mu.Lock()
	g, ok := a.grubs.m[src]
	a.grubs.mu.Unlock()
	if ok {
		return g
	}
	// Read without the lock: other machines' configs need not wait for it.
	g, err = a.readGRUB(context.WithoutCancel(ctx), name)
	var bad *distro.BadGRUBError
	switch {
	case err == nil:
		a.log.Info("distro GRUB", "distro", name, "linuxefi", g.LinuxEFI, "http", !g.TFTP, "config-dir", g.ConfigDir)
	case errors.As(err, &bad), errors.Is(err, fs.ErrNotExist):
		a.log.Warn("cannot tell what the distro's GRUB understands; GRUB configs use linux/initrd over http", "distro", name, "err", err)
	default:
		a.log.Warn("reading the distro's GRUB failed; trying again on the next request", "distro", name, "err", err)
		return g
	}
	a.grubs.mu.Lock()
	defer a.grubs.mu.Unlock()
	if a.grubs.m == nil {
		a.grubs.m = map[bootfs.Source]boot.GRUBDialect{}
	}
	a.grubs.m[src] = g
	return g
}

func (a *App) readGRUB(ctx context.Context, name string) (boot.GRUBDialect, error) {
	d, err := a.store.Distro(ctx, name)
	if err != nil {
		return boot.GRUBDialect{}, err
	}
	grub := boot.GRUBX64
	if d.Arch == "aarch64" {
		grub = boot.GRUBARM64
	}
	image, err := a.readTreeFile(ctx, treepath.EFI(name, grub), maxGRUBImage)
	if err != nil {
		return boot.GRUBDialect{}, err
	}
	cfg, err := a.readTreeFile(ctx, treepath.EFI(name, "grub.cfg"), 1<<20)
	if err != nil && !errors.Is(err, fs.ErrNotExist) {
		return boot.GRUBDialect{}, err
	}
	g, err := distro.ReadGRUB(image, cfg)
	if err != nil {
		return boot.GRUBDialect{}, &distro.BadGRUBError{Name: grub, Err: err}
	}
	// Where it looks, as its own configs say: for a person reading why a
	// machine asked for the files it did.
	a.log.Debug("distro GRUB image", "distro", name, "prefix", g.Prefix, "embedded-config", g.Config != "",
		"memdisk-config", g.MemdiskConfig != "", "sources-under-prefix", g.PrefixConfigs)
	return boot.GRUBDialect{LinuxEFI: g.LinuxEFI, TFTP: !g.HTTP, ConfigDir: boot.GRUBConfigDir(g.Prefix)}, nil
}

// readTreeFile reads a file of the served tree, up to limit bytes.
func (a *App) readTreeFile(ctx context.Context, name string, limit int64) ([]byte, error) {
	f, err := a.tree.Open(ctx, name, netip.Addr{})
	if err != nil {
		return nil, err
	}
	defer f.Close()
	b, err := io.ReadAll(io.LimitReader(f, limit+1))
	if err == nil && int64(len(b)) > limit {
		err = fmt.Errorf("%s is larger than %d bytes", name, limit)
	}
	return b, err
}
