// Package ftp is kickstand's FTP server: the read-only tree that HTTP and
// TFTP serve, offered to installers told inst.repo=ftp://server/pub/ the way
// a classic PXE setup offers a loop-mounted DVD with vsftpd.
//
// It is anonymous and read-only: users "anonymous" and "ftp" log in with any
// password, anyone else gets 530, and every command that would change the
// tree (STOR, APPE, DELE, MKD, RMD, RNFR/RNTO, SITE...) gets 550. It speaks
// plain FTP only, with no TLS (AUTH TLS is refused): the tree is public
// install media. Data connections are passive only (PASV, EPSV): PORT and
// EPRT are refused with 421, and the passive ports come from a fixed range
// so that one firewall rule covers them.
//
// What a client holds is bounded: control connections by MaxConns (idle
// clients make room for new ones), a passive port by PassiveTimeout (and
// is taken over when the range is full), a transfer by StallTimeout, a
// silent control connection by IdleTimeout.
//
// The protocol is ftpserverlib's; this package gives it the tree as a
// read-only afero.Fs, confines paths to the tree, and ties connections to a
// context.
package ftp

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io/fs"
	"kickstand/internal/netlimit"
	"kickstand/internal/transfers"
	"log/slog"
	"net"
	"net/netip"
	"strconv"
	"strings"
	"time"

	ftpserver "github.com/fclairamb/ftpserverlib"
)

// DefaultPassivePorts is the passive data port range used when
// Server.PassivePorts is zero. It is fixed, rather than any free port, so
// that a firewall rule can be written for it (30000-30019/tcp, with 21/tcp).
var DefaultPassivePorts = [2]int{30000, 30019}

// DefaultIdleTimeout is how long a control connection may stay silent
// between commands when Server.IdleTimeout is zero.
const DefaultIdleTimeout = 5 * time.Minute

// DefaultPassiveTimeout is how long a passive port waits for its data
// connection when Server.PassiveTimeout is zero.
const DefaultPassiveTimeout = 15 * time.Second

// DefaultStallTimeout is how long a data connection may make no progress
// when Server.StallTimeout is zero.
const DefaultStallTimeout = 60 * time.Second

// DefaultMaxConns caps the control connections when Server.MaxConns is
// zero, unless a quarter of the open-file limit is lower.
const DefaultMaxConns = 256

// maxPassivePorts bounds a passive port range: ftpserverlib tries at most
// 1000 ports when it looks for a free one.
const maxPassivePorts = 1000

// Transfer describes one finished RETR, for the machine timeline.
type Transfer struct {
	Name     string        // path in the served tree, without a leading "/"
	Client   netip.Addr    // the client's address
	Bytes    int64         // bytes read from the file and handed to the data connection
	Duration time.Duration // from the RETR to the end of the transfer
	Err      error         // nil when the data connection took everything sent
}

// Server is a read-only anonymous FTP server. Its zero value, with FS set,
// is ready to use.
type Server struct {
	// FS is the served tree. It is required and never written to.
	FS fs.FS
	// PassivePorts is the first and last passive data port.
	// Defaults to DefaultPassivePorts.
	PassivePorts [2]int
	// PublicIP is the IPv4 address announced in PASV replies, for a server
	// behind NAT. Defaults to the local address of each control connection.
	// EPSV replies carry no address.
	PublicIP netip.Addr
	// OnTransfer, if set, is called once per RETR when it ends, from the
	// transfer's goroutine.
	OnTransfer func(Transfer)
	// Transfers, if set, tracks the files in flight and their progress.
	Transfers *transfers.Tracker
	// Logger receives debug logs per client and per transfer; nil discards them.
	Logger *slog.Logger
	// IdleTimeout is how long a control connection may stay silent between
	// commands. Defaults to DefaultIdleTimeout.
	IdleTimeout time.Duration
	// PassiveTimeout is how long a passive port (PASV, EPSV) waits for the
	// transfer that uses it; the port is then closed, and a RETR or LIST
	// sent later fails with 425. When every port of the range is waiting,
	// a new PASV takes the port that has waited longest (if a second or
	// more). Defaults to DefaultPassiveTimeout.
	PassiveTimeout time.Duration
	// StallTimeout is how long a client may leave a download or a listing
	// unread: each write, and each 256 KiB of a file, must reach the data
	// connection within it, however long the whole download takes.
	// Defaults to DefaultStallTimeout.
	StallTimeout time.Duration
	// MaxConns caps the control connections. At the cap a new client
	// closes the one that has been silent longest and has no download
	// open, and is refused (421) only when every client is downloading.
	// Defaults to DefaultMaxConns, or to a quarter of the open-file limit
	// when that is lower.
	MaxConns int
}

