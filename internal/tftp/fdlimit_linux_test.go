package tftp

import (
	"syscall"
	"testing"
)

// TestMaxTransfersFitsOpenFileLimit checks that the default cap, in the
// thousands, shrinks to a quarter of a low open-file limit: every transfer
// holds a socket and a file, and one past the limit would fail to open them.
func TestMaxTransfersFitsOpenFileLimit(t *testing.T) {
	var rl syscall.Rlimit
	if err := syscall.Getrlimit(syscall.RLIMIT_NOFILE, &rl); err != nil {
		t.Fatal(err)
	}
	if rl.Cur < 4*DefaultMaxTransfers {
		t.Skipf("the open-file limit %d is already below %d", rl.Cur, 4*DefaultMaxTransfers)
	}
	if got := (&Server{}).maxTransfers(); got != DefaultMaxTransfers {
		t.Errorf("open-file limit %d: %d transfers, want the default %d", rl.Cur, got, DefaultMaxTransfers)
	}
	lowered := rl
	lowered.Cur = 1024
	if err := syscall.Setrlimit(syscall.RLIMIT_NOFILE, &lowered); err != nil {
		t.Fatal(err)
	}
	defer syscall.Setrlimit(syscall.RLIMIT_NOFILE, &rl)
	if got := (&Server{}).maxTransfers(); got != 256 {
		t.Errorf("open-file limit 1024: %d transfers, want 256", got)
	}
	if got := (&Server{MaxTransfers: 100}).maxTransfers(); got != 100 {
		t.Errorf("open-file limit 1024, MaxTransfers 100: %d transfers, want 100", got)
	}
}
