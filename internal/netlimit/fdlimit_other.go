//go:build !unix

package netlimit

// openFileLimit returns 0: the limit on open files is not known here.
func openFileLimit() int { return 0 }
