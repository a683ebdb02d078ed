//go:build e2e

package e2e

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/insomniacslk/dhcp/dhcpv4"
	"golang.org/x/sys/unix"

	"kickstand/internal/store/sqlite"
)

// TestDHCPAckedLeasesSurviveKill9 loads a real `kickstand serve --dhcp full`
// with DORAs from many clients at once, kills it with SIGKILL in the middle
// of the load, and checks that every lease a client was acknowledged is in
// the store, that no address was acknowledged to two MACs, and that after
// a restart each of those clients is offered its address again. The ACK of
// a lease leaves only once the batch holding it is committed (group
// commit), so no ACK can outrun its lease.
func TestDHCPAckedLeasesSurviveKill9(t *testing.T) {
	requireRootNetns(t)
	bin := kickstandBinary(t)
	dataDir := t.TempDir()
	server, client := newNetns(t), newNetns(t)
	veth := "kd" + randomHex(t, 4)
	runCmd(t, "ip", "link", "add", veth+"a", "type", "veth", "peer", "name", veth+"b")
	runCmd(t, "ip", "link", "set", veth+"a", "netns", server.name)
	runCmd(t, "ip", "link", "set", veth+"b", "netns", client.name)
	for _, end := range []struct {
		ns   *netns
		link string
		ip   string
	}{{server, veth + "a", "10.214.0.1/16"}, {client, veth + "b", "10.214.0.2/16"}} {
		end.ns.run(t, "ip", "link", "set", end.link, "name", "lan0")
		end.ns.run(t, "ip", "addr", "add", end.ip, "dev", "lan0")
		end.ns.run(t, "ip", "link", "set", "lan0", "up")
	}
	logs := t.TempDir()
	serve := []string{bin, "serve", "--data-dir", dataDir, "--interface", "lan0", "--dhcp", "full",
		"--dhcp-range", "10.214.1.0-10.214.255.254", "--http-port", "8080", "--tftp-port", "1069", "--ftp-port", "0"}
	first := startDaemon(t, server, filepath.Join(logs, "kickstand.log"), serve...)
	dumpOnFailure(t, map[string]string{"kickstand serve": first.log})

	c := newDORAClient(t, client, "lan0")
	c.waitForServer(t, first)

	// The load: workers doing DORAs with new MACs, as fast as answers come.
	var (
		mu     sync.Mutex
		acked  []heldLease
		wg     sync.WaitGroup
		macs   atomic.Uint32
		stop   = make(chan struct{})
		killed = make(chan struct{})
	)
	for range 24 {
		wg.Go(func() {
			for {
				select {
				case <-stop:
					return
				default:
				}
				n := macs.Add(1)
				mac := net.HardwareAddr{0x02, 0x4b, 0x53, byte(n >> 16), byte(n >> 8), byte(n)}
				if ip, ok := c.dora(mac, 300*time.Millisecond); ok {
					mu.Lock()
					acked = append(acked, heldLease{mac: mac.String(), ip: ip})
					mu.Unlock()
				}
			}
		})
	}
	go func() {
		defer close(killed)
		deadline := time.Now().Add(10 * time.Second)
		for time.Now().Before(deadline) {
			mu.Lock()
			n := len(acked)
			mu.Unlock()
			if n >= 3000 {
				break
			}
			time.Sleep(20 * time.Millisecond)
		}
		// In the middle of the load: DORAs are in flight, leases waiting
		// for their batch.
		if err := first.cmd.Process.Signal(syscall.SIGKILL); err != nil {
			t.Errorf("kill -9 kickstand: %v", err)
		}
	}()
	<-killed
	<-first.done
	time.Sleep(500 * time.Millisecond) // answers already on the wire still arrive
	close(stop)
	wg.Wait()
	c.close()
	if len(acked) < 500 {
		t.Fatalf("only %d ACKs before the kill: the load did not run", len(acked))
	}
	t.Logf("%d DORAs started, %d acknowledged before kill -9", macs.Load(), len(acked))

	owner := map[netip.Addr]string{}
	for _, l := range acked {
		if other, ok := owner[l.ip]; ok && other != l.mac {
			t.Errorf("%s acknowledged to %s and to %s", l.ip, other, l.mac)
		}
		owner[l.ip] = l.mac
	}
	stored := storedLeases(t, dataDir)
	missing := 0
	for _, l := range acked {
		if ip, ok := stored[l.mac]; !ok || ip != l.ip {
			if missing++; missing <= 10 {
				t.Errorf("%s was acknowledged %s, but the store has %v (present: %v)", l.mac, l.ip, ip, ok)
			}
		}
	}
	if missing > 0 {
		t.Fatalf("%d of %d acknowledged leases lost to kill -9", missing, len(acked))
	}
	t.Logf("all %d acknowledged leases are in the store (%d leases stored)", len(acked), len(stored))

	// After a restart the server knows them: each client is offered its
	// address again.
	second := startDaemon(t, server, filepath.Join(logs, "kickstand-restarted.log"), serve...)
	dumpOnFailure(t, map[string]string{"kickstand serve, restarted": second.log})
	c = newDORAClient(t, client, "lan0")
	defer c.close()
	c.waitForServer(t, second)
	for i := 0; i < len(acked); i += len(acked)/25 + 1 {
		l := acked[i]
		mac, _ := net.ParseMAC(l.mac)
		offer, err := c.exchange(c.packet(dhcpv4.MessageTypeDiscover, mac, netip.Addr{}), dhcpv4.MessageTypeOffer, 2*time.Second)
		if err != nil {
			t.Errorf("after the restart, %s: %v", l.mac, err)
			continue
		}
		if got, _ := netip.AddrFromSlice(offer.YourIPAddr.To4()); got != l.ip {
			t.Errorf("after the restart, %s was offered %s, want its lease %s", l.mac, got, l.ip)
		}
	}
}

