package tftp

import (
	"context"
	"crypto/sha256"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"testing"
	"time"
)

// wrapSize needs more than 65535 blocks of 512 bytes, so block numbers roll over.
const wrapSize = 32<<20 + 100<<10

// requireTool returns the path of a TFTP client, skipping the test when it is
// missing, except in CI (CI=true), where a missing client is a failure.
func requireTool(t *testing.T, name, pkg string) string {
	t.Helper()
	path, err := exec.LookPath(name)
	if err == nil {
		return path
	}
	if os.Getenv("CI") == "true" {
		t.Fatalf("%s not found (%v); CI must run the real-client tests: apt-get install %s", name, err, pkg)
	}
	t.Skipf("%s not found; install it (apt-get install %s) to test against a real client", name, pkg)
	return ""
}

// rootHandler serves files from dir, confined by os.Root as kickstand's app does.
func rootHandler(t *testing.T, dir string) Handler {
	root, err := os.OpenRoot(dir)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { root.Close() })
	return func(_ context.Context, name string, _ net.Addr) (io.ReadCloser, int64, error) {
		f, err := root.Open(name)
		if err != nil {
			return nil, 0, err
		}
		info, err := f.Stat()
		if err != nil {
			f.Close()
			return nil, 0, err
		}
		return f, info.Size(), nil
	}
}

// writeFixtures writes files of the given sizes with random content to dir.
func writeFixtures(t *testing.T, dir string, sizes map[string]int) map[string][32]byte {
	sums := make(map[string][32]byte, len(sizes))
	rng := rand.NewChaCha8([32]byte{'k', 'i', 'c', 'k'})
	for name, size := range sizes {
		data := make([]byte, size)
		_, _ = rng.Read(data)
		if err := os.WriteFile(filepath.Join(dir, name), data, 0o644); err != nil {
			t.Fatal(err)
		}
		sums[name] = sha256.Sum256(data)
	}
	return sums
}

// clientCase is one download by a real client: the file and the client's blksize
// and windowsize (0: the client's default, no option sent).
type clientCase struct {
	file       string
	blockSize  int
	windowSize int
}

func TestRealClients(t *testing.T) {
	dir := t.TempDir()
	sums := writeFixtures(t, dir, map[string]int{
		"empty": 0, "one": 1, "exact512": 512,
		"multiple1024": 1024 * 5, "multiple1428": 1428 * 8 * 3,
		"random3m": 3 << 20, "wrap": wrapSize,
	})
	addr := startServer(t, &Server{Handler: rootHandler(t, dir)})
	out := t.TempDir()

	t.Run("curl", func(t *testing.T) {
		t.Parallel()
		testCurl(t, addr, out, sums)
	})
	t.Run("atftp", func(t *testing.T) {
		t.Parallel()
		testAtftp(t, addr, out, sums)
	})
	t.Run("curl missing file", func(t *testing.T) {
		t.Parallel()
		curl := requireTool(t, "curl", "curl")
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		url := fmt.Sprintf("tftp://%s/nope", addr)
		msg, err := exec.CommandContext(ctx, curl, "-sS", "-o", filepath.Join(out, "nope"), url).CombinedOutput()
		if err == nil {
			t.Fatalf("curl succeeded on a missing file: %s", msg)
		}
		if exit, ok := err.(*exec.ExitError); !ok || exit.ExitCode() != 68 { // CURLE_TFTP_NOTFOUND
			t.Fatalf("curl: %v: %s; want exit status 68 (file not found)", err, msg)
		}
	})
}

// testCurl downloads the fixtures with curl, which speaks RFC 1350 lock-step
// with blksize and tsize.
func testCurl(t *testing.T, addr netip.AddrPort, out string, sums map[string][32]byte) {
	curl := requireTool(t, "curl", "curl")
	for _, c := range []clientCase{
		{"empty", 512, 0}, {"one", 512, 0}, {"exact512", 512, 0}, {"multiple1024", 1024, 0},
		{"random3m", 1468, 0}, {"wrap", 512, 0},
	} {
		t.Run(c.file, func(t *testing.T) {
			dest := filepath.Join(out, "curl-"+c.file)
			url := fmt.Sprintf("tftp://%s/%s", addr, c.file)
			run(t, curl, "-sS", "--tftp-blksize", strconv.Itoa(c.blockSize), "-o", dest, url)
			checkSum(t, dest, sums[c.file])
		})
	}
}

// testAtftp downloads the fixtures with atftp, with and without windowsize.
func testAtftp(t *testing.T, addr netip.AddrPort, out string, sums map[string][32]byte) {
	atftp := requireTool(t, "atftp", "atftp")
	for _, c := range []clientCase{
		{"empty", 0, 0}, {"one", 0, 0}, {"exact512", 0, 0}, {"multiple1428", 1428, 8},
		{"random3m", 1428, 8}, {"wrap", 512, 16},
	} {
		t.Run(c.file, func(t *testing.T) {
			dest := filepath.Join(out, "atftp-"+c.file)
			args := []string{"-g", "-r", c.file, "-l", dest}
			if c.blockSize > 0 {
				args = append(args, "--option", "tsize 0", "--option", "blksize "+strconv.Itoa(c.blockSize))
			}
			if c.windowSize > 0 {
				args = append(args, "--option", "windowsize "+strconv.Itoa(c.windowSize))
			}
			args = append(args, addr.Addr().String(), strconv.Itoa(int(addr.Port())))
			run(t, atftp, args...)
			checkSum(t, dest, sums[c.file])
		})
	}
}

// run runs a client and fails the test if it fails.
func run(t *testing.T, name string, args ...string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	start := time.Now()
	out, err := exec.CommandContext(ctx, name, args...).CombinedOutput()
	if err != nil {
		t.Fatalf("%s %q: %v\n%s", filepath.Base(name), args, err, out)
	}
	t.Logf("%s took %v", filepath.Base(name), time.Since(start))
}

func checkSum(t *testing.T, path string, want [32]byte) {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if got := sha256.Sum256(data); got != want {
		t.Fatalf("%s: sha256 %x (%d bytes), want %x", path, got, len(data), want)
	}
}
