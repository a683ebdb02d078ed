// Package sdnotifytest is systemd's end of sd_notify for tests: a socket
// that receives what a Type=notify service tells.
package sdnotifytest

import (
	"net"
	"testing"
	"time"
)

// Socket is a notify socket as systemd opens one.
type Socket struct {
	conn *net.UnixConn
}

// Listen opens the socket name (a path, or "@name" in the abstract
// namespace), closed when the test ends.
func Listen(t testing.TB, name string) *Socket {
	t.Helper()
	conn, err := net.ListenUnixgram("unixgram", &net.UnixAddr{Name: name, Net: "unixgram"})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	return &Socket{conn: conn}
}

// Next is the next message, or fails the test after timeout.
func (s *Socket) Next(t testing.TB, timeout time.Duration) string {
	t.Helper()
	buf := make([]byte, 4096)
	if err := s.conn.SetReadDeadline(time.Now().Add(timeout)); err != nil {
		t.Fatal(err)
	}
	n, err := s.conn.Read(buf)
	if err != nil {
		t.Fatalf("nothing told on the notify socket: %v", err)
	}
	return string(buf[:n])
}
