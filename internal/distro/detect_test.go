package distro

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"testing/fstest"
)

func TestDetectDiscinfoFallback(t *testing.T) {
	noArch := "[header]\ntype = productmd.treeinfo\nversion = 1.2\n[release]\nname = Rocky Linux\nshort = Rocky\nversion = 9.6\n" +
		"[images-aarch64]\nkernel = images/pxeboot/vmlinuz\ninitrd = images/pxeboot/initrd.img\n"
	withDisc := tree(pxeKernel, pxeInitrd)
	withDisc[".treeinfo"] = &fstest.MapFile{Data: []byte(noArch)}
	withDisc[".discinfo"] = &fstest.MapFile{Data: []byte("1748000000.1\n9.6\naarch64\nALL\n")}
	in, err := Detect(withDisc)
	if err != nil || in.Arch != "aarch64" || in.Kernel != pxeKernel || in.Timestamp != "1748000000.1" || in.Name() != "rocky-9.6-aarch64" {
		t.Errorf("Detect(.treeinfo without arch, .discinfo) = %+v, %v", in, err)
	}

	delete(withDisc, ".discinfo")
	if _, err := Detect(withDisc); err == nil || !strings.Contains(err.Error(), "no architecture") {
		t.Errorf("Detect(.treeinfo without arch, no .discinfo) error = %v", err)
	}

	discOnly := tree(pxeKernel, pxeInitrd)
	discOnly[".discinfo"] = &fstest.MapFile{Data: []byte("1380159378.77\nRed Hat Enterprise Linux 6.5\nx86_64\n1\n")}
	in, err = Detect(discOnly)
	if err != nil || in.Family != "Red Hat Enterprise Linux" || in.Version != "6.5" || in.Arch != "x86_64" || in.Name() != "red-6.5-x86_64" {
		t.Errorf("Detect(.discinfo only) = %+v, %v", in, err)
	}
}

func TestDetectVariantPaths(t *testing.T) {
	withRepo := func(repo string) fstest.MapFS {
		m := tree(pxeKernel, pxeInitrd, stage2Path)
		m[".treeinfo"] = &fstest.MapFile{Data: []byte(strings.Replace(rocky9, "repository = BaseOS", "repository = "+repo, 1))}
		return m
	}
	in, err := Detect(withRepo("/BaseOS/"))
	if err != nil || in.Variants[0].Repository != "BaseOS" {
		t.Errorf("Detect(repository = /BaseOS/) = %+v, %v; want it cleaned to BaseOS", in.Variants, err)
	}
	if _, err := Detect(withRepo("../../srv")); err == nil || !strings.Contains(err.Error(), "outside") {
		t.Errorf("Detect(repository = ../../srv) error = %v", err)
	}
}

func TestDetectNoTree(t *testing.T) {
	_, err := Detect(tree("README.txt"))
	if !errors.Is(err, ErrNoTree) || !strings.Contains(err.Error(), "no .treeinfo and no images/pxeboot/vmlinuz") {
		t.Errorf("Detect(no tree) = %v", err)
	}
	file := filepath.Join(t.TempDir(), "x.iso")
	os.WriteFile(file, nil, 0o644)
	if _, err := DetectDir(file); err == nil || !strings.Contains(err.Error(), "use DetectISO") {
		t.Errorf("DetectDir(file) = %v", err)
	}
}
