//go:build linux

package main

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/netip"
	"path"
	"strings"
	"time"

	"github.com/insomniacslk/dhcp/dhcpv4"
)

// The phases of an install, in the order a machine goes through them.
const (
	phaseDHCP      = iota // first DISCOVER to ACK
	phaseTFTP             // boot file, ldlinux.c32, pxelinux config
	phaseBoot             // kernel and initrd
	phaseKickstart        // the kickstart
	phaseStage2           // .treeinfo and the stage2 image
	phasePhoneHome        // %pre and %post reports (and -install-time between them)
	numPhases
)

var phaseNames = [numPhases]string{"dhcp", "tftp", "boot", "ks", "stage2", "phone"}

// maxTextFile bounds a config, kickstart or .treeinfo read into memory.
const maxTextFile = 1 << 20

// result is one machine's install as the storm saw it.
type result struct {
	index int
	mac   net.HardwareAddr
	ip    netip.Addr
	// start and end are since the storm began: the first DISCOVER and the
	// answer to the last phone-home.
	start, end  time.Duration
	phases      [numPhases]time.Duration
	bytes       int64
	dhcpSends   int
	tftpRetx    int
	httpRetries int
	step        string // the step that failed, "" when installed
	err         error
}

// machine is one simulated machine: its identity and its interface.
type machine struct {
	index  int
	mac    net.HardwareAddr
	guid   [16]byte
	iface  *net.Interface
	xid    dhcpv4.TransactionID
	storm  *storm
	result result
}

// session is what a machine carries from one phase of its install to the next.
type session struct {
	lease   lease
	tftp    *tftpClient
	web     *webClient
	entry   bootEntry   // what the pxelinux config boots
	reports []phoneHome // the kickstart's %pre and %post phone-homes
}

// install does what the machine's firmware, boot loader and installer do
// on the wire, phase by phase, and records how long each took; the first
// phase that fails ends the install.
func (m *machine) install(ctx context.Context) {
	s := m.storm
	r := &m.result
	r.index, r.mac = m.index, m.mac
	ctx, cancel := context.WithTimeout(ctx, s.clientTimeout)
	defer cancel()

	steps := [numPhases]func(context.Context, *session) error{
		phaseDHCP:      m.getLease,
		phaseTFTP:      m.bootLoader,
		phaseBoot:      m.loadKernel,
		phaseKickstart: m.fetchKickstart,
		phaseStage2:    m.fetchStage2,
		phasePhoneHome: m.phoneHome,
	}
	var ss session
	defer func() {
		if ss.tftp != nil {
			r.tftpRetx, r.httpRetries = ss.tftp.retransmits, ss.web.retries
		}
	}()
	phaseStart := time.Now()
	r.start = phaseStart.Sub(s.began)
	for p, step := range steps {
		if err := step(ctx, &ss); err != nil {
			r.step, r.err = phaseNames[p], err
			r.end = time.Since(s.began)
			return
		}
		now := time.Now()
		r.phases[p] = now.Sub(phaseStart)
		phaseStart = now
	}
	r.end = time.Since(s.began)
}

// getLease is the firmware's DHCP; the machine then takes its address.
func (m *machine) getLease(ctx context.Context, ss *session) error {
	s := m.storm
	l, err := s.dhcp.dora(ctx, m.mac, m.guid, m.xid)
	m.result.dhcpSends = l.sends
	if err != nil {
		return err
	}
	m.result.ip = l.ip
	if err := addAddress(m.iface.Index, l.ip, l.prefixLen); err != nil {
		return fmt.Errorf("address: %w", err)
	}
	ss.lease = l
	ss.tftp = &tftpClient{local: l.ip, device: m.iface.Name, blksize: s.tftpBlksize, timeout: s.tftpTimeout, tries: s.tftpTries}
	ss.web = newWebClient(l.ip, m.iface.Name, s.httpTimeout, s.httpTries)
	return nil
}

// loadKernel is the boot loader reading kernel and initrd: over HTTP from a
// URL, else over TFTP.
func (m *machine) loadKernel(ctx context.Context, ss *session) error {
	prefix := pathPrefix(ss.lease)
	for _, file := range append([]string{ss.entry.kernel}, ss.entry.initrds...) {
		var n int64
		var err error
		if strings.Contains(file, "://") {
			_, n, err = ss.web.fetch(ctx, http.MethodGet, file, "", false)
		} else {
			n, err = ss.tftp.get(ctx, ss.lease.tftpServer, prefix+strings.TrimPrefix(file, "/"), io.Discard)
		}
		m.result.bytes += n
		if err != nil {
			return fmt.Errorf("%s: %w", file, err)
		}
	}
	return nil
}

