package cli

import (
	"os"
	"strconv"
	"testing"

	"golang.org/x/sys/unix"
)

// Progress goes to a terminal only: never into a pipe, a file or /dev/null.
func TestProgressOnlyOnATerminal(t *testing.T) {
	master, err := os.OpenFile("/dev/ptmx", os.O_RDWR, 0)
	if err != nil {
		t.Skipf("no pseudo-terminals here: %v", err)
	}
	defer master.Close()
	if err := unix.IoctlSetPointerInt(int(master.Fd()), unix.TIOCSPTLCK, 0); err != nil {
		t.Fatal(err)
	}
	n, err := unix.IoctlGetInt(int(master.Fd()), unix.TIOCGPTN)
	if err != nil {
		t.Fatal(err)
	}
	tty, err := os.OpenFile("/dev/pts/"+strconv.Itoa(n), os.O_RDWR, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer tty.Close()
	r, w, _ := os.Pipe()
	defer r.Close()
	defer w.Close()
	null, _ := os.Open(os.DevNull)
	defer null.Close()
	for _, c := range []struct {
		name string
		f    *os.File
		want bool
	}{{"a terminal", tty, true}, {"a pipe", w, false}, {"/dev/null", null, false}} {
		if got := (&env{stdout: c.f}).progress() != nil; got != c.want {
			t.Errorf("stdout %s: progress %v, want %v", c.name, got, c.want)
		}
	}
}
