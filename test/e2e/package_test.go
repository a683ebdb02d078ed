//go:build e2e

package e2e

import (
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"regexp"
	"runtime"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"kickstand/internal/sdnotify/sdnotifytest"
)

// packagedFiles are files both packages install (zsh's completion directory
// differs between the families and is checked apart).
var packagedFiles = []string{
	"/usr/bin/kickstand",
	"/usr/lib/systemd/system/kickstand.service",
	"/etc/kickstand/kickstand.yaml",
	"/usr/share/man/man1/kickstand.1.gz",
	"/usr/share/man/man1/kickstand-serve.1.gz",
	"/usr/share/man/man1/kickstand-machine-add.1.gz",
	"/usr/share/bash-completion/completions/kickstand",
	"/usr/share/fish/vendor_completions.d/kickstand.fish",
}

const (
	unitPath   = "/usr/lib/systemd/system/kickstand.service"
	configPath = "/etc/kickstand/kickstand.yaml"
	dataDir    = "/var/lib/kickstand"
)

// TestPackages builds the .deb and .rpm as make package does, checks the
// rpm's contents, then installs the .deb on this machine: files, the
// kickstand user and its data directory, the unit (systemd-analyze), the
// manual page, bash completion, the unit's ExecStart run as the unit runs it
// (as user kickstand with its ambient capabilities, in a network namespace
// of its own), the unit started by a real systemd (in a container), an
// upgrade that keeps an edited config and the data, and
// removal and purge that keep the data. Everything it installed is removed
// at the end.
func TestPackages(t *testing.T) {
	requirePackaging(t)
	root, err := repoRoot()
	if err != nil {
		t.Fatal(err)
	}
	deb, debUpgrade, rpm := buildPackages(t, root)
	checkRPM(t, rpm)

	cleanupHost(t)
	runCmd(t, "dpkg", "-i", deb)
	checkDebInstalled(t, "0.0.1-1")
	checkUnit(t)
	checkManAndCompletion(t)
	checkVersion(t, root)
	runExecStart(t)
	runUnderSystemd(t)
	checkUpgradeAndRemoval(t, debUpgrade)
}

// requirePackaging skips (fails under CI=true) unless this is a Debian
// machine where the test may install packages, with the tools it checks
// them with.
func requirePackaging(t *testing.T) {
	t.Helper()
	var missing []string
	if os.Geteuid() != 0 {
		missing = append(missing, "root (dpkg -i)")
	}
	for _, tool := range []string{"dpkg", "rpm", "systemd-analyze", "systemd-nspawn", "nsenter", "man", "setpriv", "ip", "curl", "gzip"} {
		if _, err := exec.LookPath(tool); err != nil {
			missing = append(missing, tool)
		}
	}
	if _, err := os.Stat("/usr/share/bash-completion/bash_completion"); err != nil {
		missing = append(missing, "bash-completion")
	}
	if len(missing) > 0 {
		msg := "package test needs " + strings.Join(missing, ", ") + " (scripts/deps.sh installs them)"
		if os.Getenv("CI") == "true" {
			t.Fatal(msg + " (CI=true: not skipping)")
		}
		t.Skip(msg)
	}
	if out, err := exec.Command("dpkg-query", "-W", "-f=${Status}", "kickstand").Output(); err == nil &&
		strings.Contains(string(out), "installed") && os.Getenv("CI") != "true" {
		t.Skip("a kickstand package is installed on this machine; the test installs and purges its own, so it leaves yours alone")
	}
}

// buildPackages runs scripts/package.sh as version 0.0.1, and nfpm again
// on the same files as 0.0.2 for the upgrade.
func buildPackages(t *testing.T, root string) (deb, debUpgrade, rpm string) {
	t.Helper()
	cmd := exec.Command("bash", "scripts/package.sh")
	cmd.Dir, cmd.Env = root, append(os.Environ(), "KICKSTAND_VERSION=0.0.1")
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("scripts/package.sh: %v\n%s", err, out)
	}
	arch := runtime.GOARCH
	rpmArch := map[string]string{"amd64": "x86_64", "arm64": "aarch64"}[arch]
	deb = filepath.Join(root, "dist", "kickstand_0.0.1-1_"+arch+".deb")
	rpm = filepath.Join(root, "dist", "kickstand-0.0.1-1."+rpmArch+".rpm")
	dir := t.TempDir()
	cmd = goCommand(root, "tool", "nfpm", "package", "--config", "packaging/nfpm.yaml", "--packager", "deb", "--target", dir)
	cmd.Env = append(os.Environ(), "KICKSTAND_VERSION=0.0.2", "KICKSTAND_ARCH="+arch)
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("nfpm for 0.0.2: %v\n%s", err, out)
	}
	debUpgrade = filepath.Join(dir, "kickstand_0.0.2-1_"+arch+".deb")
	for _, p := range []string{deb, rpm, debUpgrade} {
		if _, err := os.Stat(p); err != nil {
			t.Fatalf("package not built: %v", err)
		}
	}
	return deb, debUpgrade, rpm
}

