package dhcp

import (
	"context"
	"log/slog"
	"net"

	"github.com/insomniacslk/dhcp/dhcpv4"
)

// discard is the logger of a Server without one.
var discard = slog.New(slog.DiscardHandler)

// requestLog logs about one request. The request's MAC, xid and message
// type are added to the lines actually written, not up front: a logger
// made for every request (slog's With formats its attributes at once)
// would cost more than answering it. Debug lines with arguments on the
// path of every packet are written under `if log.debug`, so that their
// arguments are not even built when nobody reads them.
type requestLog struct {
	base  *slog.Logger
	mac   net.HardwareAddr
	xid   dhcpv4.TransactionID
	mt    dhcpv4.MessageType
	debug bool
}

func (s *Server) requestLog(ctx context.Context, req *dhcpv4.DHCPv4, f ClientFacts) requestLog {
	base := s.logger()
	return requestLog{base: base, mac: f.MAC, xid: req.TransactionID, mt: f.MessageType,
		debug: base.Enabled(ctx, slog.LevelDebug)}
}

func (l requestLog) log(level slog.Level, msg string, args []any) {
	ctx := context.Background()
	if l.base.Enabled(ctx, level) {
		l.base.With("mac", l.mac.String(), "xid", l.xid.String(), "type", l.mt.String()).Log(ctx, level, msg, args...)
	}
}

func (l requestLog) Debug(msg string, args ...any) { l.log(slog.LevelDebug, msg, args) }
func (l requestLog) Warn(msg string, args ...any)  { l.log(slog.LevelWarn, msg, args) }
func (l requestLog) Error(msg string, args ...any) { l.log(slog.LevelError, msg, args) }