type heldLease struct {
	mac string
	ip  netip.Addr
}

// requireRootNetns skips (fails under CI=true) unless the test may create
// network namespaces.
func requireRootNetns(t *testing.T) {
	t.Helper()
	_, err := exec.LookPath("ip")
	if os.Geteuid() == 0 && err == nil {
		return
	}
	msg := "end-to-end test needs root and ip(8) for network namespaces"
	if os.Getenv("CI") == "true" {
		t.Fatal(msg + " (CI=true: not skipping)")
	}
	t.Skip(msg)
}

// storedLeases reads the leases in the data directory's store, MAC → address.
func storedLeases(t *testing.T, dataDir string) map[string]netip.Addr {
	t.Helper()
	ctx := context.Background()
	db, err := sqlite.Open(ctx, dataDir)
	if err != nil {
		t.Fatalf("open the store after kill -9: %v", err)
	}
	defer db.Close()
	ls, err := db.Leases(ctx)
	if err != nil {
		t.Fatal(err)
	}
	out := make(map[string]netip.Addr, len(ls))
	for _, l := range ls {
		out[l.MAC.String()] = l.IP
	}
	return out
}

// doraClient is many DHCP clients on one socket at port 68 of an interface
// inside a namespace: replies are told apart by their xid.
type doraClient struct {
	conn    net.PacketConn
	mu      sync.Mutex
	waiting map[uint32]chan *dhcpv4.DHCPv4
	xid     atomic.Uint32
	done    chan struct{}
	server  netip.Addr // the server identifier a REQUEST names
}

func newDORAClient(t *testing.T, ns *netns, iface string) *doraClient {
	t.Helper()
	var conn net.PacketConn
	err := ns.inside(func() error {
		lc := net.ListenConfig{Control: func(_, _ string, rc syscall.RawConn) error {
			var serr error
			err := rc.Control(func(fd uintptr) {
				for _, o := range []int{unix.SO_REUSEADDR, unix.SO_BROADCAST} {
					if serr == nil {
						serr = unix.SetsockoptInt(int(fd), unix.SOL_SOCKET, o, 1)
					}
				}
				if serr == nil {
					serr = unix.BindToDevice(int(fd), iface)
				}
				if serr == nil {
					serr = unix.SetsockoptInt(int(fd), unix.SOL_SOCKET, unix.SO_RCVBUF, 4<<20)
				}
			})
			return errors.Join(err, serr)
		}}
		var err error
		conn, err = lc.ListenPacket(context.Background(), "udp4", "0.0.0.0:68")
		return err
	})
	if err != nil {
		t.Fatalf("client socket: %v", err)
	}
	c := &doraClient{conn: conn, waiting: map[uint32]chan *dhcpv4.DHCPv4{}, done: make(chan struct{}),
		server: netip.AddrFrom4([4]byte{10, 214, 0, 1})}
	c.xid.Store(uint32(time.Now().UnixNano()))
	go c.read()
	return c
}