func checkRPM(t *testing.T, rpm string) {
	t.Helper()
	listed := map[string]bool{}
	for _, f := range strings.Fields(runCmd(t, "rpm", "-qlp", rpm)) {
		listed[f] = true
	}
	for _, f := range append(packagedFiles, "/usr/share/zsh/site-functions/_kickstand") {
		if !listed[f] {
			t.Errorf("rpm -qlp %s does not list %s", filepath.Base(rpm), f)
		}
	}
	// "cn": %config(noreplace), so that an upgrade keeps the admin's edits.
	flags := runCmd(t, "rpm", "-qp", "--qf", "[%{FILEFLAGS:fflags} %{FILENAMES}\n]", rpm)
	if !strings.Contains(flags, "cn "+configPath+"\n") {
		t.Errorf("%s is not %%config(noreplace) in the rpm:\n%s", configPath, flags)
	}
	if scripts := runCmd(t, "rpm", "-qp", "--scripts", rpm); !strings.Contains(scripts, "useradd --system") {
		t.Errorf("the rpm's scripts create no user:\n%s", scripts)
	}
}

// cleanupHost purges the package at the end, and removes the kickstand user
// and the data directory unless they were there before the test.
func cleanupHost(t *testing.T) {
	t.Helper()
	// Left over by an earlier run that died (only under CI: requirePackaging
	// skips elsewhere).
	exec.Command("dpkg", "-P", "kickstand").Run()
	_, userErr := user.Lookup("kickstand")
	_, dirErr := os.Stat(dataDir)
	t.Cleanup(func() {
		if out, err := exec.Command("dpkg", "-P", "kickstand").CombinedOutput(); err != nil {
			t.Errorf("dpkg -P kickstand: %v\n%s", err, out)
		}
		if userErr != nil {
			exec.Command("userdel", "kickstand").Run()
		}
		if dirErr != nil {
			os.RemoveAll(dataDir)
		}
	})
}

func checkDebInstalled(t *testing.T, version string) {
	t.Helper()
	if got := runCmd(t, "dpkg-query", "-W", "-f=${Version}", "kickstand"); got != version {
		t.Errorf("installed version %q, want %q", got, version)
	}
	if got := runCmd(t, "dpkg-query", "-W", "-f=${Conffiles}", "kickstand"); !strings.Contains(got, configPath+" ") {
		t.Errorf("%s is not a conffile: %q", configPath, got)
	}
	for _, f := range append(packagedFiles, "/usr/share/zsh/vendor-completions/_kickstand") {
		if _, err := os.Stat(f); err != nil {
			t.Errorf("after dpkg -i: %v", err)
		}
	}
	if st, err := os.Stat("/usr/bin/kickstand"); err == nil && st.Mode().Perm() != 0o755 {
		t.Errorf("/usr/bin/kickstand mode %v", st.Mode())
	}
	u, err := user.Lookup("kickstand")
	if err != nil {
		t.Fatalf("dpkg -i created no kickstand user: %v", err)
	}
	passwd := runCmd(t, "getent", "passwd", "kickstand")
	if uid, _ := strconv.Atoi(u.Uid); uid >= 1000 || u.HomeDir != dataDir || !strings.HasSuffix(strings.TrimSpace(passwd), ":/usr/sbin/nologin") {
		t.Errorf("kickstand user: %s, want a system user at home in %s without a shell", passwd, dataDir)
	}
	st, err := os.Stat(dataDir)
	if err != nil {
		t.Fatal(err)
	}
	sys := st.Sys().(*syscall.Stat_t)
	if !st.IsDir() || st.Mode().Perm() != 0o750 || strconv.Itoa(int(sys.Uid)) != u.Uid || strconv.Itoa(int(sys.Gid)) != u.Gid {
		t.Errorf("%s: mode %v, owner %d:%d; want a directory 0750 of kickstand (%s:%s)", dataDir, st.Mode(), sys.Uid, sys.Gid, u.Uid, u.Gid)
	}
}

