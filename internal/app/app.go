// Package app is the one place that wires kickstand together: it opens the
// store, builds the boot tree and the boot decisions, and runs every server
// under one errgroup until the context ends.
package app

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"net"
	"net/netip"
	"strings"
	"syscall"
	"time"

	"golang.org/x/sync/errgroup"

	"kickstand/internal/api"
	"kickstand/internal/boot"
	"kickstand/internal/bootfs"
	"kickstand/internal/config"
	"kickstand/internal/dhcp"
	"kickstand/internal/events"
	"kickstand/internal/httpd"
	"kickstand/internal/inventory"
	"kickstand/internal/loaders"
	"kickstand/internal/metrics"
	"kickstand/internal/netif"
	"kickstand/internal/sdnotify"
	"kickstand/internal/store"
	"kickstand/internal/store/backend"
	"kickstand/internal/tftp"
	"kickstand/internal/transfers"
	"kickstand/internal/web"
)

// App is a running kickstand server.
type App struct {
	cfg      config.Config
	log      *slog.Logger
	store    store.Store
	net      netif.Network
	machines *machines
	tree     *bootfs.Tree
	bus      *events.Bus
	feed     *events.Feed // the live views' copy of every recorded event
	peers    *neighbours
	defaults []string // distros named by --iso; the first is served at pub/
	grubs    grubDialects
	// transfers are the files in flight, for the live views.
	transfers transfers.Tracker
	metrics   *metrics.Metrics  // what the servers did, counted at the source
	systemd   sdnotify.Notifier // told when every socket is open and when stopping
	// loaders are the boot loaders served and where each came from.
	loaders loaders.Result
}

// Run starts every server described by cfg and blocks until ctx ends or a
// server fails.
func Run(ctx context.Context, cfg config.Config, log *slog.Logger) error {
	if err := cfg.Validate(); err != nil {
		return err
	}
	a, err := newApp(ctx, cfg, log)
	if err != nil {
		return err
	}
	defer a.store.Close()
	a.systemd = sdnotify.FromEnv()
	return a.serve(ctx)
}

func newApp(ctx context.Context, cfg config.Config, log *slog.Logger) (*App, error) {
	network, err := netif.Resolve(cfg.Interface, cfg.ServerIP)
	if err != nil {
		return nil, err
	}
	unknown, err := boot.ParseUnknown(cfg.Unknown)
	if err != nil {
		return nil, err
	}
	db, err := backend.Open(ctx, cfg.Store, cfg.DataDir)
	if err != nil {
		return nil, err
	}
	// On SQLite the server stores leases through the journal: an ACK waits
	// for a write(2), not a transaction (sqlite.EnableLeaseJournal). A
	// shared PostgreSQL store decides each lease in the database.
	if j, ok := db.(leaseJournaler); ok {
		if err := j.EnableLeaseJournal(ctx, func(err error) {
			log.Error("store: leases wait in the journal: "+err.Error(), "retry", "in a second")
		}); err != nil {
			db.Close()
			return nil, err
		}
	}
	st := newAbsentStore(db)
	a := &App{cfg: cfg, log: log, store: st, net: network, bus: events.New(0), feed: &events.Feed{}, peers: newNeighbours(network.Interface)}
	if a.defaults, err = inventory.EnsureISOs(ctx, db, cfg.ISOs, progressWriter()); err != nil {
		db.Close()
		return nil, err
	}
	if err := a.findLoaders(ctx); err != nil {
		db.Close()
		return nil, err
	}
	a.machines = &machines{store: st, unknown: unknown, baseURL: netif.BaseURL(network.ServerIP, cfg.HTTPPort),
		pubDistro: a.defaultDistro, grub: a.grubDialect, source: a.sourceOf, log: log,
		discoveries: newRateLimit(discoverRate, discoverBurst), wireEvents: rateLimits{rate: eventRate, burst: eventBurst, maxKeys: 8192},
		feed: a.feed}
	if cfg.FTPPort != 0 {
		a.machines.ftpBase = netif.FTPBase(network.ServerIP, cfg.FTPPort)
	}
	a.metrics = metrics.New(metrics.Sources{ActiveTransfers: a.transfers.Active, EventsDropped: a.bus.Dropped,
		LiveDropped: a.feed.Dropped, EventsUnrecorded: a.machines.unrecorded.Load})
	a.tree = &bootfs.Tree{Loaders: a.loaders.Paths(), Distro: a.distroSource, Distros: a.distroNames,
		Default: a.defaultDistro, Generate: a.generate}
	a.reportSources(ctx)
	a.reportProfiles(ctx)
	return a, nil
}

