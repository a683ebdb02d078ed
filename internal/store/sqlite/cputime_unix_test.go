//go:build unix

package sqlite

import (
	"syscall"
	"time"
)

// processCPU is the CPU time (user and system) the process has used: what
// a boot storm is short of, which wall time per event does not show when
// callers wait on each other.
func processCPU() (time.Duration, bool) {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0, false
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano()), true
}
