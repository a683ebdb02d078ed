//go:build e2e

package e2e

import (
	"context"
	"regexp"
	"strings"
	"testing"
	"time"
)

// TestFirewallDropsTFTP is the seed user's first outage: the host's firewall
// drops TFTP. With nftables and with iptables rules that drop 69/udp in the
// server's namespace, serve says so at start with the command that opens
// it; with --open-firewall a QEMU machine installs through the same rule
// set, and when serve stops the rule set is exactly as it was.
func TestFirewallDropsTFTP(t *testing.T) {
	for _, tc := range []struct {
		name, apply, list string
		rules             []string
		wantWarning       string
	}{
		{"nftables", "nft", "nft -s list ruleset",
			[]string{"add table inet site", "add chain inet site input { type filter hook input priority 0; policy accept; }",
				"add rule inet site input udp dport 69 counter drop"},
			"nftables drops 69/udp (TFTP)"},
		{"iptables", "iptables", "iptables-save",
			[]string{"-A INPUT -p udp --dport 69 -j DROP"},
			"iptables drops 69/udp (TFTP)"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			requireHost(t, tc.apply)
			u := newSetup(t, "rocky9", rocky9ISO, "curl")
			for _, r := range tc.rules {
				u.l.ns.run(t, append([]string{tc.apply}, strings.Fields(r)...)...)
			}
			before := ruleset(t, u.l.ns, tc.list)

			// Without --open-firewall: a warning per blocked port, with the command.
			warned := startServe(t, u.l, u.cli, nil, u.fullDHCP()...)
			log := waitLog(t, warned.daemon.log, tc.wantWarning)
			if !strings.Contains(log, "open it: ") || !strings.Contains(log, "--open-firewall") {
				t.Errorf("the warning does not say how to open the port:\n%s", log)
			}
			warned.daemon.stop()
			// doctor fails on it, with the same command.
			out, err := u.l.ns.command(context.Background(), u.cli.bin, "doctor", "--data-dir", u.cli.dataDir,
				"--interface", u.l.bridge, "--http-port", httpPort, "--dhcp", "full", "--dhcp-wait", "0").CombinedOutput()
			if err == nil || !regexp.MustCompile(`(?m)^FAIL  firewall: `+regexp.QuoteMeta(tc.wantWarning)+`.*open it: `).Match(out) {
				t.Errorf("kickstand doctor with %s dropping TFTP: %v\n%s", tc.name, err, out)
			}

			// With it: the machine installs through the same rule set.
			server := startServe(t, u.l, u.cli, nil, append(u.fullDHCP(), "--open-firewall")...)
			bootAndInstall(t, u.l, server, u.mac, u.fx)
			checkInstalled(t, u.l, u.cli, u.mac, "dhcp", "tftp", "kickstart")
			server.daemon.stop()
			if after := ruleset(t, u.l.ns, tc.list); after != before {
				t.Errorf("the rule set changed after serve --open-firewall stopped:\nbefore:\n%s\nafter:\n%s", before, after)
			}
			if log := logFile(server.daemon.log); !strings.Contains(log, "firewall: opened for this run") {
				t.Errorf("serve --open-firewall did not say what it opened:\n%s", log)
			}
		})
	}
}

// counters are the packet and byte counts of a rule set listing, which
// traffic changes.
var counters = regexp.MustCompile(`\[\d+:\d+\]|counter packets \d+ bytes \d+|^#.*$`)

// ruleset is the namespace's rule set as list prints it, without counters
// and comments.
func ruleset(t *testing.T, ns *netns, list string) string {
	t.Helper()
	var lines []string
	for _, line := range strings.Split(ns.run(t, strings.Fields(list)...), "\n") {
		lines = append(lines, counters.ReplaceAllString(line, ""))
	}
	return strings.Join(lines, "\n")
}

// waitLog waits (up to 30 s) until the log at path contains want, and
// returns it.
func waitLog(t *testing.T, path, want string) string {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for {
		log := logFile(path)
		if strings.Contains(log, want) {
			return log
		}
		if time.Now().After(deadline) {
			t.Fatalf("the log never said %q:\n%s", want, log)
		}
		time.Sleep(200 * time.Millisecond)
	}
}
