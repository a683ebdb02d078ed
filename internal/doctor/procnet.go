package doctor

import (
	"bufio"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net/netip"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
)

// socket is one line of /proc/net/{udp,tcp,udp6,tcp6}.
type socket struct {
	Proto string // "udp", "tcp", "udp6" or "tcp6"
	Local netip.AddrPort
	State int // TCP: 0x0A is LISTEN; UDP: 0x07 unconnected, 0x01 connected
	UID   int
	Inode uint64
}

// tcpListen is the state of a listening TCP socket in /proc/net/tcp.
const tcpListen = 0x0A

// readSockets reads the sockets of this network namespace. Missing udp6
// and tcp6 tables (IPv6 off) are not an error.
func readSockets(procRoot string) ([]socket, error) {
	var all []socket
	for _, proto := range []string{"udp", "tcp", "udp6", "tcp6"} {
		f, err := os.Open(filepath.Join(netDir(procRoot), proto))
		if errors.Is(err, fs.ErrNotExist) && strings.HasSuffix(proto, "6") {
			continue
		}
		if err != nil {
			return nil, fmt.Errorf("read sockets: %w", err)
		}
		socks, err := parseProcNet(f, proto)
		f.Close()
		if err != nil {
			return nil, err
		}
		all = append(all, socks...)
	}
	return all, nil
}

// netDir is /proc/thread-self/net: the tables of this thread's network
// namespace, which a thread moved into another namespace (setns) sees
// there and not in /proc/net (the main thread's). A tree without it (older
// kernels, test fakes) has net/.
func netDir(procRoot string) string {
	if st, err := os.Stat(filepath.Join(procRoot, "thread-self", "net")); err == nil && st.IsDir() {
		return filepath.Join(procRoot, "thread-self", "net")
	}
	return filepath.Join(procRoot, "net")
}

// parseProcNet parses a /proc/net/{udp,tcp}{,6} table:
//
//	sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode ...
//	 0: 00000000:0045 00000000:0000 07 00000000:00000000 00:00000000 00000000     0        0 24521 2 ...
func parseProcNet(r io.Reader, proto string) ([]socket, error) {
	var out []socket
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 0, 4096), 1<<20)
	for line := 0; sc.Scan(); line++ {
		f := strings.Fields(sc.Text())
		if line == 0 || len(f) == 0 {
			continue // the header
		}
		if len(f) < 10 {
			return nil, fmt.Errorf("/proc/net/%s line %d: %d fields, want at least 10", proto, line+1, len(f))
		}
		local, err := parseHexAddrPort(f[1])
		if err != nil {
			return nil, fmt.Errorf("/proc/net/%s line %d: %w", proto, line+1, err)
		}
		state, err1 := strconv.ParseInt(f[3], 16, 32)
		uid, err2 := strconv.Atoi(f[7])
		inode, err3 := strconv.ParseUint(f[9], 10, 64)
		if err := errors.Join(err1, err2, err3); err != nil {
			return nil, fmt.Errorf("/proc/net/%s line %d: %w", proto, line+1, err)
		}
		out = append(out, socket{Proto: proto, Local: local, State: int(state), UID: uid, Inode: inode})
	}
	return out, sc.Err()
}

// parseHexAddrPort parses "0100007F:0035" (127.0.0.1:53) or its 32-digit
// IPv6 form. The kernel prints the address as 32-bit words in the host's
// byte order, the port as a plain number.
func parseHexAddrPort(s string) (netip.AddrPort, error) {
	addrHex, portHex, ok := strings.Cut(s, ":")
	port, err := strconv.ParseUint(portHex, 16, 16)
	if !ok || err != nil || (len(addrHex) != 8 && len(addrHex) != 32) {
		return netip.AddrPort{}, fmt.Errorf("bad socket address %q", s)
	}
	raw, err := hex.DecodeString(addrHex)
	if err != nil {
		return netip.AddrPort{}, fmt.Errorf("bad socket address %q", s)
	}
	for i := 0; i < len(raw); i += 4 { // each word back to network order
		binary.NativeEndian.PutUint32(raw[i:], binary.BigEndian.Uint32(raw[i:]))
	}
	addr, _ := netip.AddrFromSlice(raw)
	return netip.AddrPortFrom(addr.Unmap(), uint16(port)), nil
}

