package sqlite

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	sys "golang.org/x/sys/unix"
)

// mountTmpfs mounts a small tmpfs on a new directory for the test; it needs
// root (CI runs as root).
func mountTmpfs(t *testing.T, opts string, flags uintptr) string {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Skip("SKIPPED: mounting a tmpfs needs root")
	}
	dir := t.TempDir()
	if err := sys.Mount("tmpfs", dir, "tmpfs", flags, opts); err != nil {
		t.Fatalf("mount tmpfs on %s: %v", dir, err)
	}
	t.Cleanup(func() { sys.Unmount(dir, sys.MNT_DETACH) })
	return dir
}

// A read-only or full data directory fails the start with what to do, not
// with SQLite's "unable to open database file (14)".
func TestDataDirErrorsSayWhatToDo(t *testing.T) {
	ctx := context.Background()
	t.Run("read-only", func(t *testing.T) {
		dir := mountTmpfs(t, "size=1m", sys.MS_RDONLY)
		_, err := Open(ctx, dir)
		if err == nil || !strings.Contains(err.Error(), "read-only file system: remount it read-write or choose another with --data-dir") {
			t.Fatalf("Open on a read-only file system: %v", err)
		}
	})
	t.Run("full", func(t *testing.T) {
		dir := mountTmpfs(t, "size=64k", 0)
		filler, err := os.Create(filepath.Join(dir, "filler"))
		if err != nil {
			t.Fatal(err)
		}
		for err == nil {
			_, err = filler.Write(make([]byte, 4096))
		}
		filler.Close()
		_, err = Open(ctx, dir)
		if err == nil || !strings.Contains(err.Error(), "no space left for "+dir+": free some space") {
			t.Fatalf("Open on a full file system: %v", err)
		}
	})
	t.Run("read-only after first use", func(t *testing.T) {
		dir := t.TempDir()
		db, err := Open(ctx, dir)
		if err != nil {
			t.Fatal(err)
		}
		db.Close()
		// Root may write any file: make the file system read-only instead.
		if os.Geteuid() == 0 {
			if err := sys.Mount(dir, dir, "", sys.MS_BIND, ""); err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { sys.Unmount(dir, sys.MNT_DETACH) })
			if err := sys.Mount("", dir, "", sys.MS_REMOUNT|sys.MS_BIND|sys.MS_RDONLY, ""); err != nil {
				t.Fatal(err)
			}
		} else if err := os.Chmod(dir, 0o500); err != nil {
			t.Fatal(err)
		}
		_, err = Open(ctx, dir)
		if err == nil || !strings.Contains(err.Error(), "choose another with --data-dir") ||
			!(strings.Contains(err.Error(), "read-only file system") || strings.Contains(err.Error(), "not writable by this user")) {
			t.Fatalf("Open of a data directory that cannot be written: %v", err)
		}
		os.Chmod(dir, 0o700)
	})
}
