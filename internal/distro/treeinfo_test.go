package distro

import (
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
platforms = x86_64,xen

[images-x86_64]
kernel = images/pxeboot/vmlinuz
initrd = images/pxeboot/initrd.img
efiboot.img = images/efiboot.img

[stage2]
mainimage = images/install.img
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

func TestParseTreeinfo(t *testing.T) {
	tests := []struct {
		name, in string
		want     Info
	}{
		{"rocky9", rocky9, Info{"Rocky Linux", "Rocky", "9.6", "x86_64", "images/pxeboot/vmlinuz", "images/pxeboot/initrd.img", "images/install.img"}},
		{"legacy", legacy, Info{"CentOS", "", "7", "x86_64", "images/pxeboot/vmlinuz", "images/pxeboot/initrd.img", "LiveOS/squashfs.img"}},
		{"fedora", fedora, Info{"Fedora", "Fedora", "41", "x86_64", "images/pxeboot/vmlinuz", "images/pxeboot/initrd.img", "images/install.img"}},
	}
	for _, tt := range tests {
		got, err := ParseTreeinfo(strings.NewReader(tt.in))
		if err != nil || got != tt.want {
			t.Errorf("%s: got %+v, %v; want %+v", tt.name, got, err, tt.want)
		}
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
	for _, s := range []string{rocky9, legacy, fedora, "", "[x]\na=b\n"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		_, _ = ParseTreeinfo(strings.NewReader(s))
	})
}
