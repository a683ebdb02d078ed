package app

import (
	"context"
	"log/slog"
	"path/filepath"
	"strings"
	"testing"

	"kickstand/internal/config"
)

// TestRunWithoutLoaders: without syslinux where --bootloaders allows it,
// serve does not start, and says where it looked and what to do.
func TestRunWithoutLoaders(t *testing.T) {
	for mode, want := range map[string]string{
		"host":  "not found on the host (--bootloaders host): install them (Debian/Ubuntu: apt-get install pxelinux syslinux-common",
		"media": "not found on any imported distro's media (--bootloaders media): import RHEL-family install media",
		"auto":  "found neither on the host nor on any imported distro's media (--bootloaders auto)",
	} {
		dir := t.TempDir()
		cfg := config.Default()
		cfg.DataDir, cfg.Interface, cfg.DHCP, cfg.BootloaderDir = filepath.Join(dir, "data"), "lo", "off", dir
		cfg.Bootloaders, cfg.TFTPPort, cfg.HTTPPort, cfg.FTPPort = mode, freePort(t, "udp"), freePort(t, "tcp"), 0
		err := Run(context.Background(), cfg, slog.New(slog.DiscardHandler))
		if err == nil || !strings.Contains(err.Error(), "lpxelinux.0, pxelinux.0, ldlinux.c32, menu.c32, libutil.c32, libcom32.c32 "+want) {
			t.Errorf("--bootloaders %s: %v", mode, err)
		}
	}
}
