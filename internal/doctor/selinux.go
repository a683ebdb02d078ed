package doctor

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"

	"kickstand/internal/store"
)

// pathLabel is a file kickstand reads and its SELinux label.
type pathLabel struct {
	What, Path string
	Label      string // "system_u:object_r:var_lib_t:s0"; "" if it has none or cannot be read
}

// checkSELinux reports, when SELinux is enforcing, the data directory and
// ISOs whose labels a confined service could not read. Report only:
// kickstand runs unconfined unless a policy confines it.
func (d *Doctor) checkSELinux(distros []store.Distro) []Check {
	b, err := os.ReadFile(filepath.Join(d.sysRoot(), "fs", "selinux", "enforce"))
	enforce := strings.TrimSpace(string(b))
	if errors.Is(err, fs.ErrNotExist) {
		enforce = ""
	} else if err != nil {
		return []Check{{Name: "selinux", Status: Warn, Text: "not checked: " + err.Error()}}
	}
	var paths []pathLabel
	if enforce == "1" {
		paths = append(paths, pathLabel{What: "data directory", Path: d.Config.DataDir})
		for _, x := range distros {
			paths = append(paths, pathLabel{What: "distro " + x.Name, Path: x.Source})
		}
		if d.Config.BootloaderDir != "" {
			paths = append(paths, pathLabel{What: "--bootloader-dir", Path: d.Config.BootloaderDir})
		}
		for i := range paths {
			paths[i].Label, _ = readLabel(paths[i].Path)
		}
	}
	return selinuxChecks(enforce, paths)
}

// selinuxChecks judges the labels: enforce is the content of
// /sys/fs/selinux/enforce ("" when SELinux is off).
func selinuxChecks(enforce string, paths []pathLabel) []Check {
	switch enforce {
	case "":
		return []Check{{Name: "selinux", Status: Pass, Text: "SELinux is not enabled"}}
	case "0":
		return []Check{{Name: "selinux", Status: Pass, Text: "SELinux is permissive: it denies nothing"}}
	}
	var checks []Check
	for _, p := range paths {
		typ := labelType(p.Label)
		if !confinedCannotRead(typ) {
			continue
		}
		checks = append(checks, Check{Name: "selinux", Status: Warn, Text: fmt.Sprintf(
			"enforcing, and the %s %s is labelled %s: a confined service (httpd_t, tftpd_t) could not read it; "+
				"kickstand runs unconfined unless a policy confines it — if yours does, move it under /var/lib or relabel it: "+
				"semanage fcontext -a -t public_content_t '%s(/.*)?' && restorecon -Rv %s", p.What, p.Path, typ, p.Path, p.Path)})
	}
	if len(checks) == 0 {
		checks = append(checks, Check{Name: "selinux", Status: Pass, Text: "enforcing; the data directory and ISOs carry labels confined services can read"})
	}
	return checks
}

// labelType is the type field of a label: "var_lib_t" of
// "system_u:object_r:var_lib_t:s0".
func labelType(label string) string {
	f := strings.Split(strings.TrimRight(label, "\x00"), ":")
	if len(f) < 3 {
		return ""
	}
	return f[2]
}

// confinedCannotRead reports whether a file type is one that confined
// daemons are denied by default: home directories, user temp files, files
// without a label, and network file systems (without booleans like
// httpd_use_nfs).
func confinedCannotRead(typ string) bool {
	switch typ {
	case "user_home_t", "user_home_dir_t", "admin_home_t", "user_tmp_t", "unlabeled_t", "default_t",
		"nfs_t", "cifs_t", "fusefs_t", "removable_t":
		return true
	}
	return strings.HasPrefix(typ, "xdg_") || strings.HasSuffix(typ, "_home_t")
}
