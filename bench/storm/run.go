//go:build linux

package main

import (
	"bufio"
	"context"
	"flag"
	"fmt"
	"math/rand/v2"
	"net"
	"os"
	"os/signal"
	"slices"
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/insomniacslk/dhcp/dhcpv4"
)

// storm is one run: its settings and the shared DHCP socket.
type storm struct {
	dhcp          *dhcpPort
	began         time.Time
	clientTimeout time.Duration
	installTime   time.Duration
	tftpBlksize   int
	tftpTimeout   time.Duration
	tftpTries     int
	httpTimeout   time.Duration
	httpTries     int
}

func runCmd(args []string) error {
	fs := flag.NewFlagSet("run", flag.ExitOnError)
	n := countFlag(fs)
	lower := fs.String("lower", "cli0", "interface the machines' macvlans sit on; DHCP goes out on it")
	prefix := fs.String("prefix", "st", "the machines' interfaces are PREFIX0 … PREFIX(N-1)")
	out := fs.String("out", "", "write one line per machine to this file")
	deadline := fs.Duration("deadline", 10*time.Minute, "the whole storm's bound; machines not done by then fail")
	s := &storm{}
	fs.DurationVar(&s.clientTimeout, "client-timeout", 5*time.Minute, "one machine's bound, power-on to phone-home")
	fs.DurationVar(&s.installTime, "install-time", 0, "time between the %pre and %post phone-homes (the package install)")
	spread := fs.Duration("spread", 0, "machines power on at random moments within this time (0: all at once)")
	fs.IntVar(&s.tftpBlksize, "tftp-blksize", 1468, "TFTP blksize asked for")
	fs.DurationVar(&s.tftpTimeout, "tftp-timeout", 2*time.Second, "TFTP wait before sending a packet again")
	fs.IntVar(&s.tftpTries, "tftp-tries", 5, "TFTP transmissions of one packet before a transfer fails")
	fs.DurationVar(&s.httpTimeout, "http-timeout", 2*time.Minute, "one HTTP request's bound")
	fs.IntVar(&s.httpTries, "http-tries", 3, "HTTP tries of one request, 1 s apart")
	progress := fs.Duration("progress", 0, "print progress to stderr this often (0: never)")
	_ = fs.Parse(args)
	if err := checkCount(*n); err != nil {
		return err
	}
	if s.tftpBlksize < 8 || s.tftpBlksize > 65464 || s.tftpTries < 1 || s.httpTries < 1 {
		return fmt.Errorf("-tftp-blksize must be 8-65464, -tftp-tries and -http-tries at least 1")
	}

	machines, err := findMachines(*n, *prefix, s)
	if err != nil {
		return err
	}

	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	ctx, cancel := context.WithTimeout(ctx, *deadline)
	defer cancel()
	if s.dhcp, err = openDHCP(ctx, *lower); err != nil {
		return err
	}
	defer s.dhcp.Close()

	var installed, failed atomic.Int32
	var wg sync.WaitGroup
	s.began = time.Now()
	if *progress > 0 {
		go s.reportProgress(ctx, *progress, *n, &installed, &failed)
	}
	for _, m := range machines {
		delay := time.Duration(0)
		if *spread > 0 {
			delay = rand.N(*spread)
		}
		wg.Go(func() {
			select {
			case <-time.After(delay):
			case <-ctx.Done():
			}
			m.install(ctx)
			if m.result.step == "" {
				installed.Add(1)
			} else {
				failed.Add(1)
			}
		})
	}
	wg.Wait()

	results := make([]result, len(machines))
	for i, m := range machines {
		results[i] = m.result
	}
	if *out != "" {
		if err := writeResults(*out, results); err != nil {
			return err
		}
	}
	fmt.Println(summarize(results))
	return nil
}

// findMachines finds machine i's interface, PREFIXi, and checks that it has
// machine i's MAC.
func findMachines(n int, prefix string, s *storm) ([]*machine, error) {
	machines := make([]*machine, n)
	xidBase := rand.Uint32()
	for i := range machines {
		name := prefix + strconv.Itoa(i)
		iface, err := net.InterfaceByName(name)
		if err != nil {
			return nil, fmt.Errorf("machine %d: interface %s: %w (storm.sh makes one macvlan per machine)", i, name, err)
		}
		if iface.HardwareAddr.String() != machineMAC(i).String() {
			return nil, fmt.Errorf("interface %s has MAC %s, want %s (storm macs)", name, iface.HardwareAddr, machineMAC(i))
		}
		machines[i] = &machine{index: i, mac: machineMAC(i), guid: machineGUID(i), iface: iface,
			xid: dhcpv4.TransactionID(uint32ToXID(xidBase + uint32(i))), storm: s}
	}
	return machines, nil
}

