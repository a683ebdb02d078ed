package distro

import (
	"reflect"
	"strings"
	"testing"
	"testing/fstest"
)

const rocky9 = `[header]
type = productmd.treeinfo
version = 1.2

[release]
name = Rocky Linux
short = Rocky
version = 9.6

[tree]
arch = x86_64
build_timestamp = 1748000000
platforms = x86_64,xen
variants = BaseOS,AppStream

[images-x86_64]
kernel = images/pxeboot/vmlinuz
initrd = images/pxeboot/initrd.img
efiboot.img = images/efiboot.img

[stage2]
mainimage = images/install.img

[variant-AppStream]
id = AppStream
name = AppStream
packages = AppStream/Packages
repository = AppStream
type = variant
uid = AppStream

[variant-BaseOS]
id = BaseOS
name = BaseOS
packages = BaseOS/Packages
repository = BaseOS
type = variant
uid = BaseOS
`

const legacy = `[general]
family = CentOS
version = 7
arch = x86_64
timestamp = 1500000000

[images-x86_64]
kernel = images/pxeboot/vmlinuz
initrd = images/pxeboot/initrd.img

[stage2]
mainimage = LiveOS/squashfs.img
`

const fedora = `[header]
type = productmd.treeinfo
version = 1.2
[general]
family = Fedora
version = 41
arch = x86_64
[release]
name = Fedora
short = Fedora
version = 41
[tree]
arch = x86_64
[images-x86_64]
kernel = images/pxeboot/vmlinuz
initrd = images/pxeboot/initrd.img
[stage2]
mainimage = images/install.img
`

const alma9 = `[general]
; WARNING.0 = This section provides compatibility with pre-productmd treeinfos.
arch = x86_64
family = AlmaLinux
name = AlmaLinux 9.4
packagedir = AppStream/Packages
repository = AppStream
timestamp = 1714885291
variant = AppStream
variants = AppStream,BaseOS
version = 9.4

[header]
type = productmd.treeinfo
version = 1.2

[images-x86_64]
efiboot.img = images/efiboot.img
initrd = images/pxeboot/initrd.img
kernel = images/pxeboot/vmlinuz

[release]
name = AlmaLinux
short = AlmaLinux
version = 9.4

[stage2]
mainimage = images/install.img

[tree]
arch = x86_64
build_timestamp = 1714885291
platforms = x86_64,xen
variants = BaseOS,AppStream

[variant-AppStream]
id = AppStream
name = AppStream
packages = AppStream/Packages
repository = AppStream
type = variant
uid = AppStream

[variant-BaseOS]
id = BaseOS
name = BaseOS
packages = BaseOS/Packages
repository = BaseOS
type = variant
uid = BaseOS
`

// fedoraServer is a Fedora Server DVD: one variant whose repository is the tree root.
const fedoraServer = `[header]
type = productmd.treeinfo
version = 1.2

[release]
name = Fedora
short = Fedora
version = 41

[tree]
arch = aarch64
build_timestamp = 1729456000
platforms = aarch64
variants = Server

[images-aarch64]
kernel = images/pxeboot/vmlinuz
initrd = images/pxeboot/initrd.img

[stage2]
mainimage = images/install.img

[variant-Server]
id = Server
name = Server
packages = Packages
repository = .
type = variant
uid = Server
`

// rhel6 is the older format with variants named in [general].
const rhel6 = `[general]
family = Red Hat Enterprise Linux
timestamp = 1380159378.77
variant = Server
totaldiscs = 1
version = 6.5
discnum = 1
packagedir = Packages
arch = x86_64

[variant-Server]
repository = Server
identity = Server/Server.cert

[images-x86_64]
kernel = images/pxeboot/vmlinuz
initrd = images/pxeboot/initrd.img
`

var rockyVariants = []Variant{
	{ID: "BaseOS", Name: "BaseOS", Type: "variant", Repository: "BaseOS", Packages: "BaseOS/Packages"},
	{ID: "AppStream", Name: "AppStream", Type: "variant", Repository: "AppStream", Packages: "AppStream/Packages"},
}

