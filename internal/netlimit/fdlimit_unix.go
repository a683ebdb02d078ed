//go:build unix

package netlimit

import (
	"math"
	"syscall"
)

// openFileLimit returns the soft limit on open files, or 0 when there is
// none.
func openFileLimit() int {
	var rl syscall.Rlimit
	if err := syscall.Getrlimit(syscall.RLIMIT_NOFILE, &rl); err != nil || rl.Cur > math.MaxInt32 {
		return 0
	}
	return int(rl.Cur)
}