func (c *doraClient) read() {
	defer close(c.done)
	buf := make([]byte, 1500)
	for {
		n, _, err := c.conn.ReadFrom(buf)
		if err != nil {
			return
		}
		reply, err := dhcpv4.FromBytes(buf[:n])
		if err != nil || reply.OpCode != dhcpv4.OpcodeBootReply {
			continue
		}
		c.mu.Lock()
		ch := c.waiting[binary.BigEndian.Uint32(reply.TransactionID[:])]
		c.mu.Unlock()
		if ch != nil {
			select {
			case ch <- reply:
			default:
			}
		}
	}
}

func (c *doraClient) close() {
	c.conn.Close()
	<-c.done
}

func (c *doraClient) packet(mt dhcpv4.MessageType, mac net.HardwareAddr, requested netip.Addr) *dhcpv4.DHCPv4 {
	mods := []dhcpv4.Modifier{dhcpv4.WithMessageType(mt), dhcpv4.WithBroadcast(true)}
	if requested.IsValid() {
		mods = append(mods, dhcpv4.WithOption(dhcpv4.OptRequestedIPAddress(requested.AsSlice())),
			dhcpv4.WithOption(dhcpv4.OptServerIdentifier(c.server.AsSlice())))
	}
	p, err := dhcpv4.New(append(mods, dhcpv4.WithHwAddr(mac))...)
	if err != nil {
		panic(err) // only bad modifiers make New fail
	}
	binary.BigEndian.PutUint32(p.TransactionID[:], c.xid.Add(1))
	return p
}

// exchange broadcasts req and waits for the reply of type want.
func (c *doraClient) exchange(req *dhcpv4.DHCPv4, want dhcpv4.MessageType, timeout time.Duration) (*dhcpv4.DHCPv4, error) {
	xid := binary.BigEndian.Uint32(req.TransactionID[:])
	ch := make(chan *dhcpv4.DHCPv4, 1)
	c.mu.Lock()
	c.waiting[xid] = ch
	c.mu.Unlock()
	defer func() {
		c.mu.Lock()
		delete(c.waiting, xid)
		c.mu.Unlock()
	}()
	if _, err := c.conn.WriteTo(req.ToBytes(), &net.UDPAddr{IP: net.IPv4bcast, Port: 67}); err != nil {
		return nil, err
	}
	select {
	case reply := <-ch:
		if reply.MessageType() != want {
			return nil, fmt.Errorf("%s answered with %s", req.MessageType(), reply.MessageType())
		}
		return reply, nil
	case <-time.After(timeout):
		return nil, fmt.Errorf("no answer to %s within %s", req.MessageType(), timeout)
	}
}

// dora gets mac an address: DISCOVER, OFFER, REQUEST, ACK.
func (c *doraClient) dora(mac net.HardwareAddr, timeout time.Duration) (netip.Addr, bool) {
	offer, err := c.exchange(c.packet(dhcpv4.MessageTypeDiscover, mac, netip.Addr{}), dhcpv4.MessageTypeOffer, timeout)
	if err != nil {
		return netip.Addr{}, false
	}
	ip, _ := netip.AddrFromSlice(offer.YourIPAddr.To4())
	ack, err := c.exchange(c.packet(dhcpv4.MessageTypeRequest, mac, ip), dhcpv4.MessageTypeAck, timeout)
	if err != nil {
		return netip.Addr{}, false
	}
	got, _ := netip.AddrFromSlice(ack.YourIPAddr.To4())
	return got, got == ip
}

// waitForServer sends DISCOVERs until the server answers.
func (c *doraClient) waitForServer(t *testing.T, d *daemon) {
	t.Helper()
	probe := net.HardwareAddr{0x02, 0x4b, 0x53, 0xff, 0xff, 0xff}
	err := waitFor(30*time.Second, 0, func() error {
		if ended, err := d.exited(); ended {
			return fmt.Errorf("kickstand serve exited: %v", err)
		}
		_, err := c.exchange(c.packet(dhcpv4.MessageTypeDiscover, probe, netip.Addr{}), dhcpv4.MessageTypeOffer, 300*time.Millisecond)
		return err
	})
	if err != nil {
		t.Fatalf("kickstand serve does not answer DHCP: %v\n%s", err, logFile(d.log))
	}
}