// reportProgress prints every interval how many machines are done, until ctx ends.
func (s *storm) reportProgress(ctx context.Context, interval time.Duration, n int, installed, failed *atomic.Int32) {
	tick := time.NewTicker(interval)
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
			fmt.Fprintf(os.Stderr, "storm: %s: %d installed, %d failed of %d\n",
				time.Since(s.began).Round(time.Second), installed.Load(), failed.Load(), n)
		}
	}
}

func uint32ToXID(v uint32) [4]byte {
	return [4]byte{byte(v >> 24), byte(v >> 16), byte(v >> 8), byte(v)}
}

func seconds(d time.Duration) string { return strconv.FormatFloat(d.Seconds(), 'f', 3, 64) }

// writeResults writes one line per machine: key=value fields.
func writeResults(file string, results []result) error {
	f, err := os.Create(file)
	if err != nil {
		return err
	}
	w := bufio.NewWriter(f)
	for _, r := range results {
		fmt.Fprintf(w, "machine i=%d mac=%s ip=%s start=%s end=%s", r.index, r.mac, ipOrDash(r), seconds(r.start), seconds(r.end))
		if r.step == "" {
			fmt.Fprintf(w, " ok=1 total=%s", seconds(r.end-r.start))
			for p, name := range phaseNames {
				fmt.Fprintf(w, " %s=%s", name, seconds(r.phases[p]))
			}
		} else {
			fmt.Fprintf(w, " ok=0 step=%s", r.step)
		}
		fmt.Fprintf(w, " bytes=%d dhcp_sends=%d tftp_retx=%d http_retries=%d", r.bytes, r.dhcpSends, r.tftpRetx, r.httpRetries)
		if r.err != nil {
			fmt.Fprintf(w, " error=%q", r.err.Error())
		}
		fmt.Fprintln(w)
	}
	if err := w.Flush(); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}

func ipOrDash(r result) string {
	if r.ip.IsValid() {
		return r.ip.String()
	}
	return "-"
}

// summarize is the line storm.sh reads: counts, the time until the last
// machine phoned home (from the first DISCOVER), percentiles of the
// machines' own times, the median of each phase, retransmissions, and the
// failures by step with the first error.
func summarize(results []result) string {
	var totals []time.Duration
	var phases [numPhases][]time.Duration
	first, last := time.Duration(-1), time.Duration(0)
	failedBy := map[string]int{}
	firstErr := ""
	var dhcpExtra, tftpRetx, httpRetries int
	for _, r := range results {
		if first < 0 || r.start < first {
			first = r.start
		}
		dhcpExtra += max(0, r.dhcpSends-2)
		tftpRetx += r.tftpRetx
		httpRetries += r.httpRetries
		if r.step != "" {
			failedBy[r.step]++
			if firstErr == "" {
				firstErr = fmt.Sprintf("machine %d (%s): %s: %v", r.index, r.mac, r.step, r.err)
			}
			continue
		}
		totals = append(totals, r.end-r.start)
		last = max(last, r.end)
		for p := range phases {
			phases[p] = append(phases[p], r.phases[p])
		}
	}
	ok := len(totals)
	var b strings.Builder
	fmt.Fprintf(&b, "storm n=%d ok=%d failed=%d", len(results), ok, len(results)-ok)
	if ok > 0 {
		fmt.Fprintf(&b, " total_s=%s p50_s=%s p99_s=%s max_s=%s", seconds(last-first),
			seconds(percentile(totals, 50)), seconds(percentile(totals, 99)), seconds(percentile(totals, 100)))
		for p, name := range phaseNames {
			fmt.Fprintf(&b, " %s_p50_s=%s", name, seconds(percentile(phases[p], 50)))
		}
		for p, name := range phaseNames {
			fmt.Fprintf(&b, " %s_p99_s=%s", name, seconds(percentile(phases[p], 99)))
		}
	}
	fmt.Fprintf(&b, " dhcp_resends=%d tftp_retx=%d http_retries=%d", dhcpExtra, tftpRetx, httpRetries)
	if len(failedBy) > 0 {
		steps := make([]string, 0, len(failedBy))
		for step, count := range failedBy {
			steps = append(steps, fmt.Sprintf("%s:%d", step, count))
		}
		sort.Strings(steps)
		fmt.Fprintf(&b, " failed_steps=%s first_error=%q", strings.Join(steps, ","), firstErr)
	}
	return b.String()
}

// percentile is the nearest-rank percentile p (1-100) of ds.
func percentile(ds []time.Duration, p int) time.Duration {
	if len(ds) == 0 {
		return 0
	}
	s := slices.Clone(ds)
	slices.Sort(s)
	rank := (p*len(s) + 99) / 100
	return s[max(0, min(len(s), rank)-1)]
}
