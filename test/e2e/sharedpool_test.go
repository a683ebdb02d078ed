//go:build e2e

package e2e

import (
	"context"
	"fmt"
	"net"
	"net/http"
	"net/netip"
	"path/filepath"
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
// and one PostgreSQL store, with the same pool, while clients do DORAs
// with new MACs, and kills one with SIGKILL in the middle: the other goes
// on serving; no address is ever acknowledged to two MACs (the database
// decides: a server that finds an address leased through the other NAKs
// and offers another); and every acknowledged lease is in the store.
func TestTwoServersSharePool(t *testing.T) {
	requireRootNetns(t)
	bin := kickstandBinary(t)
	url := pgtest.Start(t).NewDatabase(t)
	l := newLAN(t, "10.213.11")
	serverB, _ := l.addPeer(t, l.prefix+".2")
	clientNS, iface := l.addPeer(t, l.prefix+".9")
	logs := t.TempDir()
	args := func(data string) []string {
		return []string{bin, "serve", "--data-dir", data, "--store", url, "--dhcp", "full",
			"--dhcp-range", l.prefix + ".100-" + l.prefix + ".250", "--http-port", "8080", "--tftp-port", "1069", "--ftp-port", "0"}
	}
	a := startDaemon(t, l.ns, filepath.Join(logs, "a.log"), append(args(t.TempDir()), "--interface", l.bridge)...)
	b := startDaemon(t, serverB, filepath.Join(logs, "b.log"), append(args(t.TempDir()), "--interface", "lan0")...)
	dumpOnFailure(t, map[string]string{"kickstand serve A": a.log, "kickstand serve B": b.log})

	c := newDORAClient(t, clientNS, iface)
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
	const maxMACs = 140 // of the pool's 151 addresses
	deadline := time.Now().Add(8 * time.Second)
	for range 8 {
		wg.Go(func() {
			for time.Now().Before(deadline) {
				n := macs.Add(1)
				if n > maxMACs {
					return
				}
				time.Sleep(400 * time.Millisecond) // 8 clients, 20 DORAs a second: the pool lasts the run
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
					if reply == nil && fmt.Sprint(err) == "REQUEST answered with NAK" {
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
	time.Sleep(3 * time.Second)
	if err := b.cmd.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatalf("kill -9 server B: %v", err)
	}
	killed.Store(true)
	wg.Wait()

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
	t.Logf("%d DORAs, %d acknowledged (%v by server), %d after B was killed, %d NAKed", min(macs.Load(), maxMACs), len(acks), perServer, afterKill, naks.Load())
	if perServer[l.serverIP] == 0 || perServer[l.prefix+".2"] == 0 {
		t.Errorf("acknowledged by server: %v; want both before the kill", perServer)
	}
	if afterKill == 0 {
		t.Error("no DORA was acknowledged after server B was killed: A stopped too")
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
	byMAC := map[string]netip.Addr{}
	for _, l := range stored {
		byMAC[l.MAC.String()] = l.IP
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