// noFiles is the file tree of the API's own listener: none.
func noFiles(context.Context, string, netip.Addr) (httpd.File, error) {
	return nil, fs.ErrNotExist
}

// busyPoll maps --tftp-busy-poll to tftp.Server.BusyPoll, where 0 is the default.
func busyPoll(d time.Duration) time.Duration {
	if d == 0 {
		return -1
	}
	return d
}

// tftpBlockSize is the largest TFTP block granted: --tftp-max-blksize, or
// what fits the interface's MTU.
func (a *App) tftpBlockSize() int {
	if a.cfg.TFTPMaxBlockSize > 0 {
		return a.cfg.TFTPMaxBlockSize
	}
	return a.net.TFTPBlockSize()
}

// tftpReadBuffer is the receive buffer asked for on the TFTP socket.
const tftpReadBuffer = 4 << 20

// reportProfiles warns at start about profiles whose kickstart this server
// would not serve (its --password-policy, a snippet changed since the
// profile was written).
func (a *App) reportProfiles(ctx context.Context) {
	ps, err := a.store.Profiles(ctx)
	if err != nil {
		a.log.Error("list profiles", "err", err)
		return
	}
	for _, p := range ps {
		var invalid *inventory.InvalidError
		if _, err := inventory.CheckProfile(ctx, a.store, p, a.site(ctx)); errors.As(err, &invalid) {
			a.log.Warn("profile's kickstart would not be served: fix it, or set its --password-policy", "profile", p.Name, "err", err)
		}
	}
}

