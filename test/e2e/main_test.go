//go:build e2e

// Package e2e runs kickstand end to end: real firmware (SeaBIOS with iPXE's option
// ROM) in QEMU, inside network namespaces the tests create, boots through kickstand
// into a fixture "installer" (fixtures/) that behaves like anaconda on the wire.
//
// Run as root: go test -tags e2e -timeout 30m -v ./test/e2e/
// Without root, /dev/net/tun or QEMU the tests skip, unless CI=true, where they fail.
package e2e

import (
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
)

// kickstandBuild is the result of building ./cmd/kickstand in TestMain.
var kickstandBuild struct {
	path   string
	output string
	err    error
}

func TestMain(m *testing.M) {
	os.Exit(runTests(m))
}

func runTests(m *testing.M) int {
	dir, err := os.MkdirTemp("", "kickstand-e2e-bin-")
	if err != nil {
		fmt.Fprintln(os.Stderr, "e2e:", err)
		return 1
	}
	defer os.RemoveAll(dir)
	kickstandBuild.path = filepath.Join(dir, "kickstand")
	kickstandBuild.output, kickstandBuild.err = buildKickstand(kickstandBuild.path)
	return m.Run()
}

// buildKickstand builds the binary under test from the repository this test is in.
func buildKickstand(out string) (string, error) {
	root, err := repoRoot()
	if err != nil {
		return "", err
	}
	cmd := goCommand(root, "build", "-o", out, "./cmd/kickstand")
	output, err := cmd.CombinedOutput()
	return string(output), err
}

// goCommand is the go tool with args, run in dir.
func goCommand(dir string, args ...string) *exec.Cmd {
	goTool, err := exec.LookPath("go")
	if err != nil {
		goTool = filepath.Join(os.Getenv("GOROOT"), "bin", "go")
	}
	cmd := exec.Command(goTool, args...)
	cmd.Dir = dir
	return cmd
}

// kickstandBinary returns the binary built in TestMain, or fails the test with the
// compiler's output.
func kickstandBinary(t *testing.T) string {
	t.Helper()
	if kickstandBuild.err != nil {
		t.Fatalf("go build ./cmd/kickstand: %v\n%s", kickstandBuild.err, kickstandBuild.output)
	}
	return kickstandBuild.path
}

// repoRoot is the directory holding go.mod, found upwards from the test's directory.
func repoRoot() (string, error) {
	dir, err := os.Getwd()
	if err != nil {
		return "", err
	}
	for {
		if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
			return dir, nil
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return "", errors.New("no go.mod above the test directory")
		}
		dir = parent
	}
}

// requireHost skips the test when this host cannot run it — not root, no
// /dev/net/tun, a tool missing — or fails it when CI=true, where a skip would hide
// that the end-to-end tests never ran.
func requireHost(t *testing.T, tools ...string) {
	t.Helper()
	var missing []string
	if os.Geteuid() != 0 {
		missing = append(missing, "root (network namespaces and tap devices)")
	}
	if _, err := os.Stat("/dev/net/tun"); err != nil {
		missing = append(missing, "/dev/net/tun")
	}
	for _, tool := range append([]string{"ip", "qemu-system-x86_64"}, tools...) {
		if _, err := exec.LookPath(tool); err != nil {
			missing = append(missing, tool)
		}
	}
	if len(missing) == 0 {
		return
	}
	msg := "end-to-end test needs " + strings.Join(missing, ", ")
	if os.Getenv("CI") == "true" {
		t.Fatal(msg + " (CI=true: not skipping)")
	}
	t.Skip(msg)
}

// fixture is what fixtures/build.sh produced.
type fixture struct {
	cache       string // the cache directory
	tree        string // the Rocky-like install tree
	iso         string // the same tree as a Rocky 9 DVD image
	iso8        string // the same tree as a Rocky 8 DVD image, with a RHEL 8 style GRUB
	isoSB       string // the Rocky 9 DVD with Debian 13's signed shim and netboot GRUB
	stage2SHA   string // sha256 hex of tree/images/install.img
	kernel      string // tree/images/pxeboot/vmlinuz
	initrd      string // tree/images/pxeboot/initrd.img
	buildOutput string
}

var (
	fixtureOnce   sync.Once
	fixtureResult fixture
	fixtureErr    error
)

// buildFixture runs fixtures/build.sh once per test binary (it is itself idempotent
// across runs) into $KICKSTAND_E2E_CACHE or <repo>/.cache/e2e.
func buildFixture(t *testing.T) fixture {
	t.Helper()
	fixtureOnce.Do(func() { fixtureResult, fixtureErr = runFixtureBuild() })
	if fixtureErr != nil {
		t.Fatalf("fixture build: %v", fixtureErr)
	}
	return fixtureResult
}

func runFixtureBuild() (fixture, error) {
	root, err := repoRoot()
	if err != nil {
		return fixture{}, err
	}
	cache := os.Getenv("KICKSTAND_E2E_CACHE")
	if cache == "" {
		cache = filepath.Join(root, ".cache", "e2e")
	}
	script := filepath.Join(root, "test", "e2e", "fixtures", "build.sh")
	output, err := exec.Command("sh", script, cache).CombinedOutput()
	if err != nil {
		return fixture{}, fmt.Errorf("%s %s: %w\n%s", script, cache, err, output)
	}
	sum, err := os.ReadFile(filepath.Join(cache, "install.img.sha256"))
	if err != nil {
		return fixture{}, err
	}
	tree := filepath.Join(cache, "tree")
	return fixture{
		cache:       cache,
		tree:        tree,
		iso:         filepath.Join(cache, "rocky.iso"),
		iso8:        filepath.Join(cache, "rocky8.iso"),
		isoSB:       filepath.Join(cache, "rockysb.iso"),
		stage2SHA:   strings.TrimSpace(string(sum)),
		kernel:      filepath.Join(tree, "images", "pxeboot", "vmlinuz"),
		initrd:      filepath.Join(tree, "images", "pxeboot", "initrd.img"),
		buildOutput: strings.TrimSpace(string(output)),
	}, nil
}