// checkUnit verifies the installed unit as systemd would load it, and
// reports systemd-analyze security's exposure score.
func checkUnit(t *testing.T) {
	t.Helper()
	if out, err := exec.Command("systemd-analyze", "verify", unitPath).CombinedOutput(); err != nil || strings.Contains(string(out), "kickstand") {
		t.Errorf("systemd-analyze verify %s: %v\n%s", unitPath, err, out)
	}
	out, err := exec.Command("systemd-analyze", "security", "--offline=true", unitPath).CombinedOutput()
	m := regexp.MustCompile(`Overall exposure level for kickstand.service: ([0-9.]+)`).FindSubmatch(out)
	if err != nil || m == nil {
		t.Fatalf("systemd-analyze security: %v\n%s", err, out)
	}
	t.Logf("systemd-analyze security --offline=true: exposure %s (0 is best, 10 worst)", m[1])
	if score, _ := strconv.ParseFloat(string(m[1]), 64); score > 2 {
		t.Errorf("exposure %.1f: the unit lost some of its protections\n%s", score, out)
	}
}

func checkManAndCompletion(t *testing.T) {
	t.Helper()
	cmd := exec.Command("man", "-P", "cat", "-l", "/usr/share/man/man1/kickstand-serve.1.gz")
	cmd.Env = append(os.Environ(), "MANWIDTH=100")
	out, err := cmd.CombinedOutput()
	if err != nil || !strings.Contains(string(out), "KICKSTAND-SERVE(1)") || !strings.Contains(string(out), "--log-format") ||
		strings.Contains(string(out), "warning") {
		t.Errorf("man -l kickstand-serve.1.gz: %v\n%s", err, out)
	}
	if where := runCmd(t, "man", "-w", "kickstand-serve"); strings.TrimSpace(where) != "/usr/share/man/man1/kickstand-serve.1.gz" {
		t.Errorf("man -w kickstand-serve: %s", where)
	}
	// Loaded as bash-completion loads it, and asked what follows
	// "kickstand serve --log-f": the script asks kickstand itself.
	script := `source /usr/share/bash-completion/bash_completion
source /usr/share/bash-completion/completions/kickstand
complete -p kickstand
COMP_LINE="kickstand serve --log-f"; COMP_POINT=${#COMP_LINE}; COMP_WORDS=(kickstand serve --log-f); COMP_CWORD=2
__start_kickstand kickstand --log-f serve 2>/dev/null
printf 'reply: %s\n' "${COMPREPLY[@]}"`
	out, err = exec.Command("bash", "-c", script).CombinedOutput()
	if err != nil || !strings.Contains(string(out), "complete -o default -F __start_kickstand kickstand") ||
		!strings.Contains(string(out), "reply: --log-format\n") {
		t.Errorf("bash completion: %v\n%s", err, out)
	}
}

// checkVersion: the packaged binary names its commit when the packages were
// built in a git clone (a worktree's .git is a file, which go build does
// not read).
func checkVersion(t *testing.T, root string) {
	t.Helper()
	out := runCmd(t, "/usr/bin/kickstand", "version")
	if !strings.Contains(out, "go:       go1.") || !strings.HasPrefix(out, "version:  ") {
		t.Errorf("kickstand version:\n%s", out)
	}
	if st, err := os.Stat(filepath.Join(root, ".git")); err == nil && st.IsDir() {
		head := strings.TrimSpace(runCmd(t, "git", "-C", root, "rev-parse", "HEAD"))
		if !strings.Contains(out, "revision: "+head+"\n") {
			t.Errorf("kickstand version does not name HEAD %s:\n%s", head, out)
		}
	}
}

