package app

import (
	"context"
	"strconv"

	"kickstand/internal/config"
	"kickstand/internal/dhcp"
	"kickstand/internal/firewall"
	"kickstand/internal/ftp"
	"kickstand/internal/netif"
)

// FirewallTarget is what a server with cfg serves on n, for the firewall
// check: DHCP (a broadcast from clients without an address) and the PXE
// boot server port, TFTP, HTTP, FTP and its passive range.
func FirewallTarget(cfg config.Config, n netif.Network) firewall.Target {
	t := firewall.Target{Interface: n.Interface, ServerIP: n.ServerIP}
	if cfg.DHCP != "off" {
		t.Ports = append(t.Ports,
			firewall.Port{Proto: "udp", First: 67, Service: "DHCP", Broadcast: true},
			firewall.Port{Proto: "udp", First: dhcp.DefaultPXEPort, Service: "PXE boot server"})
	}
	t.Ports = append(t.Ports,
		firewall.Port{Proto: "udp", First: cfg.TFTPPort, Service: "TFTP"},
		firewall.Port{Proto: "tcp", First: cfg.HTTPPort, Service: "HTTP"})
	if cfg.FTPPort != 0 {
		t.Ports = append(t.Ports, firewall.Port{Proto: "tcp", First: cfg.FTPPort, Service: "FTP"})
		if r, err := ftp.ParsePortRange(cfg.FTPPassive); err == nil {
			t.Ports = append(t.Ports, firewall.Port{Proto: "tcp", First: r[0], Last: r[1], Service: "FTP passive"})
		}
	}
	return t
}

// firewall checks, at start, whether the host's firewall lets clients
// reach every port, and warns per blocked port with the command that opens
// it; with --open-firewall it opens them until done is called. What a
// killed earlier run opened is removed first. A host without firewall
// tools is no problem.
func (a *App) firewallAtStart(ctx context.Context) (done func()) {
	done = func() {}
	if err := firewall.Cleanup(ctx, a.cfg.DataDir); err != nil {
		a.log.Warn("firewall: could not remove what an earlier run opened", "err", err)
	}
	t := FirewallTarget(a.cfg, a.net)
	if !a.cfg.OpenFirewall {
		rep, err := firewall.Check(ctx, t)
		if err != nil {
			a.log.Debug("firewall: not checked", "err", err)
			return done
		}
		for _, w := range rep.Warnings("run kickstand serve --open-firewall") {
			a.log.Warn(w)
		}
		return done
	}
	opened, err := firewall.Open(ctx, t, a.cfg.DataDir)
	if err != nil {
		a.log.Error("firewall: --open-firewall failed; open the ports by hand", "err", err)
		return done
	}
	for _, rule := range opened.Added {
		a.log.Info("firewall: opened for this run: " + rule)
	}
	for _, w := range opened.After.Warnings("") {
		a.log.Warn(w)
	}
	return func() {
		if err := opened.Close(); err != nil {
			a.log.Error("firewall: could not remove what --open-firewall added: "+
				"it is recorded in "+strconv.Quote(a.cfg.DataDir)+" and removed at the next start", "err", err)
		}
	}
}
