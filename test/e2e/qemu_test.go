//go:build e2e

package e2e

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"
)

// markerPrefix starts every line the fixture installer reports on the console.
const markerPrefix = "KSFIXTURE: "

// qemuTimeout bounds one guest run: the fixture powers off when done (or after its
// own 120 s watchdog), so hitting this means the boot never reached the installer.
func qemuTimeout(t *testing.T, limit time.Duration) time.Duration {
	if deadline, ok := t.Deadline(); ok {
		// Leave time to report before go test's own timeout panics.
		if left := time.Until(deadline) - 30*time.Second; left < limit {
			return max(left, time.Second)
		}
	}
	return limit
}

// runQEMU runs qemu-system-x86_64 with args inside ns until the guest powers off or
// timeout passes, and returns the guest's serial console. A guest still running at
// the timeout is reported with the text on its VGA screen, where firmware, iPXE and
// pxelinux write what the serial console never shows.
func runQEMU(t *testing.T, ns *netns, consolePath string, timeout time.Duration, args ...string) string {
	t.Helper()
	return runQEMUDuring(t, ns, consolePath, timeout, nil, args...)
}

// runQEMUDuring is runQEMU that also runs during (if not nil) while the
// guest runs, with its monitor socket: a person at its console. An error
// from during fails the test.
func runQEMUDuring(t *testing.T, ns *netns, consolePath string, timeout time.Duration, during func(monitor string) error, args ...string) string {
	t.Helper()
	monitor, cmd, output := qemuCommand(context.Background(), ns, consolePath, args...)
	start := time.Now()
	if err := cmd.Start(); err != nil {
		t.Fatalf("start qemu: %v", err)
	}
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	acted := make(chan error, 1)
	if during != nil {
		go func() { acted <- during(monitor) }()
	} else {
		acted <- nil
	}
	timer := time.NewTimer(timeout)
	defer timer.Stop()
	select {
	case err := <-done:
		if err != nil {
			t.Errorf("qemu: %v\n%s\nconsole:\n%s", err, output.String(), logFile(consolePath))
		} else {
			t.Logf("guest powered off after %v", time.Since(start).Round(time.Second))
		}
	case <-timer.C:
		screen, err := vgaText(monitor)
		if err != nil {
			screen = fmt.Sprintf("(no screen: %v)", err)
		}
		_ = cmd.Process.Kill()
		<-done
		t.Errorf("qemu still running after %v, killed\nVGA screen:\n%s\nconsole:\n%s",
			timeout, screen, logFile(consolePath))
	}
	if err := <-acted; err != nil {
		t.Errorf("at the guest's console: %v", err)
	}
	return logFile(consolePath)
}

// sendKeys types keys (QEMU key names: down, ret, a...) on the guest's
// keyboard through its monitor.
func sendKeys(monitor string, keys ...string) error {
	conn, err := net.DialTimeout("unix", monitor, 2*time.Second)
	if err != nil {
		return err
	}
	defer conn.Close()
	_ = conn.SetDeadline(time.Now().Add(10 * time.Second))
	reader := bufio.NewReader(conn)
	prompt := func() error {
		var b strings.Builder
		for !strings.HasSuffix(b.String(), "(qemu) ") {
			c, err := reader.ReadByte()
			if err != nil {
				return err
			}
			b.WriteByte(c)
		}
		return nil
	}
	if err := prompt(); err != nil {
		return err
	}
	for _, k := range keys {
		if _, err := io.WriteString(conn, "sendkey "+k+"\n"); err != nil {
			return err
		}
		if err := prompt(); err != nil {
			return err
		}
		time.Sleep(300 * time.Millisecond) // one key at a time, as a person types
	}
	return nil
}

// waitScreen polls the guest's VGA text until it contains every one of
// want, for up to timeout, and returns it.
func waitScreen(monitor string, timeout time.Duration, want ...string) (string, error) {
	deadline := time.Now().Add(timeout)
	var screen string
	for time.Now().Before(deadline) {
		screen, _ = vgaText(monitor)
		found := true
		for _, w := range want {
			found = found && strings.Contains(screen, w)
		}
		if found {
			return screen, nil
		}
		time.Sleep(time.Second)
	}
	return screen, fmt.Errorf("the screen never showed %q in %v; it shows:\n%s", want, timeout, screen)
}

// qemuCommand is qemu-system-x86_64 with args inside ns, its serial console
// in consolePath and its monitor on the returned socket.
func qemuCommand(ctx context.Context, ns *netns, consolePath string, args ...string) (string, *exec.Cmd, *bytes.Buffer) {
	monitor := filepath.Join(filepath.Dir(consolePath), "qemu-monitor.sock")
	args = append([]string{"qemu-system-x86_64", "-serial", "file:" + consolePath,
		"-monitor", "unix:" + monitor + ",server=on,wait=off"}, args...)
	cmd := ns.command(ctx, args...)
	var output bytes.Buffer
	cmd.Stdout, cmd.Stderr = &output, &output
	return monitor, cmd, &output
}