func TestParseTreeinfo(t *testing.T) {
	pxe := Info{Kernel: "images/pxeboot/vmlinuz", Initrd: "images/pxeboot/initrd.img"}
	with := func(in Info, f func(*Info)) Info { f(&in); return in }
	tests := []struct {
		name, in string
		want     Info
		wantName string
	}{
		{"rocky9", rocky9, with(pxe, func(in *Info) {
			in.Family, in.Short, in.Version, in.Arch, in.Stage2 = "Rocky Linux", "Rocky", "9.6", "x86_64", "images/install.img"
			in.Timestamp, in.Variants = "1748000000", rockyVariants
		}), "rocky-9.6-x86_64"},
		{"alma9", alma9, with(pxe, func(in *Info) {
			in.Family, in.Short, in.Version, in.Arch, in.Stage2 = "AlmaLinux", "AlmaLinux", "9.4", "x86_64", "images/install.img"
			in.Timestamp, in.Variants = "1714885291", rockyVariants
		}), "almalinux-9.4-x86_64"},
		{"legacy", legacy, with(pxe, func(in *Info) {
			in.Family, in.Version, in.Arch, in.Stage2, in.Timestamp = "CentOS", "7", "x86_64", "LiveOS/squashfs.img", "1500000000"
		}), "centos-7-x86_64"},
		{"rhel6", rhel6, with(pxe, func(in *Info) {
			in.Family, in.Version, in.Arch, in.Timestamp = "Red Hat Enterprise Linux", "6.5", "x86_64", "1380159378.77"
			in.Variants = []Variant{{ID: "Server", Name: "Server", Type: "variant", Repository: "Server", Packages: "Packages"}}
		}), "red-6.5-x86_64"},
		{"fedora", fedora, with(pxe, func(in *Info) {
			in.Family, in.Short, in.Version, in.Arch, in.Stage2 = "Fedora", "Fedora", "41", "x86_64", "images/install.img"
		}), "fedora-41-x86_64"},
		{"fedora server", fedoraServer, with(pxe, func(in *Info) {
			in.Family, in.Short, in.Version, in.Arch, in.Stage2, in.Timestamp = "Fedora", "Fedora", "41", "aarch64", "images/install.img", "1729456000"
			in.Variants = []Variant{{ID: "Server", Name: "Server", Type: "variant", Repository: ".", Packages: "Packages"}}
		}), "fedora-41-aarch64"},
	}
	for _, tt := range tests {
		got, err := ParseTreeinfo(strings.NewReader(tt.in))
		if err != nil || !reflect.DeepEqual(got, tt.want) {
			t.Errorf("%s: got %+v, %v;\nwant %+v", tt.name, got, err, tt.want)
		}
		if got.Name() != tt.wantName {
			t.Errorf("%s: Name() = %q, want %q", tt.name, got.Name(), tt.wantName)
		}
	}
}

func TestInfoName(t *testing.T) {
	for _, tt := range []struct {
		in   Info
		want string
	}{
		{Info{Short: "Rocky", Version: "9.6", Arch: "x86_64"}, "rocky-9.6-x86_64"},
		{Info{Family: "Red Hat Enterprise Linux", Short: "RHEL", Version: "9.4", Arch: "aarch64"}, "rhel-9.4-aarch64"},
		{Info{Family: "  CentOS Stream", Version: "10", Arch: "x86_64"}, "centos-10-x86_64"},
		{Info{Short: "Oracle Linux/../x", Version: "8 .10", Arch: "x86_64 "}, "oraclelinux..x-8.10-x86_64"},
		{Info{Arch: "ppc64le"}, "ppc64le"},
		{Info{}, ""},
	} {
		if got := tt.in.Name(); got != tt.want {
			t.Errorf("%+v.Name() = %q, want %q", tt.in, got, tt.want)
		}
	}
}

func TestParseDiscinfo(t *testing.T) {
	for _, tt := range []struct {
		in                      string
		want                    Discinfo
		wantVersion, wantFamily string
	}{
		{"1716911843.418489\n9.6\nx86_64\nALL\n", Discinfo{"1716911843.418489", "9.6", "x86_64"}, "9.6", ""},
		{"1380159378.77\nRed Hat Enterprise Linux 6.5\nx86_64\n1\n", Discinfo{"1380159378.77", "Red Hat Enterprise Linux 6.5", "x86_64"}, "6.5", "Red Hat Enterprise Linux"},
		{"1\nFedora\n", Discinfo{"1", "Fedora", ""}, "", "Fedora"},
	} {
		got, err := ParseDiscinfo(strings.NewReader(tt.in))
		if err != nil || got != tt.want || got.Version() != tt.wantVersion || got.Family() != tt.wantFamily {
			t.Errorf("ParseDiscinfo(%q) = %+v (version %q, family %q), %v; want %+v, %q, %q",
				tt.in, got, got.Version(), got.Family(), err, tt.want, tt.wantVersion, tt.wantFamily)
		}
	}
	if _, err := ParseDiscinfo(strings.NewReader("")); err == nil {
		t.Error("ParseDiscinfo(empty) succeeded")
	}
}

func TestParseTreeinfoErrors(t *testing.T) {
	for name, in := range map[string]string{
		"no arch":        "[general]\nfamily = X\n",
		"key outside":    "family = X\n",
		"bad header":     "[general\n",
		"no equals sign": "[general]\nfamily\n",
	} {
		if _, err := ParseTreeinfo(strings.NewReader(in)); err == nil {
			t.Errorf("%s: no error", name)
		}
	}
}

func tree(files ...string) fstest.MapFS {
	m := fstest.MapFS{}
	for _, f := range files {
		m[f] = &fstest.MapFile{Data: []byte("x")}
	}
	return m
}