// runExecStart runs the installed unit's ExecStart as the unit does: user
// kickstand with the unit's ambient capabilities, a notify socket, the
// shipped config (proxy DHCP, TFTP, HTTP on port 80, FTP on 21) on the
// default route's interface, here one end of a veth pair in a namespace of
// the test's.
func runExecStart(t *testing.T) {
	t.Helper()
	unit, err := os.ReadFile(unitPath)
	if err != nil {
		t.Fatal(err)
	}
	execStart := regexp.MustCompile(`(?m)^ExecStart=(.+)$`).FindSubmatch(unit)
	caps := regexp.MustCompile(`(?m)^AmbientCapabilities=(.+)$`).FindSubmatch(unit)
	if execStart == nil || caps == nil {
		t.Fatalf("%s has no ExecStart= or AmbientCapabilities=", unitPath)
	}
	var setCaps []string
	for _, c := range strings.Fields(string(caps[1])) {
		setCaps = append(setCaps, "+"+strings.ToLower(strings.TrimPrefix(c, "CAP_")))
	}
	ns := newNetns(t)
	addDefaultLAN(t, ns.run)

	// The notify socket must be reachable by user kickstand.
	dir := t.TempDir()
	os.Chmod(filepath.Dir(dir), 0o755)
	os.Chmod(dir, 0o755)
	socket := filepath.Join(dir, "notify")
	systemd := sdnotifytest.Listen(t, socket)
	os.Chmod(socket, 0o666)

	log := filepath.Join(dir, "serve.log")
	args := append([]string{"env", "NOTIFY_SOCKET=" + socket, "setpriv", "--reuid=kickstand", "--regid=kickstand", "--init-groups",
		"--inh-caps=" + strings.Join(setCaps, ","), "--ambient-caps=" + strings.Join(setCaps, ","), "--"},
		strings.Fields(string(execStart[1]))...)
	d := startDaemon(t, ns, log, args...)
	if got := systemd.Next(t, 60*time.Second); !strings.HasPrefix(got, "READY=1") {
		t.Fatalf("first notification %q, want READY=1\n%s", got, logFile(log))
	} else {
		t.Logf("ExecStart as user kickstand told systemd %q", got)
	}
	if got := ns.run(t, "curl", "-sS", "--max-time", "10", "http://192.0.2.1/healthz"); got == "" {
		t.Errorf("healthz on port 80 answered nothing")
	}
	waitLog(t, log, "kickstand serving")
	d.cmd.Process.Signal(syscall.SIGTERM)
	if got := systemd.Next(t, 60*time.Second); got != "STOPPING=1" {
		t.Errorf("after SIGTERM: %q, want STOPPING=1", got)
	}
	<-d.done
	if d.err != nil {
		t.Errorf("ExecStart after SIGTERM: %v, want exit 0\n%s", d.err, logFile(log))
	}
}

// addDefaultLAN gives a network namespace, through run, the interface
// lan0 (one end of a veth pair) at 192.0.2.1/24 with the default route:
// the shipped settings serve on the default route's interface.
func addDefaultLAN(t *testing.T, run func(t *testing.T, args ...string) string) {
	t.Helper()
	for _, args := range [][]string{
		{"ip", "link", "add", "lan0", "type", "veth", "peer", "name", "lan1"},
		{"ip", "addr", "add", "192.0.2.1/24", "dev", "lan0"},
		{"ip", "link", "set", "lan1", "up"},
		{"ip", "link", "set", "lan0", "up"},
		{"ip", "route", "add", "default", "dev", "lan0"},
	} {
		run(t, args...)
	}
}

// checkUpgradeAndRemoval: an upgrade keeps an edited config and the data;
// removal keeps the config and the data; purge removes the config and
// keeps the data.
func checkUpgradeAndRemoval(t *testing.T, debUpgrade string) {
	t.Helper()
	edited := logFile(configPath) + "\n# edited by the package test\nevent-retention: 720h\n"
	writeFile(t, configPath, edited)
	marker := filepath.Join(dataDir, "package-test-marker")
	writeFile(t, marker, "data")
	defer os.Remove(marker)

	runCmd(t, "dpkg", "-i", debUpgrade)
	checkDebInstalled(t, "0.0.2-1")
	if logFile(configPath) != edited {
		t.Errorf("the upgrade changed the edited %s:\n%s", configPath, logFile(configPath))
	}
	if entries, _ := os.ReadDir(dataDir); len(entries) < 2 {
		t.Errorf("after the upgrade %s holds %d files, want the service's database and the marker", dataDir, len(entries))
	}

	runCmd(t, "dpkg", "-r", "kickstand")
	if _, err := os.Stat("/usr/bin/kickstand"); err == nil {
		t.Error("dpkg -r left /usr/bin/kickstand")
	}
	if logFile(configPath) != edited || logFile(marker) != "data" {
		t.Errorf("dpkg -r took the config or the data: config %q, marker %q", logFile(configPath), logFile(marker))
	}
	out := runCmd(t, "dpkg", "-P", "kickstand")
	if _, err := os.Stat(configPath); err == nil {
		t.Errorf("dpkg -P left %s", configPath)
	}
	if logFile(marker) != "data" || !strings.Contains(out, "/var/lib/kickstand and the user kickstand are kept") {
		t.Errorf("dpkg -P took the data, or did not say it keeps it: marker %q\n%s", logFile(marker), out)
	}
}
