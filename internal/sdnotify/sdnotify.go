// Package sdnotify tells systemd how a Type=notify service is doing
// (sd_notify(3)): "READY=1" once it serves, "STOPPING=1" when it begins to
// stop, each one datagram to the unix socket that $NOTIFY_SOCKET names.
// It is the protocol, not a binding of libsystemd: kickstand stays one
// static binary.
package sdnotify

import (
	"fmt"
	"net"
	"os"
	"strings"
	"time"
)

// Notifier sends states to Socket. The zero value, for a process not
// started by systemd, sends nothing.
type Notifier struct {
	// Socket is a path ("/run/systemd/notify") or, with a leading "@",
	// a name in the abstract namespace.
	Socket string
}

// FromEnv is the Notifier of $NOTIFY_SOCKET.
func FromEnv() Notifier {
	return Notifier{Socket: os.Getenv("NOTIFY_SOCKET")}
}

// sendTimeout bounds a send to a socket whose reader is stuck: telling
// systemd must never stall the server.
const sendTimeout = time.Second

// Notify sends state, newline-separated "KEY=value" assignments such as
// "READY=1\nSTATUS=serving", in one datagram.
func (n Notifier) Notify(state string) error {
	if n.Socket == "" {
		return nil
	}
	// Go's unix addresses take a leading "@" for the abstract namespace, as
	// NOTIFY_SOCKET writes it. systemd's "vsock:" sockets are for virtual
	// machines' service managers, which kickstand does not run under.
	if !strings.HasPrefix(n.Socket, "/") && !strings.HasPrefix(n.Socket, "@") {
		return fmt.Errorf("sdnotify: NOTIFY_SOCKET %q: want a path or an @abstract name", n.Socket)
	}
	conn, err := net.DialUnix("unixgram", nil, &net.UnixAddr{Name: n.Socket, Net: "unixgram"})
	if err != nil {
		return fmt.Errorf("sdnotify: %w", err)
	}
	defer conn.Close()
	if err := conn.SetWriteDeadline(time.Now().Add(sendTimeout)); err != nil {
		return fmt.Errorf("sdnotify: %w", err)
	}
	if _, err := conn.Write([]byte(state)); err != nil {
		return fmt.Errorf("sdnotify: %s: %w", state, err)
	}
	return nil
}