// ListenAndServe listens on the TCP address addr (":21" for the standard
// port) and serves until ctx ends.
func (s *Server) ListenAndServe(ctx context.Context, addr string) error {
	var lc net.ListenConfig
	ln, err := lc.Listen(ctx, "tcp", addr)
	if err != nil {
		return fmt.Errorf("ftp: %w", err)
	}
	return s.Serve(ctx, ln)
}

// Serve answers FTP clients connecting to ln until ctx ends, then closes
// every client connection, waits for the transfers in flight to stop and
// returns nil. Serve closes ln. If accepting fails, Serve stops the clients
// as well and returns the error.
func (s *Server) Serve(ctx context.Context, ln net.Listener) error {
	defer func() { _ = ln.Close() }()
	if s.FS == nil {
		return errors.New("ftp: Server.FS is nil")
	}
	settings, err := s.settings()
	if err != nil {
		return err
	}
	parent := ctx
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()

	life := newLifetime(ctx)
	clients := newClientTable(netlimit.Or(s.MaxConns, netlimit.Conns(DefaultMaxConns)), s.logger())
	settings.Listener = &controlListener{Listener: ln, life: life, clients: clients}
	ports := newPassivePorts(ctx, s.passivePorts(), netlimit.Or(s.PassiveTimeout, DefaultPassiveTimeout), netlimit.Or(s.StallTimeout, DefaultStallTimeout))
	settings.PassiveTransferPortRange = ports
	driver := &mainDriver{server: s, settings: settings, life: life, clients: clients, ports: ports, log: s.logger()}
	lib := ftpserver.NewFtpServer(driver)
	lib.Logger = slog.New(demoteHandler{driver.log.Handler()})
	if err := lib.Listen(); err != nil {
		return fmt.Errorf("ftp: %w", err)
	}

	served := make(chan error, 1)
	go func() { served <- lib.Serve() }()
	select {
	case <-ctx.Done():
		_ = ln.Close()
		err = <-served
	case err = <-served:
	}
	cancel() // closes the client connections still open
	life.wait()
	if err != nil && parent.Err() == nil {
		return fmt.Errorf("ftp: accept: %w", err)
	}
	return nil
}

func (s *Server) logger() *slog.Logger {
	if s.Logger == nil {
		return slog.New(slog.DiscardHandler)
	}
	return s.Logger
}

// passivePorts is the passive port range in use.
func (s *Server) passivePorts() [2]int {
	if s.PassivePorts == ([2]int{}) {
		return DefaultPassivePorts
	}
	return s.PassivePorts
}

// seconds rounds d up to whole seconds, as ftpserverlib takes its timeouts.
func seconds(d time.Duration) int { return int((d + time.Second - 1) / time.Second) }

// settings turns the Server's fields into ftpserverlib's; Serve adds the
// listener and the passive ports.
func (s *Server) settings() (*ftpserver.Settings, error) {
	if err := checkPortRange(s.passivePorts()); err != nil {
		return nil, fmt.Errorf("ftp: passive ports: %w", err)
	}
	settings := &ftpserver.Settings{
		Banner:           "kickstand FTP (anonymous, read-only)",
		PublicIPResolver: pasvAddress,
		IdleTimeout:      seconds(netlimit.Or(s.IdleTimeout, DefaultIdleTimeout)),
		// How long a RETR or LIST waits for its data connection; the
		// passive port has been closed by then if PassiveTimeout passed.
		ConnectionTimeout: seconds(netlimit.Or(s.PassiveTimeout, DefaultPassiveTimeout)),
		DisableActiveMode: true,
		DisableMFMT:       true, // always refused, so not announced in FEAT
		// Without TYPE, send files as they are (vsftpd does the same).
		DefaultTransferType: ftpserver.TransferTypeBinary,
	}
	if s.PublicIP.IsValid() {
		ip := s.PublicIP.Unmap()
		if !ip.Is4() {
			return nil, fmt.Errorf("ftp: PublicIP %s: PASV replies carry only IPv4 addresses; leave PublicIP unset for IPv6 clients (they use EPSV)", ip)
		}
		settings.PublicHost = ip.String()
	}
	return settings, nil
}

// pasvAddress announces the address the client reached us on, which is the
// one it can connect back to when there is no NAT in between.
func pasvAddress(cc ftpserver.ClientContext) (string, error) {
	ip := addrOf(cc.LocalAddr())
	if !ip.Is4() {
		return "", fmt.Errorf("the control connection is not IPv4 (%s): use EPSV", ip)
	}
	return ip.String(), nil
}

