package tftp

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"log/slog"
	"math"
	"net"
	"net/netip"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
)

// Figures of the flood: 20,000 read requests from one address, paced over
// floodDuration, as the attack that found the unbounded transfers sent them.
// The client starts its download when floodClientAt requests have gone out:
// late enough that a server without limits has run out of descriptors.
const (
	floodRequests = 20000
	floodDuration = 2 * time.Second
	floodClientAt = floodRequests * 3 / 4
)

// TestFloodFromOneAddress floods a server with the Server's default limits
// with read requests from 127.0.0.1 that ask for "timeout 255" and are never
// acknowledged, while a client on ::1 downloads a file. The download must
// succeed, the descriptors held must stay bounded during the flood and return
// to their level before it within a few seconds after it.
func TestFloodFromOneAddress(t *testing.T) {
	if _, err := os.ReadDir("/proc/self/fd"); err != nil {
		t.Skipf("cannot count descriptors here: %v", err)
	}
	conn, err := net.ListenPacket("udp", "[::]:0") // dual-stack: the flood on IPv4, the client on IPv6
	if err != nil {
		t.Skipf("no dual-stack socket here: %v", err)
	}
	fixture := filepath.Join(t.TempDir(), "vmlinuz")
	content := patterned(1 << 20)
	if err := os.WriteFile(fixture, content, 0o644); err != nil {
		t.Fatal(err)
	}
	s := &Server{Handler: oneFile(fixture), Logger: slog.New(slog.DiscardHandler)}
	port := serveOn(t, s, conn).Port()
	client := newTestClient(t, netip.AddrPortFrom(netip.IPv6Loopback(), port))
	flooder, err := net.ListenUDP("udp4", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		t.Fatal(err)
	}
	defer flooder.Close()
	_ = flooder.SetReadBuffer(4 << 20) // to count the replies

	before, rssBefore := openDescriptors(t), residentKiB()
	replies := countReplies(flooder)
	clientTurn := make(chan struct{})
	var peak floodPeak
	var floodEnd time.Time
	var wg sync.WaitGroup
	wg.Go(func() {
		peak, floodEnd = flood(flooder, netip.AddrPortFrom(netip.MustParseAddr("127.0.0.1"), port), clientTurn)
	})

	<-clientTurn
	var got bytes.Buffer
	downloadErr := downloadRetrying(client, &got, "vmlinuz", "tsize", "0", "blksize", "1468", "windowsize", "16")
	wg.Wait()
	if downloadErr != nil || !bytes.Equal(got.Bytes(), content) {
		t.Errorf("download during the flood: %d bytes, %v; want %d bytes", got.Len(), downloadErr, len(content))
	}

	recovered, after := waitForDescriptors(before, 10*time.Second)
	sent := replies()
	t.Logf("descriptors: %d before, peak %s during the flood, %s %v after its last request",
		before, describeCount(peak.descriptors), describeCount(after), recovered.Sub(floodEnd).Round(10*time.Millisecond))
	t.Logf("resident memory: %d KiB before, peak %d KiB during the flood", rssBefore, peak.residentKiB)
	t.Logf("replies to %d requests: %s", floodRequests, sent)
	floodReport(t, s)

	// The flooding address may hold DefaultMaxTransfersPerClient transfers and
	// the client one, each a socket and a file.
	if limit := before + 2*(DefaultMaxTransfersPerClient+1) + 4; peak.descriptors > limit {
		t.Errorf("%s descriptors open during the flood, want at most %d", describeCount(peak.descriptors), limit)
	}
	if after < 0 || after > before {
		t.Errorf("%s descriptors open 10s after the flood, want %d as before it", describeCount(after), before)
	} else if took := recovered.Sub(floodEnd); took > 5*time.Second {
		t.Errorf("descriptors took %v after the flood to return to %d, want a few seconds", took, before)
	}
}

// downloadRetrying downloads like firmware, which sends its request again when
// no answer comes within a second: a flood fills the listening socket's buffer,
// and the kernel drops what does not fit, requests of real clients included.
func downloadRetrying(c *testClient, w io.Writer, name string, options ...string) error {
	c.peer = netip.AddrPort{}
	var packet []byte
	var err error
	for range 5 {
		c.request(opRRQ, name, options...)
		if packet, err = c.receive(time.Second); err == nil {
			break
		}
	}
	if err != nil {
		return err
	}
	if opcodeOf(packet) != opOACK {
		return fmt.Errorf("got %s, want OACK", describe(packet))
	}
	blockSize, window := 512, 1
	for _, o := range parseOACK(packet) {
		switch o.name {
		case "blksize":
			blockSize, _ = strconv.Atoi(o.value)
		case "windowsize":
			window, _ = strconv.Atoi(o.value)
		}
	}
	c.ack(0)
	if packet, err = c.receive(5 * time.Second); err != nil {
		return err
	}
	_, err = c.receiveData(w, packet, blockSize, window)
	return err
}