func TestDetect(t *testing.T) {
	full := tree("images/pxeboot/vmlinuz", "images/pxeboot/initrd.img", "images/install.img")
	full[".treeinfo"] = &fstest.MapFile{Data: []byte(rocky9)}
	in, err := Detect(full)
	if err != nil || in.Stage2 != "images/install.img" || in.Version != "9.6" {
		t.Fatalf("Detect(rocky tree) = %+v, %v", in, err)
	}

	bare := tree("images/pxeboot/vmlinuz", "images/pxeboot/initrd.img")
	in, err = Detect(bare)
	if err != nil || in.Kernel != pxeKernel || in.Stage2 != "" {
		t.Fatalf("Detect(no treeinfo) = %+v, %v", in, err)
	}

	missing := tree("images/pxeboot/vmlinuz")
	missing[".treeinfo"] = &fstest.MapFile{Data: []byte(rocky9)}
	if _, err := Detect(missing); err == nil || !strings.Contains(err.Error(), "initrd.img") {
		t.Fatalf("Detect(missing initrd) error = %v, want one naming initrd.img", err)
	}

	escape := tree("images/pxeboot/vmlinuz", "images/pxeboot/initrd.img")
	escape[".treeinfo"] = &fstest.MapFile{Data: []byte(strings.Replace(rocky9, "mainimage = images/install.img", "mainimage = ../../etc/shadow", 1))}
	if _, err := Detect(escape); err == nil || !strings.Contains(err.Error(), "outside") {
		t.Fatalf("Detect(../ stage2) error = %v", err)
	}

	if _, err := Detect(fstest.MapFS{}); err == nil {
		t.Fatal("Detect(empty) succeeded")
	}
}

func FuzzParseTreeinfo(f *testing.F) {
	for _, s := range []string{rocky9, alma9, legacy, rhel6, fedora, fedoraServer, "", "[x]\na=b\n"} {
		f.Add(s)
	}
	f.Add("[general]\narch = x86_64\nfamily = Rocky\x1c%pre\n")
	f.Fuzz(func(t *testing.T, s string) {
		in, err := ParseTreeinfo(strings.NewReader(s))
		if err != nil {
			return
		}
		if in.Arch == "" {
			t.Fatalf("ParseTreeinfo = %+v without an arch", in)
		}
		for _, v := range []string{in.Family, in.Short, in.Version, in.Arch, in.Timestamp, in.Kernel, in.Initrd, in.Stage2} {
			if strings.IndexFunc(v, isControl) >= 0 || v != strings.TrimSpace(v) {
				t.Fatalf("ParseTreeinfo = %+v: %q is not a trimmed value without control characters", in, v)
			}
		}
	})
}

// A control character in .treeinfo or .discinfo is refused: the values end up
// in kickstarts (where anaconda's str.splitlines ends a line at \x1c, \x85,
// U+2028...), boot configs and terminals.
func TestControlCharactersRefused(t *testing.T) {
	for _, ti := range []string{
		"[general]\narch = x86_64\nfamily = Rocky\x1c%pre\n",
		"[general]\narch = x86_64\nfamily = Rocky\u2028%pre\n",
		"[general]\narch = x86_64\n[images-x86_64]\nkernel = images/pxeboot/vmlinuz\rinitrd=evil\n",
		"[general]\narch = x86_\x1b[2Jx86_64\n",
		"[gen\u0085eral]\narch = x86_64\n",
	} {
		if in, err := ParseTreeinfo(strings.NewReader(ti)); err == nil || !strings.Contains(err.Error(), "control character") {
			t.Errorf("ParseTreeinfo(%q) = %+v, %v; want a control character error", ti, in, err)
		}
	}
	if d, err := ParseDiscinfo(strings.NewReader("1\nRocky 9.6\x1d%pre\nx86_64\n")); err == nil {
		t.Errorf("ParseDiscinfo(control character) = %+v", d)
	}
	// CRLF line ends and tabs around values are no control characters in values.
	in, err := ParseTreeinfo(strings.NewReader("[general]\r\narch\t=\tx86_64\r\nfamily = CentOS\r\n"))
	if err != nil || in.Arch != "x86_64" || in.Family != "CentOS" {
		t.Errorf("ParseTreeinfo(CRLF, tabs) = %+v, %v", in, err)
	}
	d, err := ParseDiscinfo(strings.NewReader("1\r\n9.6\r\nx86_64\r\n"))
	if err != nil || d.Arch != "x86_64" {
		t.Errorf("ParseDiscinfo(CRLF) = %+v, %v", d, err)
	}
}

// The media's own name for itself is one the CLI would take: it starts with
// a letter or digit and has at most 63 characters (FuzzDetect found "-").
func TestNameIsACLIName(t *testing.T) {
	for _, tt := range []struct {
		in   Info
		want string
	}{
		{Info{Arch: "-"}, ""},
		{Info{Arch: ".."}, ""}, // serve --iso would import distro and profile ".."
		{Info{Short: "..", Arch: "."}, ""},
		{Info{Short: "..", Version: "9.6", Arch: "x86_64"}, "9.6-x86_64"},
		{Info{Family: "_Rocky Linux", Version: "9.6", Arch: "x86_64"}, "rocky-9.6-x86_64"},
		{Info{Short: strings.Repeat("a", 100), Arch: "x86_64"}, strings.Repeat("a", 63)},
	} {
		if got := tt.in.Name(); got != tt.want {
			t.Errorf("%+v.Name() = %q, want %q", tt.in, got, tt.want)
		}
	}
}
