//go:build e2e

package e2e

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"regexp"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/insomniacslk/dhcp/dhcpv4"
	"golang.org/x/sys/unix"
)

// timeline collects what happened during one boot, each entry stamped with the time
// since the timeline started: the DHCP and TFTP requests seen on the LAN (see sniff)
// and the lines firmware, boot loader and installer write to the serial console (see
// follow). It is how the tests learn — and show — what firmware asks for and when.
type timeline struct {
	start time.Time

	mu      sync.Mutex
	entries []timelineEntry
	stop    []func()
}

type timelineEntry struct {
	at     time.Duration
	source string
	text   string
}

func newTimeline(t *testing.T) *timeline {
	tl := &timeline{start: time.Now()}
	t.Cleanup(tl.close)
	return tl
}

func (tl *timeline) add(source, text string) {
	tl.mu.Lock()
	defer tl.mu.Unlock()
	tl.entries = append(tl.entries, timelineEntry{time.Since(tl.start), source, text})
}

// close stops every sniffer and follower; it may be called more than once.
func (tl *timeline) close() {
	tl.mu.Lock()
	stop := tl.stop
	tl.stop = nil
	tl.mu.Unlock()
	for _, f := range stop {
		f()
	}
}

// matching returns the texts of source's entries that contain substr, in order.
func (tl *timeline) matching(source, substr string) []string {
	tl.mu.Lock()
	defer tl.mu.Unlock()
	var texts []string
	for _, e := range tl.entries {
		if e.source == source && strings.Contains(e.text, substr) {
			texts = append(texts, e.text)
		}
	}
	return texts
}

// kernelLogLine matches a kernel message on the console ("[    0.000000] ...").
var kernelLogLine = regexp.MustCompile(`^\[ *[0-9]+\.[0-9]+\] `)

// String renders the timeline in time order; of the kernel's messages it keeps the
// first (its version) and the command line.
func (tl *timeline) String() string {
	tl.mu.Lock()
	entries := append([]timelineEntry(nil), tl.entries...)
	tl.mu.Unlock()
	sort.SliceStable(entries, func(i, j int) bool { return entries[i].at < entries[j].at })
	var b strings.Builder
	for _, e := range entries {
		if e.source == "console" && kernelLogLine.MatchString(e.text) &&
			!strings.Contains(e.text, "Linux version") && !strings.Contains(e.text, "Command line:") {
			continue
		}
		fmt.Fprintf(&b, "%7.1fs %-7s %s\n", e.at.Seconds(), e.source, e.text)
	}
	return b.String()
}

// ansiEscape matches the terminal control sequences OVMF and GRUB write to the serial
// console: CSI sequences, and the two-byte charset and mode switches.
var ansiEscape = regexp.MustCompile(`\x1b(\[[0-9;?]*[ -/]*[@-~]|[()][0-9A-Za-z]|[=>])`)

// follow adds each line written to path (the serial console) to the timeline as
// source "console", control sequences removed, until the timeline is closed. Screen
// redraws make OVMF's lines repeat; a line equal to the one before is dropped.
func (tl *timeline) follow(path string) {
	quit := make(chan struct{})
	finished := make(chan struct{})
	tl.mu.Lock()
	tl.stop = append(tl.stop, func() { close(quit); <-finished })
	tl.mu.Unlock()
	go func() {
		defer close(finished)
		var offset int64
		var partial, last string
		poll := func() {
			f, err := os.Open(path)
			if err != nil {
				return
			}
			defer f.Close()
			chunk, _ := io.ReadAll(io.NewSectionReader(f, offset, 1<<30))
			offset += int64(len(chunk))
			text := partial + string(chunk)
			lines := strings.FieldsFunc(text, func(r rune) bool { return r == '\n' || r == '\r' })
			partial = ""
			if len(lines) > 0 && !strings.HasSuffix(text, "\n") && !strings.HasSuffix(text, "\r") {
				partial, lines = lines[len(lines)-1], lines[:len(lines)-1]
			}
			for _, line := range lines {
				line = strings.TrimSpace(ansiEscape.ReplaceAllString(line, ""))
				line = strings.Map(func(r rune) rune {
					if r < 0x20 || r == 0x7f {
						return -1
					}
					return r
				}, line)
				if line == "" || line == last {
					continue
				}
				last = line
				tl.add("console", line)
			}
		}
		ticker := time.NewTicker(100 * time.Millisecond)
		defer ticker.Stop()
		for {
			select {
			case <-quit:
				poll()
				return
			case <-ticker.C:
				poll()
			}
		}
	}()
}

