package doctor

import (
	"strings"
	"testing"
)

func TestSELinuxChecks(t *testing.T) {
	paths := []pathLabel{
		{"data directory", "/var/lib/kickstand", "system_u:object_r:var_lib_t:s0"},
		{"distro rocky9", "/root/Rocky-9.6-x86_64-dvd.iso", "unconfined_u:object_r:admin_home_t:s0"},
		{"distro alma9", "/home/ann/Downloads/alma.iso", "unconfined_u:object_r:xdg_downloads_t:s0"},
		{"distro fedora", "/srv/isos/fedora.iso", "system_u:object_r:public_content_t:s0"},
	}
	if c := selinuxChecks("", paths); len(c) != 1 || c[0].Status != Pass || !strings.Contains(c[0].Text, "not enabled") {
		t.Errorf("SELinux off: %+v", c)
	}
	if c := selinuxChecks("0", paths); len(c) != 1 || c[0].Status != Pass || !strings.Contains(c[0].Text, "permissive") {
		t.Errorf("permissive: %+v", c)
	}
	c := selinuxChecks("1", paths)
	if len(c) != 2 {
		t.Fatalf("enforcing: %d checks, want 2 warnings: %+v", len(c), c)
	}
	for i, want := range []string{"/root/Rocky-9.6-x86_64-dvd.iso is labelled admin_home_t", "/home/ann/Downloads/alma.iso is labelled xdg_downloads_t"} {
		if c[i].Status != Warn || !strings.Contains(c[i].Text, want) || !strings.Contains(c[i].Text, "restorecon") {
			t.Errorf("check %d: %+v, want a warning about %q", i, c[i], want)
		}
	}
	if c := selinuxChecks("1", paths[:1]); len(c) != 1 || c[0].Status != Pass {
		t.Errorf("enforcing, all readable: %+v", c)
	}
}