// fetchKickstart is dracut fetching inst.ks=; the kickstart must phone home
// from %post, or the storm could not tell when the machine is installed.
func (m *machine) fetchKickstart(ctx context.Context, ss *session) error {
	ksURL := ss.entry.arg("inst.ks", "ks")
	if ksURL == "" {
		return errors.New("the kernel command line has no inst.ks=")
	}
	ks, n, err := ss.web.fetch(ctx, http.MethodGet, ksURL, "", true)
	m.result.bytes += n
	if err != nil {
		return err
	}
	if ss.reports, err = phoneHomes(string(ks)); err != nil {
		return err
	}
	if !hasSection(ss.reports, "post") {
		return errors.New("the kickstart's %post does not phone home")
	}
	return nil
}

// fetchStage2 is dracut fetching stage2 through the tree's .treeinfo
// (images/install.img when it names none or cannot be read).
func (m *machine) fetchStage2(ctx context.Context, ss *session) error {
	stage2 := ss.entry.arg("inst.stage2", "stage2")
	if stage2 == "" {
		stage2 = ss.entry.arg("inst.repo", "repo")
	}
	if stage2 == "" {
		return errors.New("the kernel command line has neither inst.stage2= nor inst.repo=")
	}
	mainImage := "images/install.img"
	treeinfo, n, err := ss.web.fetch(ctx, http.MethodGet, joinURL(stage2, ".treeinfo"), "", true)
	m.result.bytes += n
	if err == nil {
		if v := treeinfoStage2(string(treeinfo)); v != "" {
			mainImage = v
		}
	}
	_, n, err = ss.web.fetch(ctx, http.MethodGet, joinURL(stage2, mainImage), "", false)
	m.result.bytes += n
	return err
}

// phoneHome is anaconda running %pre, installing (-install-time), then
// running %post.
func (m *machine) phoneHome(ctx context.Context, ss *session) error {
	for _, section := range []string{"pre", "post"} {
		if section == "post" && m.storm.installTime > 0 {
			select {
			case <-time.After(m.storm.installTime):
			case <-ctx.Done():
				return ctx.Err()
			}
		}
		for _, p := range ss.reports {
			if p.section != section {
				continue
			}
			if _, _, err := ss.web.fetch(ctx, p.method, p.url, p.body, false); err != nil {
				return fmt.Errorf("%%%s: %w", section, err)
			}
		}
	}
	return nil
}

// bootLoader fetches the boot file and, for pxelinux, ldlinux.c32 and the
// machine's config, trying the names pxelinux tries; it keeps what the
// config boots.
func (m *machine) bootLoader(ctx context.Context, ss *session) error {
	tftp, l := ss.tftp, ss.lease
	boot := strings.TrimPrefix(l.bootFile, "/")
	n, err := tftp.get(ctx, l.tftpServer, boot, io.Discard)
	m.result.bytes += n
	if err != nil {
		return fmt.Errorf("boot file %s: %w", boot, err)
	}
	if !strings.HasSuffix(path.Base(boot), "pxelinux.0") {
		return fmt.Errorf("boot file %s: only pxelinux is simulated", boot)
	}
	prefix := pathPrefix(l)
	n, err = tftp.get(ctx, l.tftpServer, prefix+"ldlinux.c32", io.Discard)
	m.result.bytes += n
	if err != nil {
		return fmt.Errorf("ldlinux.c32: %w", err)
	}
	names := []string{strings.TrimPrefix(l.configFile, "/")}
	if l.configFile == "" {
		names = nil
		for _, name := range pxelinuxConfigNames(m.guid, m.mac, l.ip) {
			names = append(names, prefix+"pxelinux.cfg/"+name)
		}
	}
	for _, name := range names {
		var cfg limitedBuffer
		n, err := tftp.get(ctx, l.tftpServer, name, &cfg)
		m.result.bytes += n
		if errors.Is(err, errTFTPNotFound) {
			continue
		}
		if err != nil {
			return fmt.Errorf("%s: %w", name, err)
		}
		if ss.entry, err = parsePXELinux(cfg.String()); err != nil {
			return fmt.Errorf("%s: %w", name, err)
		}
		return nil
	}
	return fmt.Errorf("no pxelinux config: the server has none of %s", strings.Join(names, ", "))
}