// oneFile is a Handler that opens the file at path whatever the name asked for,
// so that every request holds a real descriptor, as the app's handler does.
func oneFile(path string) Handler {
	return func(_ context.Context, _ string, _ net.Addr) (io.ReadCloser, int64, error) {
		f, err := os.Open(path)
		if err != nil {
			return nil, 0, err
		}
		info, err := f.Stat()
		if err != nil {
			f.Close()
			return nil, 0, err
		}
		return f, info.Size(), nil
	}
}

// floodPeak is the most the process held during a flood.
type floodPeak struct {
	descriptors int // math.MaxInt when none were left to count them
	residentKiB int
}

// describeCount shows a descriptor count, which is negative or math.MaxInt
// when none were left to count them.
func describeCount(n int) string {
	if n < 0 || n == math.MaxInt {
		return "all (none left to count them)"
	}
	return strconv.Itoa(n)
}

// flood sends floodRequests distinct read requests with "timeout 255" to
// target, paced over floodDuration, closing clientTurn at floodClientAt. It
// returns the most the process held meanwhile and when it sent the last.
func flood(conn *net.UDPConn, target netip.AddrPort, clientTurn chan<- struct{}) (peak floodPeak, end time.Time) {
	const batch = 100
	start := time.Now()
	for i := range floodRequests {
		req := request{opcode: opRRQ, filename: fmt.Sprintf("flood/%05d", i), mode: "octet",
			options: []option{{"timeout", "255"}}}
		_, _ = conn.WriteToUDPAddrPort(appendRequest(nil, req), target)
		if i == floodClientAt {
			close(clientTurn)
		}
		if (i+1)%batch == 0 {
			n := countDescriptors()
			if n < 0 {
				n = math.MaxInt
			}
			peak.descriptors = max(peak.descriptors, n)
			peak.residentKiB = max(peak.residentKiB, residentKiB())
			time.Sleep(time.Until(start.Add(floodDuration * time.Duration(i+1) / floodRequests)))
		}
	}
	return peak, time.Now()
}

// countReplies reads what the server sends to conn in the background; the
// returned function stops reading and describes what arrived.
func countReplies(conn *net.UDPConn) func() string {
	var packets, bytes int
	byType := map[string]int{}
	done := make(chan struct{})
	go func() {
		defer close(done)
		buf := make([]byte, 70000)
		for {
			n, _, err := conn.ReadFromUDPAddrPort(buf)
			if err != nil {
				return
			}
			packets++
			bytes += n
			kind, _, _ := strings.Cut(describe(buf[:n]), " ")
			byType[kind]++
		}
	}()
	return func() string {
		_ = conn.SetReadDeadline(time.Now())
		<-done
		return fmt.Sprintf("%d packets (%v), %d bytes", packets, byType, bytes)
	}
}

// openDescriptors counts the process's open descriptors.
func openDescriptors(tb testing.TB) int {
	tb.Helper()
	n := countDescriptors()
	if n < 0 {
		tb.Fatal("cannot read /proc/self/fd")
	}
	return n
}

// countDescriptors counts the process's open descriptors, or returns -1 when
// it cannot (with none left to open the directory, for one).
func countDescriptors() int {
	entries, err := os.ReadDir("/proc/self/fd")
	if err != nil {
		return -1
	}
	return len(entries)
}

// waitForDescriptors waits up to limit until at most want descriptors are open
// and returns when that happened and the last count.
func waitForDescriptors(want int, limit time.Duration) (time.Time, int) {
	deadline := time.Now().Add(limit)
	for {
		n := countDescriptors()
		if (n >= 0 && n <= want) || time.Now().After(deadline) {
			return time.Now(), n
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// residentKiB returns the process's resident memory, or 0 when unknown.
func residentKiB() int {
	status, err := os.ReadFile("/proc/self/status")
	if err != nil {
		return 0
	}
	for line := range strings.Lines(string(status)) {
		if value, ok := strings.CutPrefix(line, "VmRSS:"); ok {
			kib, _ := strconv.Atoi(strings.TrimSuffix(strings.TrimSpace(value), " kB"))
			return kib
		}
	}
	return 0
}