// serve opens every socket first, so that a port in use fails the start
// with a clear message, then runs the servers.
func (a *App) serve(ctx context.Context) error {
	defer a.firewallAtStart(ctx)()
	var lc net.ListenConfig
	tftpConn, err := lc.ListenPacket(ctx, "udp4", fmt.Sprintf(":%d", a.cfg.TFTPPort))
	if err != nil {
		return portError("TFTP", "--tftp-port", err)
	}
	defer tftpConn.Close()
	// A boot storm's requests arrive together: room for them in the socket
	// (the kernel caps it at net.core.rmem_max).
	if u, ok := tftpConn.(*net.UDPConn); ok {
		_ = u.SetReadBuffer(tftpReadBuffer)
	}
	httpLn, err := lc.Listen(ctx, "tcp", fmt.Sprintf(":%d", a.cfg.HTTPPort))
	if err != nil {
		return portError("HTTP", "--http-port", err)
	}
	defer httpLn.Close()
	listeners := []api.ListenerJSON{{Proto: "tftp", Address: tftpConn.LocalAddr().String()}, {Proto: "http", Address: httpLn.Addr().String()}}

	var runs []func(context.Context) error // every server, started only once all are ready
	if a.cfg.FTPPort != 0 {
		ftpLn, err := lc.Listen(ctx, "tcp", fmt.Sprintf(":%d", a.cfg.FTPPort))
		if err != nil {
			return portError("FTP", "--ftp-port (0 turns FTP off)", err)
		}
		defer ftpLn.Close()
		listeners = append(listeners, api.ListenerJSON{Proto: "ftp", Address: ftpLn.Addr().String()})
		srv, err := a.ftpServer()
		if err != nil {
			return err
		}
		runs = append(runs, func(ctx context.Context) error { return srv.Serve(ctx, ftpLn) })
	}
	if a.cfg.DHCP != "off" {
		srv, err := a.dhcpServer()
		if err != nil {
			return err
		}
		for _, port := range []int{67, dhcp.DefaultPXEPort} {
			conn, err := dhcp.Listen(ctx, a.net.Interface, port)
			if err != nil {
				return portError("DHCP", fmt.Sprintf("--dhcp off (port %d)", port), err)
			}
			defer conn.Close()
			listeners = append(listeners, api.ListenerJSON{Proto: "dhcp", Address: fmt.Sprintf("%s:%d", a.net.Interface, port)})
			runs = append(runs, func(ctx context.Context) error { return srv.Serve(ctx, conn) })
		}
	}
	tftpSrv := &tftp.Server{Handler: a.openTFTP, OnTransfer: a.onTFTP, Logger: a.log.With("server", "tftp"),
		MaxTransfers: a.cfg.TFTPMaxTransfers, MaxTransfersPerClient: a.cfg.TFTPMaxPerClient, MaxBlockSize: a.tftpBlockSize(),
		BusyPoll: busyPoll(a.cfg.TFTPBusyPoll), Transfers: &a.transfers}
	inv := &inventory.Inventory{Store: a.store, SiteOf: a.site, Recorded: a.machines.stream}
	apiSrv := &api.Server{Inv: inv, Feed: a.feed, Transfers: a.liveTransfers,
		Logger: a.log.With("server", "api")}
	httpSrv := &httpd.Server{Open: a.openHTTP, Kickstart: a.kickstart, PhoneHome: a.phoneHome, InstallLog: a.installLog,
		OnFile: a.onHTTP, Logger: a.log.With("server", "http"), Transfers: &a.transfers}
	dashboard := (&web.Server{Service: inventory.Service{Inv: inv}, Sessions: apiSrv, Logger: a.log.With("server", "web")}).Handler()
	if a.cfg.APIListen == "" {
		httpSrv.API, httpSrv.Dashboard, httpSrv.Metrics = apiSrv.Handler(), dashboard, a.metricsHandler()
	} else {
		apiLn, err := lc.Listen(ctx, "tcp", a.cfg.APIListen)
		if err != nil {
			return portError("API", "--api-listen", err)
		}
		defer apiLn.Close()
		listeners = append(listeners, api.ListenerJSON{Proto: "api", Address: apiLn.Addr().String()})
		apiHTTP := &httpd.Server{Open: noFiles, API: apiSrv.Handler(), Dashboard: dashboard, Metrics: a.metricsHandler(),
			Logger: a.log.With("server", "api")}
		runs = append(runs, func(ctx context.Context) error { return apiHTTP.Serve(ctx, apiLn) })
	}
	apiSrv.Info = a.serverInfo(listeners)
	runs = append(runs,
		func(ctx context.Context) error { return tftpSrv.Serve(ctx, tftpConn) },
		func(ctx context.Context) error { return httpSrv.Serve(ctx, httpLn) },
		func(ctx context.Context) error { a.bus.RunParallel(ctx, eventWorkers, a.recordEvent); return nil },
		func(ctx context.Context) error { a.prune(ctx, 10*time.Minute); return nil })
	if w, absent, ok := a.storeWatcher(); ok {
		runs = append(runs, func(ctx context.Context) error { a.followStore(ctx, w, absent); return nil })
	}

	g, ctx := errgroup.WithContext(ctx)
	for _, run := range runs {
		g.Go(func() error { return run(ctx) })
	}
	a.log.Info("kickstand serving", "interface", a.net.Interface, "address", a.net.Prefix, "server-ip", a.net.ServerIP,
		"dhcp", a.cfg.DHCP, "tftp-port", a.cfg.TFTPPort, "http", a.machines.baseURL, "ftp", a.ftpSummary(), "unknown", a.cfg.Unknown, "store", storeSummary(a.cfg))
	// Every socket is open and has its server: under systemd (Type=notify),
	// units ordered after kickstand start now, and `systemctl start` returns.
	a.tellSystemd("READY=1\nSTATUS=serving on " + a.net.Interface + " (" + a.net.ServerIP.String() + ")")
	g.Go(func() error {
		<-ctx.Done()
		a.tellSystemd("STOPPING=1")
		return nil
	})
	return g.Wait()
}

// tellSystemd sends state to systemd's notify socket, if kickstand runs
// under systemd; a failure costs only the status, so it is logged.
func (a *App) tellSystemd(state string) {
	if err := a.systemd.Notify(state); err != nil {
		a.log.Warn("could not tell systemd how kickstand is doing", "err", err)
	}
}

// leaseJournaler is a store that can keep the server's leases in a journal
// of its own (the SQLite store).
type leaseJournaler interface {
	EnableLeaseJournal(ctx context.Context, onError func(error)) error
}