// addrOf returns the IP address of a TCP address, IPv4 unmapped.
func addrOf(a net.Addr) netip.Addr {
	if tcp, ok := a.(*net.TCPAddr); ok {
		return tcp.AddrPort().Addr().Unmap()
	}
	if a == nil {
		return netip.Addr{}
	}
	ap, err := netip.ParseAddrPort(a.String())
	if err != nil {
		return netip.Addr{}
	}
	return ap.Addr().Unmap()
}

// ParsePortRange parses a passive port range written FIRST-LAST, such as
// "30000-30019". Both ports must be within 1024-65535 and the range may not
// hold more than 1000 ports.
func ParsePortRange(s string) ([2]int, error) {
	first, last, ok := strings.Cut(strings.TrimSpace(s), "-")
	if !ok {
		return [2]int{}, fmt.Errorf("ftp: passive port range %q: write it FIRST-LAST, e.g. 30000-30019", s)
	}
	var r [2]int
	for i, field := range []string{first, last} {
		port, err := strconv.Atoi(strings.TrimSpace(field))
		if err != nil {
			return [2]int{}, fmt.Errorf("ftp: passive port range %q: %q is not a port number", s, strings.TrimSpace(field))
		}
		r[i] = port
	}
	if err := checkPortRange(r); err != nil {
		return [2]int{}, fmt.Errorf("ftp: passive port range %q: %w", s, err)
	}
	return r, nil
}

func checkPortRange(r [2]int) error {
	switch {
	case r[0] > r[1]:
		return fmt.Errorf("first port %d is after last port %d: write the lower port first", r[0], r[1])
	case r[0] < 1024 || r[1] > 65535:
		return fmt.Errorf("ports %d-%d are not all within 1024-65535", r[0], r[1])
	case r[1]-r[0]+1 > maxPassivePorts:
		return fmt.Errorf("%d ports are more than %d: choose a smaller range", r[1]-r[0]+1, maxPassivePorts)
	}
	return nil
}

// errNotAnonymous is the reason given to users other than anonymous and ftp.
var errNotAnonymous = errors.New("kickstand's FTP is anonymous and read-only: log in as anonymous or ftp")

// errNoTLS is the reason AUTH TLS and PROT P transfers are refused.
var errNoTLS = errors.New("kickstand's FTP has no TLS: it serves public install media")

func anonymous(user string) bool {
	return strings.EqualFold(user, "anonymous") || strings.EqualFold(user, "ftp")
}

// mainDriver is what ftpserverlib asks about settings, logins and passive
// listeners.
type mainDriver struct {
	server   *Server
	settings *ftpserver.Settings
	life     *lifetime
	clients  *clientTable
	ports    *passivePorts
	log      *slog.Logger
}

func (d *mainDriver) GetSettings() (*ftpserver.Settings, error) { return d.settings, nil }

func (d *mainDriver) ClientConnected(cc ftpserver.ClientContext) (string, error) {
	d.log.Debug("ftp: client connected", "client", cc.RemoteAddr(), "id", cc.ID())
	if c := d.clients.lookup(cc.RemoteAddr()); c != nil {
		cc.SetExtra(c)
	}
	return "kickstand FTP: anonymous, read-only", nil
}

func (d *mainDriver) ClientDisconnected(cc ftpserver.ClientContext) {
	d.log.Debug("ftp: client disconnected", "client", cc.RemoteAddr(), "id", cc.ID())
}

// PreAuthUser refuses other users at USER, before they send a password.
func (d *mainDriver) PreAuthUser(cc ftpserver.ClientContext, user string) error {
	if !anonymous(user) {
		d.log.Debug("ftp: refusing user", "client", cc.RemoteAddr(), "user", user)
		return errNotAnonymous
	}
	return nil
}

func (d *mainDriver) AuthUser(cc ftpserver.ClientContext, user, _ string) (ftpserver.ClientDriver, error) {
	if !anonymous(user) {
		return nil, errNotAnonymous
	}
	control, _ := cc.Extra().(*controlConn)
	return &clientDriver{fsys: d.server.FS, cc: cc, client: addrOf(cc.RemoteAddr()), control: control, main: d}, nil
}

func (d *mainDriver) GetTLSConfig() (*tls.Config, error) { return nil, errNoTLS }

// WrapPassiveListener hands a passive listener to the passive ports,
// which close it when its client does not use it in time, when it is
// needed for another client, or when Serve's context ends.
func (d *mainDriver) WrapPassiveListener(ln net.Listener) (net.Listener, error) {
	return d.ports.wrap(ln), nil
}

// finished logs a RETR and passes it to OnTransfer.
func (d *mainDriver) finished(t Transfer) {
	d.log.Debug("ftp: sent", "file", t.Name, "client", t.Client, "bytes", t.Bytes, "duration", t.Duration, "err", t.Err)
	if d.server.OnTransfer != nil {
		d.server.OnTransfer(t)
	}
}