// socketsOn returns the sockets that keep kickstand from binding p: any
// UDP socket on its port, any listening TCP socket, on any address (an
// address-specific bind conflicts with kickstand's wildcard one).
func socketsOn(socks []socket, p Port) []socket {
	var out []socket
	for _, s := range socks {
		port := int(s.Local.Port())
		if port < p.First || port > p.Last || strings.TrimSuffix(s.Proto, "6") != p.Proto {
			continue
		}
		if p.Proto == "tcp" && s.State != tcpListen {
			continue
		}
		out = append(out, s)
	}
	return out
}

// Process is a process holding a socket.
type Process struct {
	PID  int
	Name string // its comm
	Args []string
	// SameBinary is whether it runs the executable this process runs.
	SameBinary bool
}

// KickstandServe reports whether the process is a running `kickstand serve`:
// this binary, or one called kickstand, with the serve command.
func (p Process) KickstandServe() bool {
	isKickstand := p.SameBinary || p.Name == "kickstand" || len(p.Args) > 0 && filepath.Base(p.Args[0]) == "kickstand"
	return isKickstand && slices.Contains(p.Args, "serve")
}

// socketHolders maps each socket inode to the processes that have it open,
// from the /proc/PID/fd/N -> "socket:[INODE]" links. Processes whose fds
// this user cannot read are left out.
func socketHolders(procRoot string, inodes []uint64) map[uint64][]Process {
	out := map[uint64][]Process{}
	if len(inodes) == 0 {
		return out
	}
	want := map[string]uint64{}
	for _, n := range inodes {
		want[fmt.Sprintf("socket:[%d]", n)] = n
	}
	self, _ := os.Executable()
	entries, _ := os.ReadDir(procRoot)
	for _, e := range entries {
		pid, err := strconv.Atoi(e.Name())
		if err != nil || pid <= 0 {
			continue
		}
		fdDir := filepath.Join(procRoot, e.Name(), "fd")
		fds, _ := os.ReadDir(fdDir)
		var proc *Process
		for _, fd := range fds {
			link, err := os.Readlink(filepath.Join(fdDir, fd.Name()))
			inode, ok := want[link]
			if err != nil || !ok {
				continue
			}
			if proc == nil {
				p := readProcess(procRoot, pid, self)
				proc = &p
			}
			if !slices.ContainsFunc(out[inode], func(q Process) bool { return q.PID == pid }) {
				out[inode] = append(out[inode], *proc)
			}
		}
	}
	return out
}

// readProcess reads a process's name and arguments, and whether it runs
// the executable self.
func readProcess(procRoot string, pid int, self string) Process {
	dir := filepath.Join(procRoot, strconv.Itoa(pid))
	p := Process{PID: pid}
	if exe, err := os.Readlink(filepath.Join(dir, "exe")); err == nil && self != "" {
		p.SameBinary = strings.TrimSuffix(exe, " (deleted)") == self // an upgrade replaced the file since
	}
	if b, err := os.ReadFile(filepath.Join(dir, "comm")); err == nil {
		p.Name = strings.TrimSpace(string(b))
	}
	if b, err := os.ReadFile(filepath.Join(dir, "cmdline")); err == nil && len(b) > 0 {
		p.Args = strings.Split(strings.TrimRight(string(b), "\x00"), "\x00")
	}
	if p.Name == "" && len(p.Args) > 0 {
		p.Name = filepath.Base(p.Args[0])
	}
	if p.Name == "" {
		p.Name = "pid " + strconv.Itoa(pid)
	}
	return p
}