// pathPrefix is where pxelinux looks for its files: option 210, else the
// boot file's directory.
func pathPrefix(l lease) string {
	if l.pathPrefix != "" {
		return strings.TrimPrefix(l.pathPrefix, "/")
	}
	boot := strings.TrimPrefix(l.bootFile, "/")
	return boot[:strings.LastIndexByte(boot, '/')+1]
}

func hasSection(reports []phoneHome, section string) bool {
	for _, p := range reports {
		if p.section == section {
			return true
		}
	}
	return false
}

// joinURL is base/file with one slash between.
func joinURL(base, file string) string {
	return strings.TrimSuffix(base, "/") + "/" + strings.TrimPrefix(file, "/")
}

// limitedBuffer keeps at most maxTextFile bytes and fails past that.
type limitedBuffer struct{ bytes.Buffer }

func (b *limitedBuffer) Write(p []byte) (int, error) {
	if b.Len()+len(p) > maxTextFile {
		return 0, fmt.Errorf("more than %d bytes", maxTextFile)
	}
	return b.Buffer.Write(p)
}

// webClient is a machine's HTTP: every request on a new connection from
// the machine's address and interface, as lpxelinux and dracut's curl
// processes make them.
type webClient struct {
	client  *http.Client
	tries   int
	retries int // requests sent again after a failure
}

func newWebClient(local netip.Addr, device string, timeout time.Duration, tries int) *webClient {
	dialer := &net.Dialer{LocalAddr: net.TCPAddrFromAddrPort(netip.AddrPortFrom(local, 0)),
		Control: bindToDevice(device), Timeout: 10 * time.Second}
	transport := &http.Transport{DialContext: dialer.DialContext, DisableKeepAlives: true,
		DisableCompression: true, ResponseHeaderTimeout: timeout, Proxy: nil}
	return &webClient{client: &http.Client{Transport: transport, Timeout: timeout}, tries: tries}
}

// fetch sends the request, up to tries times, 1 s apart, until it gets a
// 2xx answer whose body arrives whole. It returns the body when keep is set
// (at most maxTextFile bytes) and the body's size.
func (w *webClient) fetch(ctx context.Context, method, url, body string, keep bool) ([]byte, int64, error) {
	var err error
	for try := 1; try <= w.tries; try++ {
		if try > 1 {
			w.retries++
			select {
			case <-time.After(time.Second):
			case <-ctx.Done():
				return nil, 0, fmt.Errorf("%s %s: %w (after %v)", method, url, ctx.Err(), err)
			}
		}
		var b []byte
		var n int64
		b, n, err = w.once(ctx, method, url, body, keep)
		if err == nil {
			return b, n, nil
		}
		if ctx.Err() != nil {
			break
		}
	}
	return nil, 0, fmt.Errorf("%s %s: %w (%d tries)", method, url, err, w.tries)
}

func (w *webClient) once(ctx context.Context, method, url, body string, keep bool) ([]byte, int64, error) {
	var rd io.Reader
	if body != "" {
		rd = strings.NewReader(body)
	}
	req, err := http.NewRequestWithContext(ctx, method, url, rd)
	if err != nil {
		return nil, 0, err
	}
	if body != "" {
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	}
	req.Header.Set("User-Agent", "kickstand-storm")
	resp, err := w.client.Do(req)
	if err != nil {
		return nil, 0, err
	}
	defer resp.Body.Close()
	var sink io.Writer = io.Discard
	var buf limitedBuffer
	if keep {
		sink = &buf
	}
	n, err := io.Copy(sink, resp.Body)
	if err != nil {
		return nil, n, fmt.Errorf("status %d, body cut after %d bytes: %w", resp.StatusCode, n, err)
	}
	if resp.StatusCode/100 != 2 {
		return nil, n, fmt.Errorf("status %d", resp.StatusCode)
	}
	if resp.ContentLength >= 0 && n != resp.ContentLength {
		return nil, n, fmt.Errorf("body of %d bytes, Content-Length %d", n, resp.ContentLength)
	}
	return buf.Bytes(), n, nil
}