// storeSummary names the store in the start's log line, without a password.
func storeSummary(cfg config.Config) string {
	spec, err := backend.Parse(cfg.Store)
	if err != nil {
		return "?"
	}
	if spec.Kind == backend.SQLite && spec.Dir == "" {
		return "sqlite:" + cfg.DataDir
	}
	return spec.String()
}

// eventWorkers is how many wire events (DHCP, TFTP, HTTP, FTP) are recorded
// at once, each machine's in order: the store commits events that arrive
// together in one transaction, which in a rack booting at once is most of
// the cost of recording them.
const eventWorkers = 16

// prune deletes, now and then every interval until ctx ends, the events and
// install logs older than --event-retention, all but the newest MaxEventsPerMachine of
// each timeline, and the discovered machines not seen for
// DiscoveredRetention.
func (a *App) prune(ctx context.Context, every time.Duration) {
	for {
		if a.cfg.Retention > 0 {
			n, err := a.store.PruneEvents(ctx, time.Now().Add(-a.cfg.Retention))
			switch {
			case err != nil && ctx.Err() == nil:
				a.log.Error("prune events", "err", err)
			case n > 0:
				a.log.Info("pruned old events", "count", n, "older-than", a.cfg.Retention)
			}
			n, err = a.store.PruneInstallLogs(ctx, time.Now().Add(-a.cfg.Retention))
			switch {
			case err != nil && ctx.Err() == nil:
				a.log.Error("prune install logs", "err", err)
			case n > 0:
				a.log.Info("pruned old install logs", "count", n, "older-than", a.cfg.Retention)
			}
		}
		if n, err := a.store.TrimEvents(ctx, MaxEventsPerMachine); err != nil && ctx.Err() == nil {
			a.log.Error("trim timelines", "err", err)
		} else if n > 0 {
			a.log.Info("trimmed timelines", "events", n, "kept-per-machine", MaxEventsPerMachine)
		}
		n, err := a.store.PruneDiscovered(ctx, time.Now().Add(-DiscoveredRetention))
		switch {
		case err != nil && ctx.Err() == nil:
			a.log.Error("prune discovered machines", "err", err)
		case n > 0:
			a.log.Info("pruned discovered machines", "count", n, "not-seen-for", DiscoveredRetention)
		}
		select {
		case <-ctx.Done():
			return
		case <-time.After(every):
		}
	}
}

// portError says what to do when a socket cannot be opened.
func portError(what, flag string, err error) error {
	switch {
	case errors.Is(err, syscall.EADDRINUSE):
		return fmt.Errorf("%s: %w: another server holds the port; stop it or use %s", what, err, flag)
	case errors.Is(err, syscall.EACCES), errors.Is(err, syscall.EPERM):
		return fmt.Errorf("%s: %w: run as root (or give the binary cap_net_bind_service,cap_net_raw)", what, err)
	}
	return fmt.Errorf("%s: %w", what, err)
}

func (a *App) dhcpServer() (*dhcp.Server, error) {
	srv := &dhcp.Server{
		Mode:     dhcp.Mode(a.cfg.DHCP),
		ServerIP: a.net.Prefix.Addr(),
		Boot:     a.bootReply,
		OnEvent:  a.onDHCP,
		OnPacket: a.metrics.DHCPPacket,
		Logger:   a.log.With("server", "dhcp"),
	}
	if a.cfg.DHCP == "full" {
		r, err := dhcp.ParseRange(a.cfg.DHCPRange)
		if err != nil {
			return nil, err
		}
		srv.Range, srv.Subnet, srv.LeaseTime = r, a.net.Prefix.Masked(), a.cfg.DHCPLease
		srv.Leases = leasesOf(a.store)
		srv.Reservation, srv.ReservedFor = a.reservation, a.reservedFor
		if a.cfg.DHCPRouter != "" {
			srv.Router = netip.MustParseAddr(a.cfg.DHCPRouter) // checked by Validate
		}
		for _, d := range a.cfg.DHCPDNS {
			srv.DNS = append(srv.DNS, netip.MustParseAddr(strings.TrimSpace(d)))
		}
		for _, text := range a.cfg.DHCPSubnets {
			sub, err := dhcp.ParseSubnet(text)
			if err != nil {
				return nil, err
			}
			srv.Relayed = append(srv.Relayed, sub)
		}
	}
	if err := srv.Validate(); err != nil {
		return nil, err
	}
	return srv, nil
}