// startQEMU starts a guest that runs until ctx ends; wait kills it and
// waits for it to exit. It returns the monitor socket.
func startQEMU(t *testing.T, ctx context.Context, ns *netns, consolePath string, args ...string) (monitor string, wait func()) {
	t.Helper()
	monitor, cmd, _ := qemuCommand(ctx, ns, consolePath, args...)
	if err := cmd.Start(); err != nil {
		t.Fatalf("start qemu: %v", err)
	}
	return monitor, func() { _ = cmd.Process.Kill(); _ = cmd.Wait() }
}

// vgaLine is one line of `xp /Nhx 0xb8000` output: an address, then 16-bit cells.
var vgaLine = regexp.MustCompile(`^[0-9a-f]+: ((?:0x[0-9a-f]{4} ?)+)`)

// vgaText reads the 80x25 VGA text screen through the QEMU human monitor: each cell
// at 0xb8000 is a character byte and an attribute byte.
func vgaText(monitor string) (string, error) {
	conn, err := net.DialTimeout("unix", monitor, 2*time.Second)
	if err != nil {
		return "", err
	}
	defer conn.Close()
	_ = conn.SetDeadline(time.Now().Add(5 * time.Second))
	reader := bufio.NewReader(conn)
	readPrompt := func() (string, error) {
		var b strings.Builder
		for !strings.HasSuffix(b.String(), "(qemu) ") {
			c, err := reader.ReadByte()
			if err != nil {
				return b.String(), err
			}
			b.WriteByte(c)
		}
		return b.String(), nil
	}
	if _, err := readPrompt(); err != nil {
		return "", err
	}
	if _, err := io.WriteString(conn, "xp /2000hx 0xb8000\n"); err != nil {
		return "", err
	}
	reply, err := readPrompt()
	if err != nil {
		return "", err
	}
	var cells []byte
	for _, line := range strings.Split(reply, "\n") {
		m := vgaLine.FindStringSubmatch(strings.TrimSpace(line))
		if m == nil {
			continue
		}
		for _, word := range strings.Fields(m[1]) {
			v, _ := strconv.ParseUint(strings.TrimPrefix(word, "0x"), 16, 16)
			c := byte(v)
			if c < 0x20 || c > 0x7e {
				c = ' '
			}
			cells = append(cells, c)
		}
	}
	var rows []string
	for i := 0; i+80 <= len(cells); i += 80 {
		rows = append(rows, strings.TrimRight(string(cells[i:i+80]), " "))
	}
	return strings.TrimRight(strings.Join(rows, "\n"), "\n"), nil
}

// markers returns the fixture's report lines from a console log, prefix removed.
func markers(console string) []string {
	var found []string
	for _, line := range strings.Split(console, "\n") {
		line = strings.TrimRight(line, "\r")
		if i := strings.Index(line, markerPrefix); i >= 0 {
			found = append(found, line[i+len(markerPrefix):])
		}
	}
	return found
}

// checkInstallerRun asserts that the fixture installer ran every step and fetched the
// expected stage2 image; it returns the markers for logging.
func checkInstallerRun(t *testing.T, console, stage2SHA string) []string {
	t.Helper()
	got := markers(console)
	for _, m := range got {
		if strings.HasPrefix(m, "FAILED") || m == "TIMEOUT" {
			t.Errorf("installer reported %q", m)
		}
	}
	for _, want := range []string{"init started", "stage2 sha256 " + stage2SHA, "pre ok", "repo ok", "post ok", "done"} {
		if !slices.Contains(got, want) {
			t.Errorf("console lacks %q", markerPrefix+want)
		}
	}
	if t.Failed() {
		t.Logf("installer markers:\n  %s", strings.Join(got, "\n  "))
	}
	return got
}

// dumpOnFailure registers a cleanup that prints the named logs if the test failed.
func dumpOnFailure(t *testing.T, logs map[string]string) {
	t.Cleanup(func() {
		if !t.Failed() {
			return
		}
		for name, path := range logs {
			if _, err := os.Stat(path); err == nil {
				t.Logf("----- %s (%s) -----\n%s", name, path, logFile(path))
			}
		}
	})
}

// directBootArgs boots kernel and initrd straight from QEMU, skipping firmware and
// boot loader, with an e1000 NIC on tap.
func directBootArgs(fx fixture, tap, mac, cmdline string) []string {
	return []string{
		"-M", "pc", "-m", "512", "-display", "none", "-nodefaults", "-no-reboot",
		"-kernel", fx.kernel, "-initrd", fx.initrd, "-append", cmdline,
		"-netdev", fmt.Sprintf("tap,id=n0,ifname=%s,script=no,downscript=no", tap),
		"-device", "e1000,netdev=n0,mac=" + mac,
	}
}

// pxeBootArgs boots like a BIOS machine with nothing on disk: SeaBIOS runs the e1000's
// iPXE option ROM (QEMU's default ROM for the device), which PXE boots from the LAN.
func pxeBootArgs(tap, mac string) []string {
	return []string{
		"-M", "pc", "-m", "512", "-display", "none", "-boot", "n", "-no-reboot",
		"-netdev", fmt.Sprintf("tap,id=n0,ifname=%s,script=no,downscript=no", tap),
		"-device", "e1000,netdev=n0,mac=" + mac,
	}
}
