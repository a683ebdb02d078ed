package rpm

import (
	"bytes"
	"crypto/rand"
	"encoding/binary"
	"errors"
	"hash/crc32"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/ulikunitz/xz"
)

// lookRPM finds one of rpm's tools (Debian's package rpm), skipping the
// test without it, except in CI, which installs it (scripts/deps.sh).
func lookRPM(t *testing.T, name string) string {
	t.Helper()
	p, err := exec.LookPath(name)
	if err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatalf("%s not installed: scripts/deps.sh installs the rpm package", name)
		}
		t.Skipf("%s not installed (apt-get install rpm)", name)
	}
	return p
}

func runTool(t *testing.T, name string, args ...string) string {
	t.Helper()
	out, err := exec.Command(name, args...).CombinedOutput()
	if err != nil {
		t.Fatalf("%s %s: %v\n%s", name, strings.Join(args, " "), err, out)
	}
	return string(out)
}

func writeTemp(t *testing.T, b []byte) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "x.rpm")
	if err := os.WriteFile(p, b, 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

// TestRPMBuildPackages reads packages made by rpmbuild with each payload
// compression RHEL uses or used: zstd (9), xz (7, 8), gzip.
func TestRPMBuildPackages(t *testing.T) {
	rpmbuild := lookRPM(t, "rpmbuild")
	dir := t.TempDir()
	big := make([]byte, 300_000)
	rand.Read(big)
	if err := os.WriteFile(filepath.Join(dir, "big.bin"), big, 0o644); err != nil {
		t.Fatal(err)
	}
	spec := filepath.Join(dir, "loaders.spec")
	os.WriteFile(spec, []byte(`Name: loaders
Version: 6.04
Release: 0.20.el9
Summary: test
License: GPLv2
BuildArch: noarch
%description
test
%install
mkdir -p %{buildroot}/tftpboot %{buildroot}/usr/share/doc
printf pxelinux > %{buildroot}/tftpboot/pxelinux.0
cp `+filepath.Join(dir, "big.bin")+` %{buildroot}/tftpboot/ldlinux.c32
ln -s pxelinux.0 %{buildroot}/tftpboot/link.0
printf doc > %{buildroot}/usr/share/doc/README
%files
/tftpboot
/usr/share/doc/README
`), 0o644)
	for _, c := range []struct{ macro, name string }{{"w19.zstdio", "zstd"}, {"w2.xzdio", "xz"}, {"w9.gzdio", "gzip"}} {
		t.Run(c.name, func(t *testing.T) {
			top := filepath.Join(dir, c.name)
			runTool(t, rpmbuild, "-bb", "--define", "_topdir "+top, "--define", "_binary_payload "+c.macro, spec)
			f, err := os.Open(filepath.Join(top, "RPMS/noarch/loaders-6.04-0.20.el9.noarch.rpm"))
			if err != nil {
				t.Fatal(err)
			}
			defer f.Close()
			info, err := Identify(f, Limits{})
			if err != nil || info.NEVRA() != "loaders-6.04-0.20.el9.noarch" || !strings.HasPrefix(info.Digest, "payload:") || len(info.Digest) != len("payload:")+64 {
				t.Fatalf("identify: %+v, %v", info, err)
			}
			f.Seek(0, io.SeekStart)
			pkg, err := Extract(f, wantTFTPBoot, Limits{})
			if err != nil {
				t.Fatal(err)
			}
			if pkg.Info != info {
				t.Errorf("extract says %+v, identify %+v", pkg.Info, info)
			}
			if pkg.NEVRA() != "loaders-6.04-0.20.el9.noarch" || pkg.Compressor != c.name {
				t.Errorf("got %s compressed with %s", pkg.NEVRA(), pkg.Compressor)
			}
			if len(pkg.Files) != 2 || string(pkg.Files["/tftpboot/pxelinux.0"]) != "pxelinux" || !bytes.Equal(pkg.Files["/tftpboot/ldlinux.c32"], big) {
				t.Errorf("files: %d, pxelinux.0 %q, ldlinux.c32 %d bytes", len(pkg.Files), pkg.Files["/tftpboot/pxelinux.0"], len(pkg.Files["/tftpboot/ldlinux.c32"]))
			}
			if want := "header sha256, payload sha256, file digests sha256"; pkg.Verified != want {
				t.Errorf("verified %q, want %q", pkg.Verified, want)
			}
		})
	}
}

func TestExtractCompressors(t *testing.T) {
	for _, c := range []struct {
		name     string
		compress func([]byte) []byte
	}{{"gzip", gzipped}, {"xz", xzed}, {"zstd", zstded}, {"xz", xzBlocks}} {
		t.Run(c.name, func(t *testing.T) {
			pkg, err := Extract(bytes.NewReader(fakeRPM{files: loaderFiles, compress: c.compress, compressor: c.name}.build()), wantTFTPBoot, Limits{})
			if err != nil {
				t.Fatal(err)
			}
			if len(pkg.Files) != 2 || !bytes.Equal(pkg.Files["/tftpboot/ldlinux.c32"], loaderFiles[2].data) {
				t.Errorf("got %d files", len(pkg.Files))
			}
		})
	}
}

// TestExtractVerified checks which digests vouch for the files, and that
// a package with none that covers them is refused.
func TestExtractVerified(t *testing.T) {
	for _, c := range []struct {
		name string
		pkg  fakeRPM
		want string
		err  error
	}{
		{"all", fakeRPM{}, "header sha256, payload sha256, file digests sha256", nil},
		{"md5 signature only (rpm before 4.14)", fakeRPM{noPayloadDigest: true, noHeaderDigest: true, noFileDigests: true, md5Sig: true}, "header+payload md5", nil},
		{"header and file digests", fakeRPM{noPayloadDigest: true}, "header sha256, file digests sha256", nil},
		{"file digests in an unverified header", fakeRPM{noPayloadDigest: true, noHeaderDigest: true}, "", ErrUnverified},
		{"none", fakeRPM{noPayloadDigest: true, noHeaderDigest: true, noFileDigests: true}, "", ErrUnverified},
	} {
		t.Run(c.name, func(t *testing.T) {
			c.pkg.files = loaderFiles
			pkg, err := Extract(bytes.NewReader(c.pkg.build()), wantTFTPBoot, Limits{})
			if !errors.Is(err, c.err) {
				t.Fatalf("err %v, want %v", err, c.err)
			}
			if err == nil && pkg.Verified != c.want {
				t.Errorf("verified %q, want %q", pkg.Verified, c.want)
			}
		})
	}
}

// xzBlocks compresses into xz blocks of 1 KiB of input each, as
// multithreaded xz does (in larger blocks), with SHA256 block checks.
func xzBlocks(b []byte) []byte {
	var out bytes.Buffer
	w, err := xz.WriterConfig{BlockSize: 1024, CheckSum: xz.SHA256}.NewWriter(&out)
	if err != nil {
		panic(err)
	}
	w.Write(b)
	w.Close()
	return out.Bytes()
}

// xzWithDict is an xz stream whose one block asks for a dictionary of
// 2^(bits/2+12) bytes, with correct checksums.
func xzWithDict(bits byte) []byte {
	out := append([]byte{}, xzMagic...)
	out = append(out, 0, 1)
	out = binary.LittleEndian.AppendUint32(out, crc32.ChecksumIEEE([]byte{0, 1}))
	block := []byte{2, 0, 0x21, 1, bits, 0, 0, 0}
	block = binary.LittleEndian.AppendUint32(block, crc32.ChecksumIEEE(block))
	return append(append(out, block...), 0x00) // an LZMA2 end marker: no data
}

func TestHostile(t *testing.T) {
	valid := fakeRPM{files: loaderFiles}.build()
	mainHeaderAt := 96 + 8*((len(encodeHeader(62, []tagValue{str(sigSHA256, strings.Repeat("0", 64)), int32s(1000, 0)}))+7)/8)
	patched := func(at int, b ...byte) []byte {
		out := bytes.Clone(valid)
		copy(out[at:], b)
		return out
	}
	replace := func(tag uint32, v tagValue) func([]tagValue) []tagValue {
		return func(tags []tagValue) []tagValue {
			for i := range tags {
				if tags[i].tag == tag {
					tags[i] = v
				}
			}
			return tags
		}
	}
	big := bytes.Repeat([]byte{0}, 2<<20)
	for _, c := range []struct {
		name string
		data []byte
		lim  Limits
		err  error
	}{
		{"empty", nil, Limits{}, ErrNotRPM},
		{"not an rpm", bytes.Repeat([]byte("x"), 200), Limits{}, ErrNotRPM},
		{"lead only", valid[:96], Limits{}, ErrTruncated},
		{"header cut short", valid[:mainHeaderAt+40], Limits{}, ErrTruncated},
		{"payload cut short", valid[:len(valid)-20], Limits{}, nil}, // gzip or digest: any error
		{"index count 2^32-1", patched(mainHeaderAt+8, 0xff, 0xff, 0xff, 0xff), Limits{}, ErrTooLarge},
		{"store size 2^32-1", patched(mainHeaderAt+12, 0xff, 0xff, 0xff, 0xff), Limits{}, ErrTooLarge},
		{"header over the limit", valid, Limits{MaxHeader: 64}, ErrTooLarge},
		{"offset past the store", patched(mainHeaderAt+16+8, 0x7f, 0xff, 0xff, 0xff), Limits{}, ErrCorrupt},
		{"count past the store", patched(mainHeaderAt+16+12, 0x7f, 0xff, 0xff, 0xff), Limits{}, ErrCorrupt},
		{"int32 count past the store", fakeRPM{files: loaderFiles, edit: replace(tagPayloadAlgo,
			tagValue{tag: tagPayloadAlgo, typ: typeInt32, count: 0x40000000, data: []byte{0, 0, 0, 8}})}.build(), Limits{}, ErrCorrupt},
		{"string without its NUL", append(bytes.Clone(valid[:96]), // a header of one string, "summary" unterminated
			0x8e, 0xad, 0xe8, 0x01, 0, 0, 0, 0, 0, 0, 0, 1, 0, 0, 0, 7, 0, 0, 0x03, 0xe8, 0, 0, 0, 6, 0, 0, 0, 0, 0, 0, 0, 1,
			's', 'u', 'm', 'm', 'a', 'r', 'y'), Limits{}, ErrCorrupt},
		{"unknown tag type", fakeRPM{files: loaderFiles, edit: func(tags []tagValue) []tagValue {
			return append(tags, tagValue{tag: 1004, typ: 77, count: 1, data: []byte{1}})
		}}.build(), Limits{}, ErrCorrupt},
		{"path with ..", fakeRPM{files: []fakeFile{{"./tftpboot/../../etc/passwd", 0o100644, []byte("x")}}}.build(), Limits{}, ErrCorrupt},
		{"absolute path", fakeRPM{files: []fakeFile{{"/etc/passwd", 0o100644, []byte("x")}}}.build(), Limits{}, ErrCorrupt},
		{"path ..", fakeRPM{files: []fakeFile{{"..", 0o40755, nil}}}.build(), Limits{}, ErrCorrupt},
		{"payload digest wrong", fakeRPM{files: loaderFiles, edit: replace(tagPayloadDigest, strs(tagPayloadDigest, strings.Repeat("ab", 32)))}.build(), Limits{}, ErrDigest},
		{"header changed after signing", patched(bytes.Index(valid, []byte("loaders\x00")), 'L'), Limits{}, ErrDigest},
		{"payload swapped", fakeRPM{files: loaderFiles, payload: func([]byte) []byte {
			return gzipped(cpioArchive([]fakeFile{{"./tftpboot/pxelinux.0", 0o100644, []byte("evil")}}))
		}}.build(), Limits{}, ErrDigest},
		{"file digest wrong", fakeRPM{files: loaderFiles, edit: replace(tagFileDigests, strs(tagFileDigests, "", strings.Repeat("00", 32), "", ""))}.build(), Limits{}, ErrDigest},
		{"compressor tag lies", fakeRPM{files: loaderFiles, compressor: "xz", compress: gzipped}.build(), Limits{}, ErrCorrupt},
		{"bzip2 payload", fakeRPM{files: loaderFiles, compressor: "bzip2", compress: func(b []byte) []byte { return append([]byte("BZh9"), b...) }}.build(), Limits{}, ErrUnsupported},
		{"stripped cpio", fakeRPM{compress: func([]byte) []byte { return gzipped([]byte("07070X" + strings.Repeat("0", 200))) }}.build(), Limits{}, ErrUnsupported},
		{"cpio entry claiming 4 GiB", fakeRPM{compress: func([]byte) []byte {
			return gzipped([]byte("070701" + strings.Repeat("0", 6*8) + "ffffffff" + strings.Repeat("0", 4*8) + "00000006" + "00000000" + "./big\x00"))
		}}.build(), Limits{}, ErrTruncated},
		{"payload digest algorithm unknown", fakeRPM{files: loaderFiles, edit: replace(tagPayloadAlgo, int32s(tagPayloadAlgo, 99))}.build(), Limits{}, ErrUnsupported},
		{"cpio name of 1 GiB", fakeRPM{compress: func([]byte) []byte {
			return gzipped([]byte("070701" + strings.Repeat("0", 11*8) + "40000000" + "00000000"))
		}}.build(), Limits{}, ErrCorrupt},
		{"decompression bomb", fakeRPM{files: []fakeFile{{"./tftpboot/zeros", 0o100644, big}}}.build(), Limits{MaxArchive: 1 << 20}, ErrTooLarge},
		{"bomb in a file not asked for", fakeRPM{files: []fakeFile{{"./usr/zeros", 0o100644, big}}}.build(), Limits{MaxArchive: 1 << 20}, ErrTooLarge},
		{"file over the limit", fakeRPM{files: []fakeFile{{"./tftpboot/zeros", 0o100644, big}}}.build(), Limits{MaxFile: 1 << 20}, ErrTooLarge},
		{"payload over the limit", valid, Limits{MaxCompressed: 16}, ErrTooLarge},
		{"xz dictionary of 4 GiB", fakeRPM{compressor: "xz", compress: func([]byte) []byte { return xzWithDict(40) }}.build(), Limits{}, ErrTooLarge},
		{"xz dictionary of 1.5 GiB", fakeRPM{compressor: "xz", compress: func([]byte) []byte { return xzWithDict(39) }}.build(), Limits{}, ErrTooLarge},
		{"xz dictionary over a small limit", fakeRPM{files: loaderFiles, compressor: "xz", compress: xzed}.build(), Limits{MaxWindow: 4096}, ErrTooLarge},
		{"zstd window over a small limit", fakeRPM{files: []fakeFile{{"./tftpboot/zeros", 0o100644, big}}, compressor: "zstd", compress: zstded}.build(),
			Limits{MaxWindow: 1 << 16}, nil},
	} {
		t.Run(c.name, func(t *testing.T) {
			pkg, err := Extract(bytes.NewReader(c.data), wantTFTPBoot, c.lim)
			if err == nil {
				t.Fatalf("accepted, with %d files", len(pkg.Files))
			}
			if c.err != nil && !errors.Is(err, c.err) {
				t.Errorf("err %v, want %v", err, c.err)
			}
		})
	}
}

// TestTruncatedAnywhere cuts a valid package at every length: each is
// refused, none crashes.
func TestTruncatedAnywhere(t *testing.T) {
	for _, compress := range []func([]byte) []byte{gzipped, xzed, zstded} {
		valid := fakeRPM{files: loaderFiles, compress: compress}.build()
		for n := range len(valid) {
			if pkg, err := Extract(bytes.NewReader(valid[:n]), wantTFTPBoot, Limits{}); err == nil {
				t.Fatalf("%d of %d bytes accepted, with %d files", n, len(valid), len(pkg.Files))
			}
		}
	}
}

// TestFileDigestsAllChecked: a file whose digest is wrong is refused even
// when another file asked for has none (map order must not matter).
func TestFileDigestsAllChecked(t *testing.T) {
	data := fakeRPM{files: loaderFiles, edit: func(tags []tagValue) []tagValue {
		for i := range tags {
			if tags[i].tag == tagFileDigests {
				tags[i] = strs(tagFileDigests, "", strings.Repeat("00", 32), "", "")
			}
		}
		return tags
	}}.build()
	for range 20 {
		if _, err := Extract(bytes.NewReader(data), wantTFTPBoot, Limits{}); !errors.Is(err, ErrDigest) {
			t.Fatalf("err %v, want %v", err, ErrDigest)
		}
	}
}
