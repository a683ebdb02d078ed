//go:build e2e

package e2e

import (
	"context"
	"fmt"
	"net"
	"net/http"
	"net/netip"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/insomniacslk/dhcp/dhcpv4"

	"kickstand/internal/store/postgres"
	"kickstand/internal/store/postgres/pgtest"
)

// TestTwoServersSharePool runs two `kickstand serve --dhcp full` on one LAN
// (a /16) and one PostgreSQL store, with the same pool, for 30 s under
// load from two clients at once: perfdhcp (DORAs at 150/s) and clients
// of our own (8, each a DORA with a new MAC every 100 ms), which note
// every ACK and which server sent it. After 15 s one server is killed with
// SIGKILL. Then: the other went on serving both clients; no address was
// ever acknowledged to two MACs (the database decides: a server that finds
// an address leased through the other NAKs and offers another); every
// acknowledged lease is in the store; and no address or MAC is in it twice.
func TestTwoServersSharePool(t *testing.T) {
	requireRootNetns(t)
	requireHost(t, "perfdhcp")
	bin := kickstandBinary(t)
	url := pgtest.Start(t).NewDatabase(t)
	sw, serverA, serverB, clients, perf := newNetns(t), newNetns(t), newNetns(t), newNetns(t), newNetns(t)
	sw.run(t, "ip", "link", "add", "br0", "type", "bridge", "forward_delay", "0", "stp_state", "0")
	sw.run(t, "ip", "link", "set", "br0", "up")
	for _, h := range []struct {
		ns   *netns
		addr string
	}{{serverA, "10.220.0.1/16"}, {serverB, "10.220.0.2/16"}, {clients, "10.220.0.9/16"}, {perf, "10.220.0.10/16"}} {
		veth := "ks" + randomHex(t, 4)
		sw.run(t, "ip", "link", "add", veth, "type", "veth", "peer", "name", "lan0")
		sw.run(t, "ip", "link", "set", "lan0", "netns", h.ns.name)
		sw.run(t, "ip", "link", "set", veth, "master", "br0")
		sw.run(t, "ip", "link", "set", veth, "up")
		h.ns.run(t, "ip", "addr", "add", h.addr, "dev", "lan0")
		h.ns.run(t, "ip", "link", "set", "lan0", "up")
		h.ns.run(t, "ip", "link", "set", "lo", "up")
	}
	logs := t.TempDir()
	serve := func(ns *netns, name string) *daemon {
		return startDaemon(t, ns, filepath.Join(logs, name+".log"), bin, "serve", "--data-dir", t.TempDir(), "--store", url,
			"--interface", "lan0", "--dhcp", "full", "--dhcp-range", "10.220.1.0-10.220.255.254",
			"--http-port", "8080", "--tftp-port", "1069", "--ftp-port", "0")
	}
	a, b := serve(serverA, "a"), serve(serverB, "b")
	dumpOnFailure(t, map[string]string{"kickstand serve A": a.log, "kickstand serve B": b.log})

	c := newDORAClient(t, clients, "lan0")
	defer c.close()
	c.waitForServer(t, a)
	c.waitForServer(t, b)

	type ack struct {
		mac    string
		ip     netip.Addr
		server string
		after  bool // after B was killed
	}
	var (
		mu     sync.Mutex
		acks   []ack
		naks   atomic.Int32
		macs   atomic.Uint32
		killed atomic.Bool
		wg     sync.WaitGroup
	)
	const run = 30 * time.Second
	perfOut := make(chan string, 1)
	go func() {
		out, _ := perf.command(context.Background(), "perfdhcp", "-4", "-l", "lan0", "-r", "150", "-p", "30", "-R", "1000000", "-W", "2000000").CombinedOutput()
		perfOut <- string(out)
	}()
	deadline := time.Now().Add(run)
	for range 8 {
		wg.Go(func() {
			for time.Now().Before(deadline) {
				time.Sleep(100 * time.Millisecond)
				n := macs.Add(1)
				mac := net.HardwareAddr{0x02, 0x4b, 0x53, 0x5b, byte(n >> 8), byte(n)}
				offer, err := c.exchange(c.packet(dhcpv4.MessageTypeDiscover, mac, netip.Addr{}), dhcpv4.MessageTypeOffer, time.Second)
				if err != nil {
					continue
				}
				ip, _ := netip.AddrFromSlice(offer.YourIPAddr.To4())
				server := offer.ServerIdentifier()
				req := c.packet(dhcpv4.MessageTypeRequest, mac, ip)
				req.UpdateOption(dhcpv4.OptServerIdentifier(server))
				reply, err := c.exchange(req, dhcpv4.MessageTypeAck, time.Second)
				if err != nil {
					if strings.HasSuffix(err.Error(), "answered with NAK") {
						naks.Add(1)
					}
					continue
				}
				got, _ := netip.AddrFromSlice(reply.YourIPAddr.To4())
				mu.Lock()
				acks = append(acks, ack{mac: mac.String(), ip: got, server: server.String(), after: killed.Load()})
				mu.Unlock()
			}
		})
	}
	time.Sleep(run / 2)
	if err := b.cmd.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatalf("kill -9 server B: %v", err)
	}
	killed.Store(true)
	wg.Wait()
	perfReport := <-perfOut

	perServer := map[string]int{}
	afterKill := 0
	owner := map[netip.Addr]string{}
	for _, k := range acks {
		perServer[k.server]++
		if k.after {
			afterKill++
		}
		if other, ok := owner[k.ip]; ok && other != k.mac {
			t.Errorf("%s was acknowledged to %s and to %s", k.ip, other, k.mac)
		}
		owner[k.ip] = k.mac
	}
	t.Logf("our clients: %d DORAs, %d acknowledged (%v by server), %d after B was killed, %d NAKed", macs.Load(), len(acks), perServer, afterKill, naks.Load())
	t.Logf("perfdhcp:\n%s", perfReport)
	if perServer["10.220.0.1"] == 0 || perServer["10.220.0.2"] == 0 {
		t.Errorf("acknowledged by server: %v; want both before the kill", perServer)
	}
	if afterKill < 50 {
		t.Errorf("only %d DORAs acknowledged after server B was killed: A did not go on", afterKill)
	}
	if !strings.Contains(perfReport, "received packets") {
		t.Errorf("perfdhcp gave no report:\n%s", perfReport)
	}
	db, err := postgres.Open(context.Background(), url)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	stored, err := db.Leases(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	byMAC, byIP := map[string]netip.Addr{}, map[netip.Addr]string{}
	for _, l := range stored {
		if _, dup := byMAC[l.MAC.String()]; dup {
			t.Errorf("%s has two leases in the store", l.MAC)
		}
		if other, dup := byIP[l.IP]; dup {
			t.Errorf("%s is leased to %s and %s in the store", l.IP, other, l.MAC)
		}
		byMAC[l.MAC.String()], byIP[l.IP] = l.IP, l.MAC.String()
	}
	t.Logf("%d leases in the store", len(stored))
	if len(stored) < len(acks)+1000 {
		t.Errorf("%d leases stored, for %d of our clients' and perfdhcp's: the load did not reach the servers", len(stored), len(acks))
	}
	for _, k := range acks {
		if byMAC[k.mac] != k.ip {
			t.Errorf("%s was acknowledged %s by %s; the store has %v", k.mac, k.ip, k.server, byMAC[k.mac])
		}
	}
}

