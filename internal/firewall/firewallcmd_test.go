package firewall

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// fakeFirewallCmd is a firewall-cmd that records its calls in calls and
// keeps zone public's runtime ports in ports: enough of firewalld for
// Check, Open, Close and Cleanup, run as a real command from PATH.
const fakeFirewallCmd = `#!/bin/sh
dir=$(dirname "$0")
echo "$*" >> "$dir/calls"
touch "$dir/ports"
case "$*" in
--state) echo running ;;
--get-zone-of-interface=br0) echo public ;;
--get-active-zones) printf 'public\n  interfaces: br0\n' ;;
"--zone=public --list-all")
	printf 'public (active)\n  target: default\n  interfaces: br0\n  services: ssh\n  ports: %s\n  rich rules: \n' "$(tr '\n' ' ' < "$dir/ports")" ;;
--info-service=ssh) printf 'ssh\n  ports: 22/tcp\n  protocols: \n' ;;
"--zone=public --add-port="*) echo "${2#--add-port=}" >> "$dir/ports"; echo success ;;
"--zone=public --remove-port="*)
	grep -vx -- "${2#--remove-port=}" "$dir/ports" > "$dir/ports.new"; mv "$dir/ports.new" "$dir/ports"; echo success ;;
"--zone=public --query-port="*)
	if grep -qx -- "${2#--query-port=}" "$dir/ports"; then echo yes; else echo no; exit 1; fi ;;
"--permanent --zone=public --query-port="*) echo no; exit 1 ;;
*) echo "fake firewall-cmd: unexpected: $*" >&2; exit 2 ;;
esac
`

// onlyRunner runs one tool and says the others are not installed, so a
// test with a fake firewall-cmd never reads or changes this host's nft or
// iptables rules.
type onlyRunner struct {
	tool string
	next Runner
}

func (o onlyRunner) Run(ctx context.Context, stdin []byte, name string, args ...string) ([]byte, error) {
	if name != o.tool {
		return nil, fmt.Errorf("%s: %w", name, ErrNotInstalled)
	}
	return o.next.Run(ctx, stdin, name, args...)
}

// TestFakeFirewallCmd: with firewalld (a fake firewall-cmd first on PATH),
// Check names the zone, Open adds runtime ports only (never --permanent
// --add-port), Close and Cleanup after a killed run remove them.
func TestFakeFirewallCmd(t *testing.T) {
	bin := t.TempDir()
	if err := os.WriteFile(filepath.Join(bin, "firewall-cmd"), []byte(fakeFirewallCmd), 0o755); err != nil {
		t.Fatal(err)
	}
	t.Setenv("PATH", bin+string(os.PathListSeparator)+os.Getenv("PATH"))
	h := &Host{Runner: onlyRunner{tool: "firewall-cmd", next: ExecRunner{}}}
	ports := func() string {
		data, _ := os.ReadFile(filepath.Join(bin, "ports"))
		return strings.TrimSpace(string(data))
	}
	calls := func() []string {
		data, _ := os.ReadFile(filepath.Join(bin, "calls"))
		return strings.Split(strings.TrimSpace(string(data)), "\n")
	}

	rep, err := h.Check(context.Background(), testTarget)
	if err != nil {
		t.Fatal(err)
	}
	for _, pr := range rep.Ports {
		if pr.Verdict != Blocked || pr.Blocks[0].Zone != "public" {
			t.Errorf("%s", summary(pr))
		}
	}
	dir := t.TempDir()
	o, err := h.Open(context.Background(), testTarget, dir)
	if err != nil {
		t.Fatal(err)
	}
	want := "67/udp\n4011/udp\n69/udp\n80/tcp\n21/tcp\n30000-30019/tcp"
	if got := ports(); got != want {
		t.Errorf("runtime ports after Open:\n%s", got)
	}
	if w := o.After.Warnings(""); len(w) != 0 {
		t.Errorf("after Open: %q", w)
	}
	if err := o.Close(); err != nil {
		t.Fatal(err)
	}
	if got := ports(); got != "" {
		t.Errorf("runtime ports after Close: %q", got)
	}

	if _, err := h.Open(context.Background(), testTarget, dir); err != nil {
		t.Fatal(err)
	}
	if err := h.Cleanup(context.Background(), dir); err != nil {
		t.Fatal(err)
	}
	if got := ports(); got != "" {
		t.Errorf("runtime ports after Cleanup: %q", got)
	}
	for _, c := range calls() {
		if strings.Contains(c, "--permanent") && !strings.Contains(c, "--query-port=") {
			t.Errorf("changed the permanent configuration: %s", c)
		}
	}
}
