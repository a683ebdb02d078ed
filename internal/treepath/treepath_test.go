package treepath

import "testing"

func TestBuildAndParse(t *testing.T) {
	for _, tt := range []struct {
		name string
		ok   bool
		want Path
	}{
		{Distro("rocky9", "images/install.img"), true, Path{Distro: "rocky9", File: "images/install.img"}},
		{"/" + Distro("rocky9", "images/install.img"), true, Path{Distro: "rocky9", File: "images/install.img"}},
		{Distro("rocky9", "."), true, Path{Distro: "rocky9", File: "."}},
		{Distro("rocky9", ""), true, Path{Distro: "rocky9", File: "."}},
		{EFI("alma", "BOOTX64.EFI"), true, Path{Distro: "alma", File: "EFI/BOOT/BOOTX64.EFI"}},
		{"pub/BaseOS/repodata/repomd.xml", true, Path{Pub: true, File: "BaseOS/repodata/repomd.xml"}},
		{"pub", true, Path{Pub: true, File: "."}},
		{"distros", false, Path{}},
		{"distros/", false, Path{}},
		{"distros/./x", false, Path{}},
		{"distros/../x", false, Path{}},
		{"lpxelinux.0", false, Path{}},
		{"pxelinux.cfg/01-52-54-00-00-00-01", false, Path{}},
		{"EFI/BOOT/BOOTX64.EFI", false, Path{}},
	} {
		got, ok := Parse(tt.name)
		if ok != tt.ok || got != tt.want {
			t.Errorf("Parse(%q) = %+v, %v; want %+v, %v", tt.name, got, ok, tt.want, tt.ok)
		}
		if InDistro(tt.name) != tt.ok {
			t.Errorf("InDistro(%q) = %v", tt.name, !tt.ok)
		}
	}
	if u := DistroURL("http://10.0.0.1", "rocky9"); u != "http://10.0.0.1/distros/rocky9/" {
		t.Errorf("DistroURL = %q", u)
	}
	if u := PubURL("ftp://10.0.0.1"); u != "ftp://10.0.0.1/pub/" {
		t.Errorf("PubURL = %q", u)
	}
	if p := EFIFile("grubx64.efi"); p != "EFI/BOOT/grubx64.efi" {
		t.Errorf("EFIFile = %q", p)
	}
}
