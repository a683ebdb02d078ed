//go:build linux

package doctor

import (
	"bytes"

	"golang.org/x/sys/unix"
)

// readLabel returns the SELinux label of path (its security.selinux xattr).
func readLabel(path string) (string, error) {
	buf := make([]byte, 256)
	n, err := unix.Getxattr(path, "security.selinux", buf)
	if err != nil {
		return "", err
	}
	return string(bytes.TrimRight(buf[:n], "\x00")), nil
}

// freeSpace returns the bytes an unprivileged user may still write in dir.
func freeSpace(dir string) (uint64, error) {
	var st unix.Statfs_t
	if err := unix.Statfs(dir, &st); err != nil {
		return 0, err
	}
	return st.Bavail * uint64(st.Bsize), nil
}
