package doctor

import (
	"fmt"
	"slices"
	"strings"

	"kickstand/internal/config"
	"kickstand/internal/ftp"
)

// Port is a port, or a range of ports, that kickstand serves.
type Port struct {
	Proto string `json:"proto"` // "udp" or "tcp"
	First int    `json:"first"`
	Last  int    `json:"last"` // Last == First for a single port
	What  string `json:"what"` // "DHCP", "TFTP", ...
	// Flag is the setting that moves the port or turns its server off.
	Flag string `json:"flag"`
	// Broadcast: clients send to 255.255.255.255 from 0.0.0.0 (DHCP on 67).
	Broadcast bool `json:"broadcast,omitempty"`
}

func (p Port) String() string {
	if p.Last > p.First {
		return fmt.Sprintf("%d-%d/%s", p.First, p.Last, p.Proto)
	}
	return fmt.Sprintf("%d/%s", p.First, p.Proto)
}

// Ports returns every port kickstand serve opens with cfg: DHCP (67/udp)
// and the PXE boot server (4011/udp) unless --dhcp off, TFTP, HTTP and,
// unless --ftp-port 0, FTP and its passive range.
func Ports(cfg config.Config) []Port {
	var ps []Port
	if cfg.DHCP != "off" {
		ps = append(ps, Port{Proto: "udp", First: 67, Last: 67, What: "DHCP", Flag: "--dhcp off", Broadcast: true},
			Port{Proto: "udp", First: 4011, Last: 4011, What: "PXE boot server", Flag: "--dhcp off"})
	}
	ps = append(ps, Port{Proto: "udp", First: cfg.TFTPPort, Last: cfg.TFTPPort, What: "TFTP", Flag: "--tftp-port"},
		Port{Proto: "tcp", First: cfg.HTTPPort, Last: cfg.HTTPPort, What: "HTTP", Flag: "--http-port"})
	if cfg.FTPPort != 0 {
		ps = append(ps, Port{Proto: "tcp", First: cfg.FTPPort, Last: cfg.FTPPort, What: "FTP", Flag: "--ftp-port (0 turns FTP off)"})
		if r, err := ftp.ParsePortRange(cfg.FTPPassive); err == nil {
			ps = append(ps, Port{Proto: "tcp", First: r[0], Last: r[1], What: "FTP passive", Flag: "--ftp-passive-ports"})
		}
	}
	return ps
}

// PortList names ports as a firewall rule would: "67/udp, 4011/udp, ...".
func PortList(ps []Port) string {
	var s []string
	for _, p := range ps {
		s = append(s, p.String())
	}
	return strings.Join(s, ", ")
}

// checkPorts says, for each port, whether it is free, held by a running
// kickstand serve, or held by another process (which one, with its PID).
func (d *Doctor) checkPorts(ports []Port) []Check {
	socks, err := readSockets(d.procRoot())
	if err != nil {
		return []Check{{Name: "port", Status: Warn, Text: "not checked: " + err.Error()}}
	}
	var inodes []uint64
	for _, p := range ports {
		for _, s := range socketsOn(socks, p) {
			inodes = append(inodes, s.Inode)
		}
	}
	holders := socketHolders(d.procRoot(), inodes)
	var checks []Check
	for _, p := range ports {
		checks = append(checks, portCheck(p, socketsOn(socks, p), holders))
	}
	return checks
}

// portCheck is the verdict on one port given the sockets bound to it and
// the processes holding them.
func portCheck(p Port, on []socket, holders map[uint64][]Process) Check {
	name := fmt.Sprintf("%s (%s)", p, p.What)
	if len(on) == 0 {
		return Check{Name: "port", Status: Pass, Text: name + " free"}
	}
	var ours, others []Process
	var unknown []socket
	for _, s := range on {
		hs := holders[s.Inode]
		if len(hs) == 0 {
			unknown = append(unknown, s)
		}
		for _, h := range hs {
			if h.KickstandServe() {
				ours = appendProcess(ours, h)
			} else {
				others = appendProcess(others, h)
			}
		}
	}
	where := ""
	if p.Last > p.First {
		where = " on " + portNumbers(on)
	}
	switch {
	case len(others) > 0:
		st := Fail
		if p.Last > p.First {
			st = Warn // FTP picks another port of the range
		}
		return Check{Name: "port", Status: st, Text: fmt.Sprintf("%s held by %s%s: %s", name, processList(others), where, portAdvice(p))}
	case len(unknown) > 0 && len(ours) == 0:
		return Check{Name: "port", Status: Fail, Text: fmt.Sprintf("%s held by a process of uid %d%s that this user cannot see (run kickstand doctor as root to name it): %s",
			name, unknown[0].UID, where, portAdvice(p))}
	}
	return Check{Name: "port", Status: Pass, Text: fmt.Sprintf("%s in use by kickstand serve (%s)", name, pidList(ours))}
}

// portAdvice says what to do about a port another program holds.
func portAdvice(p Port) string {
	switch p.What {
	case "DHCP":
		return "another DHCP server on this host answers the same clients; stop it, or keep it and run kickstand with --dhcp off (point its next-server and filename at kickstand)"
	case "PXE boot server":
		return "another PXE server runs on this host; stop it, or run kickstand with --dhcp off"
	case "FTP passive":
		return "FTP clients get the range's other ports; move the range with --ftp-passive-ports"
	}
	return "stop it, or move kickstand's " + p.What + " with " + p.Flag
}

func appendProcess(ps []Process, p Process) []Process {
	if slices.ContainsFunc(ps, func(q Process) bool { return q.PID == p.PID }) {
		return ps
	}
	return append(ps, p)
}

// processList names processes: "nginx (pid 812, 813), in.tftpd (pid 90)".
func processList(ps []Process) string {
	var names []string
	pids := map[string][]string{}
	for _, p := range ps {
		if _, ok := pids[p.Name]; !ok {
			names = append(names, p.Name)
		}
		pids[p.Name] = append(pids[p.Name], fmt.Sprint(p.PID))
	}
	var out []string
	for _, n := range names {
		out = append(out, fmt.Sprintf("%s (pid %s)", n, strings.Join(pids[n], ", ")))
	}
	return strings.Join(out, ", ")
}

func pidList(ps []Process) string {
	var s []string
	for _, p := range ps {
		s = append(s, fmt.Sprint(p.PID))
	}
	return "pid " + strings.Join(s, ", ")
}

func portNumbers(on []socket) string {
	var ports []int
	for _, s := range on {
		if !slices.Contains(ports, int(s.Local.Port())) {
			ports = append(ports, int(s.Local.Port()))
		}
	}
	slices.Sort(ports)
	var s []string
	for _, p := range ports {
		s = append(s, fmt.Sprint(p))
	}
	return "port " + strings.Join(s, ", ")
}
