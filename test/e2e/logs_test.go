//go:build e2e

package e2e

import (
	"fmt"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"kickstand/internal/kickstart"
)

// failingPost is a %post that fails the install as anaconda fails it
// (--erroronfail), when the machine's variable fail_post is yes.
const failingPost = `{{ if eq (var "fail_post") "yes" }}
%post --erroronfail
echo "no space left on /mnt/sysimage (kickstand e2e)"
exit 3
%end
{{ end }}
`

// TestInstallLogsComeHome installs a machine whose %post fails: its
// kickstart's %onerror sends the installer's logs and the kickstart as
// anaconda read it before it reports the failure, and kickstand machine
// logs prints them. Reinstalled with send_logs=always and a %post that
// works, it installs and sends its logs from %post too: the newest
// install's logs are install 1, the failed one's install 2.
func TestInstallLogsComeHome(t *testing.T) {
	u := newSetup(t, "rocky9", rocky9ISO, "curl")
	const phoneHome = `{{ snippet "phone-home" }}`
	if !strings.Contains(kickstart.DefaultTemplate, phoneHome) {
		t.Fatalf("the built-in template has no %s", phoneHome)
	}
	tmpl := filepath.Join(t.TempDir(), "failing.ks.tmpl")
	writeFile(t, tmpl, strings.Replace(kickstart.DefaultTemplate, phoneHome, failingPost+phoneHome, 1))
	u.cli.run(t, "profile", "add", "failing", "--distro", "rocky9", "--kickstart", tmpl, "--kernel-args", "console=ttyS0")
	u.cli.run(t, "machine", "edit", u.mac, "--profile", "failing", "--var", "fail_post=yes")
	server := startServe(t, u.l, u.cli, nil, u.fullDHCP()...)

	console := runQEMU(t, u.l.ns, server.console(), qemuTimeout(t, 6*time.Minute), pxeBootArgs(u.l.tap, u.mac)...)
	got := markers(console)
	t.Logf("installer markers:\n  %s", strings.Join(got, "\n  "))
	for _, want := range []string{"stage2 sha256 " + u.fx.stage2SHA, "repo ok", "FAILED post", "done"} {
		if !slices.Contains(got, want) {
			t.Errorf("console lacks %q", markerPrefix+want)
		}
	}
	waitState(t, u.cli, u.mac, "failed")

	out := u.cli.run(t, "machine", "logs", u.mac)
	t.Logf("kickstand machine logs %s:\n%s", u.mac, out)
	for _, want := range []string{
		"==> anaconda.log (install 1, ", "INFO anaconda: stage2 sha256 " + u.fx.stage2SHA, "INFO anaconda: repo ok",
		"==> program.log (install 1, ", "INFO program: Running kickstart %post script", "exited 3",
		"==> packaging.log (install 1, ", "INFO packaging: repo BaseOS: http://",
		"==> ks.cfg (install 1, ", "%post --erroronfail", "%onerror",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("kickstand machine logs lacks %q", want)
		}
	}
	// The fixture writes no storage.log: a missing file is skipped.
	if strings.Contains(out, "==> storage.log") {
		t.Errorf("kickstand machine logs shows a storage.log the installer did not have")
	}
	ks := u.cli.run(t, "machine", "logs", u.mac, "--name", "ks.cfg")
	if !strings.HasPrefix(ks, "# Kickstart for node1 ("+u.mac+"), profile failing") || !strings.Contains(ks, "exit 3\n") {
		t.Errorf("kickstand machine logs --name ks.cfg is not the kickstart the machine read:\n%s", ks)
	}
	if m := u.cli.machine(t, u.mac); !m.hasEvent("phone-home", "failed") {
		t.Errorf("no failed report in the timeline after the logs")
	}

	// Reinstalled, with a %post that works and the logs sent on success too.
	u.cli.run(t, "machine", "edit", u.mac, "--var", "fail_post=no", "--var", "send_logs=always")
	u.cli.run(t, "machine", "reinstall", u.mac)
	bootAndInstall(t, u.l, server, u.mac, u.fx)
	waitState(t, u.cli, u.mac, "installed")
	out = u.cli.run(t, "machine", "logs", u.mac, "--all", "--name", "program.log")
	t.Logf("kickstand machine logs %s --all --name program.log:\n%s", u.mac, out)
	newest, older, ok := strings.Cut(out, "==> program.log (install 2, ")
	if !ok || !strings.HasPrefix(newest, "==> program.log (install 1, ") ||
		!strings.Contains(newest, "Running kickstart %post script") || strings.Contains(newest, "exited 3") ||
		!strings.Contains(older, "exited 3") {
		t.Errorf("want install 1 (the install that worked, its %%post running) before install 2 (the one that failed)")
	}
}

// waitState waits until the machine's state is want: a phone-home is
// recorded a moment after the installer sent it.
func waitState(t *testing.T, cli *kickstand, mac, want string) {
	t.Helper()
	var state string
	err := waitFor(15*time.Second, 500*time.Millisecond, func() error {
		if state = cli.machine(t, mac).State; state != want {
			return fmt.Errorf("machine %s state %q, want %q", mac, state, want)
		}
		return nil
	})
	if err != nil {
		t.Error(err)
	}
}