// TestMachineAddedOnAServedByB: two servers on one PostgreSQL store. A
// machine is added through server A's REST API (A is on a network of its
// own); its next boot is on server B's LAN, and B, which learned of it
// from the shared store, installs it: a BIOS machine in QEMU, with its
// kickstart and timeline.
func TestMachineAddedOnAServedByB(t *testing.T) {
	requireHost(t, "curl")
	fx := buildFixture(t)
	t.Setenv("KICKSTAND_STORE", pgtest.Start(t).NewDatabase(t)) // every kickstand below, CLI and servers
	bin := kickstandBinary(t)
	cli := &kickstand{bin: bin, dataDir: t.TempDir()}
	token := createToken(t, cli, "ops")
	cli.run(t, "distro", "import", "rocky9", fx.iso)
	cli.run(t, "profile", "add", "rocky9", "--distro", "rocky9", "--kernel-args", "console=ttyS0")

	office := newLAN(t, "10.213.13") // server A's network: no machines boot there
	startServe(t, office, &kickstand{bin: bin, dataDir: t.TempDir()}, nil, "--dhcp", "off")
	lab := newLAN(t, "10.213.12") // server B's
	b := startServe(t, lab, &kickstand{bin: bin, dataDir: t.TempDir()}, nil,
		"--dhcp", "full", "--dhcp-range", lab.prefix+".100-"+lab.prefix+".150")

	mac := randomMAC(t)
	apiA := restAPI{ns: office.ns, base: "http://" + office.serverIP + ":" + httpPort + "/api/v1"}
	apiA.want(t, token, "POST", "/machines", fmt.Sprintf(`{"mac": %q, "profile": "rocky9", "hostname": "from-a"}`, mac), http.StatusCreated, nil)

	bootAndInstall(t, lab, b, mac, fx)
	checkInstalled(t, lab, cli, mac, "dhcp", "tftp", "kickstart")
	if m := cli.machine(t, mac); m.Hostname != "from-a" {
		t.Errorf("the machine's hostname is %q, want from-a as added through A", m.Hostname)
	}
}