// sniff adds to the timeline, as source "wire", what crosses iface inside ns in
// either direction, decoded: every DHCP packet (ports 67, 68 and 4011), every TFTP
// read request (port 69) with the server's option acknowledgement or error, and the
// first line of every HTTP request. It reads a packet socket bound to iface.
func (tl *timeline) sniff(t *testing.T, ns *netns, iface string) {
	t.Helper()
	var sock *os.File
	err := ns.inside(func() error {
		ifi, err := net.InterfaceByName(iface)
		if err != nil {
			return err
		}
		// ETH_P_ALL, not ETH_P_IP: only taps for all protocols see outgoing packets.
		proto := htons(unix.ETH_P_ALL)
		fd, err := unix.Socket(unix.AF_PACKET, unix.SOCK_DGRAM|unix.SOCK_NONBLOCK|unix.SOCK_CLOEXEC, int(proto))
		if err != nil {
			return fmt.Errorf("packet socket: %w", err)
		}
		if err := unix.Bind(fd, &unix.SockaddrLinklayer{Protocol: proto, Ifindex: ifi.Index}); err != nil {
			unix.Close(fd)
			return fmt.Errorf("bind packet socket to %s: %w", iface, err)
		}
		sock = os.NewFile(uintptr(fd), "packet:"+iface)
		return nil
	})
	if err != nil {
		t.Fatalf("sniff %s in %s: %v", iface, ns.name, err)
	}
	finished := make(chan struct{})
	tl.mu.Lock()
	tl.stop = append(tl.stop, func() { sock.Close(); <-finished })
	tl.mu.Unlock()
	go func() {
		defer close(finished)
		decoder := packetDecoder{tftpClients: map[string]bool{}}
		buf := make([]byte, 65536)
		for {
			n, err := sock.Read(buf)
			if err != nil {
				if !errors.Is(err, os.ErrClosed) {
					tl.add("wire", fmt.Sprintf("sniffer stopped: %v", err))
				}
				return
			}
			if text := decoder.describe(buf[:n]); text != "" {
				tl.add("wire", text)
			}
		}
	}()
}

func htons(v uint16) uint16 { return v<<8 | v>>8 }

// packetDecoder renders the packets of a network boot; it remembers the endpoints of
// TFTP clients to recognise the server's answers, which come from another port.
type packetDecoder struct {
	tftpClients map[string]bool // "IP:port" of each read request's sender
}

// describe decodes an IPv4 packet (without its link header); it returns "" for
// packets it does not render.
func (d *packetDecoder) describe(p []byte) string {
	if len(p) < 20 || p[0]>>4 != 4 {
		return ""
	}
	ihl := int(p[0]&0x0f) * 4
	if len(p) < ihl+20 {
		return ""
	}
	src, dst := net.IP(p[12:16]), net.IP(p[16:20])
	l4 := p[ihl:]
	sport, dport := binary.BigEndian.Uint16(l4[0:2]), binary.BigEndian.Uint16(l4[2:4])
	from, to := fmt.Sprintf("%s:%d", src, sport), fmt.Sprintf("%s:%d", dst, dport)
	switch p[9] {
	case unix.IPPROTO_TCP:
		payload := l4[int(l4[12]>>4)*4:]
		for _, method := range []string{"GET ", "HEAD ", "POST "} {
			if bytes.HasPrefix(payload, []byte(method)) {
				line, _, _ := bytes.Cut(payload, []byte("\r\n"))
				return "HTTP " + string(line) + " from " + from
			}
		}
	case unix.IPPROTO_UDP:
		payload := l4[8:]
		switch {
		case dport == 69:
			d.tftpClients[from] = true
			return describeTFTPRequest(payload, from)
		case d.tftpClients[to] && len(payload) >= 2:
			return describeTFTPReply(payload, to)
		case sport == 67 || sport == 68 || sport == 4011 || dport == 67 || dport == 68 || dport == 4011:
			msg, err := dhcpv4.FromBytes(payload)
			if err != nil {
				return fmt.Sprintf("undecodable DHCP %s > %s: %v", from, to, err)
			}
			return fmt.Sprintf("%s > %s %s", from, to, describeDHCP(msg))
		}
	}
	return ""
}