// bootReply is the DHCP server's BootFunc: boot.ChooseLoader decides the
// boot program from the client's facts, the server's settings and what the
// tree holds; the store says whether the machine is answered at all.
func (a *App) bootReply(ctx context.Context, f dhcp.ClientFacts) (dhcp.BootReply, bool) {
	c := boot.Client{Firmware: boot.Classify(f.Arch, f.HasArch), IPXE: f.IPXE, Script: boot.IPXEScriptName(f.MAC)}
	p := boot.LoaderPolicy{FullDHCP: a.cfg.DHCP == "full", IPXE: a.cfg.IPXE, UEFIHTTPOnly: a.cfg.UEFIBoot == "http", BaseURL: a.machines.baseURL}
	_, ipxeBIOS := a.tree.Loaders[boot.IPXEBIOS]
	_, ipxeEFI := a.tree.Loaders[boot.IPXEEFI]
	have := boot.Available{IPXEBIOS: ipxeBIOS, IPXEEFI: ipxeEFI}
	if fw, ok := boot.ShimFirmware(c, p); ok {
		viaProxy := boot.NeedsProxyGRUB(c, p)
		have.ProxyGRUB = viaProxy && a.proxyGRUB(ctx, f.MAC)
		if !viaProxy || have.ProxyGRUB {
			have.Shim = a.hasShim(ctx, f.MAC, fw)
		}
	}
	choice := boot.ChooseLoader(c, p, have)
	switch {
	case choice.File == "" && choice.Missing != "":
		a.log.Warn("no boot answer: "+choice.Missing, "mac", f.MAC.String(), "firmware", c.Firmware.String())
		return dhcp.BootReply{}, false
	case choice.File == "":
		a.log.Info("no boot answer: this firmware is not served yet", "mac", f.MAC.String(), "firmware", c.Firmware.String(),
			"arch", f.Arch, "ipxe", f.IPXE, "vendor-class", f.VendorClass)
		return dhcp.BootReply{}, false
	case choice.File == boot.DeclineUEFIPXE:
		a.log.Debug("declining UEFI PXE: --uefi-boot http", "mac", f.MAC.String())
	}
	d, err := a.machines.decide(ctx, f.MAC)
	if err != nil {
		a.log.Error("boot decision", "mac", f.MAC.String(), "err", err)
		return dhcp.BootReply{}, false
	}
	if d.Action == boot.ActionIgnore {
		return dhcp.BootReply{Ignore: true}, true
	}
	return dhcp.BootReply{BootFile: choice.File, NextServer: a.net.ServerIP.AsSlice()}, true
}

func (a *App) reservation(ctx context.Context, mac net.HardwareAddr) (netip.Addr, bool) {
	m, err := a.store.Machine(ctx, mac)
	if err != nil || !m.IP.IsValid() {
		return netip.Addr{}, false
	}
	return m.IP, true
}

func (a *App) reservedFor(ctx context.Context, ip netip.Addr) (net.HardwareAddr, bool) {
	m, err := a.store.MachineByIP(ctx, ip)
	if err != nil {
		if !errors.Is(err, store.ErrNotFound) {
			a.machines.quiet.log(a.log, slog.LevelError, "store-reservation", "reservation lookup", "ip", ip, "err", err)
		}
		return nil, false
	}
	return m.MAC, true
}

func (a *App) openTFTP(ctx context.Context, name string, client net.Addr) (io.ReadCloser, int64, error) {
	f, err := a.tree.Open(ctx, name, addrOf(client))
	if err != nil {
		return nil, 0, err
	}
	st, err := f.Stat()
	if err != nil {
		f.Close()
		return nil, 0, err
	}
	return f, st.Size(), nil
}

func (a *App) openHTTP(ctx context.Context, name string, client netip.Addr) (httpd.File, error) {
	return a.tree.Open(ctx, name, client)
}

func addrOf(a net.Addr) netip.Addr {
	if u, ok := a.(*net.UDPAddr); ok {
		ip, _ := netip.AddrFromSlice(u.IP)
		return ip.Unmap()
	}
	return netip.Addr{}
}