// describeTFTPRequest renders an RRQ: file name, mode and options.
func describeTFTPRequest(p []byte, from string) string {
	if len(p) < 2 || binary.BigEndian.Uint16(p) != 1 {
		return ""
	}
	fields := strings.Split(strings.TrimSuffix(string(p[2:]), "\x00"), "\x00")
	text := "TFTP RRQ " + fields[0] + " from " + from
	if len(fields) > 1 {
		text += " mode=" + fields[1]
	}
	for i := 2; i+1 < len(fields); i += 2 {
		text += " " + fields[i] + "=" + fields[i+1]
	}
	return text
}

// describeTFTPReply renders the server's OACK or ERROR to a client; data is left out.
func describeTFTPReply(p []byte, to string) string {
	fields := strings.Split(strings.TrimSuffix(string(p[2:]), "\x00"), "\x00")
	switch binary.BigEndian.Uint16(p) {
	case 6:
		text := "TFTP OACK to " + to
		for i := 0; i+1 < len(fields); i += 2 {
			text += " " + fields[i] + "=" + fields[i+1]
		}
		return text
	case 5:
		if len(p) < 4 {
			return "TFTP ERROR to " + to
		}
		msg := strings.TrimSuffix(string(p[4:]), "\x00")
		return fmt.Sprintf("TFTP ERROR %d %q to %s", binary.BigEndian.Uint16(p[2:4]), msg, to)
	}
	return ""
}

// describeDHCP renders the parts of a DHCP message that decide a network boot.
func describeDHCP(m *dhcpv4.DHCPv4) string {
	var b strings.Builder
	fmt.Fprintf(&b, "%s %s", m.MessageType(), m.ClientHWAddr)
	if m.OpCode == dhcpv4.OpcodeBootReply {
		fmt.Fprintf(&b, " yiaddr=%s siaddr=%s", m.YourIPAddr, m.ServerIPAddr)
		if m.BootFileName != "" {
			fmt.Fprintf(&b, " file=%q", m.BootFileName)
		}
		if m.ServerHostName != "" {
			fmt.Fprintf(&b, " sname=%q", m.ServerHostName)
		}
	}
	for _, code := range []uint8{60, 93, 94, 97, 77, 175, 43, 66, 67, 54, 55} {
		v, ok := m.Options[code]
		if !ok {
			continue
		}
		switch code {
		case 60, 66, 67:
			fmt.Fprintf(&b, " %d=%q", code, v)
		case 77:
			fmt.Fprintf(&b, " 77=%q", describeUserClass(v))
		case 54:
			fmt.Fprintf(&b, " 54=%s", net.IP(v))
		case 55:
			fmt.Fprintf(&b, " 55=%v", v)
		default:
			fmt.Fprintf(&b, " %d=%x", code, v)
		}
	}
	return b.String()
}

// describeUserClass renders option 77 as RFC 3004 length-prefixed strings when it
// parses as such (iPXE sends "iPXE" raw, some firmware RFC 3004 style).
func describeUserClass(v []byte) string {
	var parts []string
	for rest := v; len(rest) > 0; {
		n := int(rest[0])
		if n == 0 || n+1 > len(rest) || bytes.ContainsFunc(rest[1:n+1], func(r rune) bool { return r < 0x20 }) {
			return string(v)
		}
		parts = append(parts, string(rest[1:n+1]))
		rest = rest[n+1:]
	}
	return strings.Join(parts, ",")
}
