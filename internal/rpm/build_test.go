package rpm

import (
	"bytes"
	"compress/gzip"
	"crypto/md5"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"fmt"
	"path"
	"testing"

	"github.com/klauspost/compress/zstd"
	"github.com/ulikunitz/xz"
)

// A small RPM writer for tests: enough of the format to make packages
// that are valid, and each way of making them hostile.

type tagValue struct {
	tag, typ, count uint32
	data            []byte
}

func str(tag uint32, s string) tagValue {
	return tagValue{tag: tag, typ: typeString, count: 1, data: append([]byte(s), 0)}
}

func strs(tag uint32, ss ...string) tagValue {
	var b []byte
	for _, s := range ss {
		b = append(append(b, s...), 0)
	}
	return tagValue{tag: tag, typ: typeStringArray, count: uint32(len(ss)), data: b}
}

func int32s(tag uint32, vs ...uint32) tagValue {
	b := make([]byte, 4*len(vs))
	for i, v := range vs {
		binary.BigEndian.PutUint32(b[i*4:], v)
	}
	return tagValue{tag: tag, typ: typeInt32, count: uint32(len(vs)), data: b}
}

func bin(tag uint32, b []byte) tagValue {
	return tagValue{tag: tag, typ: typeBin, count: uint32(len(b)), data: b}
}

// encodeHeader lays out a header structure: preamble, index, store (ints
// aligned as rpm aligns them), as one region (rpm's immutable header,
// region tag 63; 62 in a signature) as rpm writes it.
func encodeHeader(region uint32, tags []tagValue) []byte {
	var store, index []byte
	entry := func(tag, typ, offset, count uint32) {
		index = binary.BigEndian.AppendUint32(index, tag)
		index = binary.BigEndian.AppendUint32(index, typ)
		index = binary.BigEndian.AppendUint32(index, offset)
		index = binary.BigEndian.AppendUint32(index, count)
	}
	for _, t := range tags {
		align := map[uint32]int{typeInt16: 2, typeInt32: 4, typeInt64: 8}[t.typ]
		for align > 0 && len(store)%align != 0 {
			store = append(store, 0)
		}
		entry(t.tag, t.typ, uint32(len(store)), t.count)
		store = append(store, t.data...)
	}
	// The region's entry comes first and points at its trailer, at the
	// end of the store, whose offset is minus the index's size.
	regionIndex := index
	index = nil
	entry(region, typeBin, uint32(len(store)), 16)
	index = append(index, regionIndex...)
	trailer := index[len(index):]
	trailer = binary.BigEndian.AppendUint32(trailer, region)
	trailer = binary.BigEndian.AppendUint32(trailer, typeBin)
	trailer = binary.BigEndian.AppendUint32(trailer, uint32(-int32(16*(len(tags)+1))))
	trailer = binary.BigEndian.AppendUint32(trailer, 16)
	store = append(store, trailer...)
	out := append([]byte{}, headerMagic...)
	out = append(out, 0, 0, 0, 0)
	out = binary.BigEndian.AppendUint32(out, uint32(len(tags)+1))
	out = binary.BigEndian.AppendUint32(out, uint32(len(store)))
	return append(append(out, index...), store...)
}

type fakeFile struct {
	name string // as in the archive: "./tftpboot/pxelinux.0"
	mode uint32
	data []byte
}

// cpioArchive writes files as a newc archive with its trailer.
func cpioArchive(files []fakeFile) []byte {
	var b bytes.Buffer
	entry := func(name string, mode uint32, data []byte) {
		fmt.Fprintf(&b, "070701%08x%08x%08x%08x%08x%08x%08x%08x%08x%08x%08x%08x%08x",
			1, mode, 0, 0, 1, 0, len(data), 0, 0, 0, 0, len(name)+1, 0)
		b.WriteString(name)
		b.WriteByte(0)
		for b.Len()%4 != 0 {
			b.WriteByte(0)
		}
		b.Write(data)
		for b.Len()%4 != 0 {
			b.WriteByte(0)
		}
	}
	for _, f := range files {
		entry(f.name, f.mode, f.data)
	}
	entry(cpioTrailer, 0, nil)
	return b.Bytes()
}

func gzipped(b []byte) []byte {
	var out bytes.Buffer
	w := gzip.NewWriter(&out)
	w.Write(b)
	w.Close()
	return out.Bytes()
}

func xzed(b []byte) []byte {
	var out bytes.Buffer
	w, err := xz.NewWriter(&out)
	if err != nil {
		panic(err)
	}
	w.Write(b)
	w.Close()
	return out.Bytes()
}

func zstded(b []byte) []byte {
	w, err := zstd.NewWriter(nil)
	if err != nil {
		panic(err)
	}
	defer w.Close()
	return w.EncodeAll(b, nil)
}

// fakeRPM describes a package to build; its zero value (with files) is a
// gzip package with every digest rpm 4.14+ records.
type fakeRPM struct {
	files                                                  []fakeFile
	compress                                               func([]byte) []byte
	compressor                                             string
	noPayloadDigest, noHeaderDigest, noFileDigests, md5Sig bool
	// edit changes the main header's tags before encoding; editSig the
	// signature's.
	edit    func([]tagValue) []tagValue
	payload func([]byte) []byte // changes the compressed payload after digesting
}

func (f fakeRPM) build() []byte {
	compress, compressor := f.compress, f.compressor
	if compress == nil {
		compress, compressor = gzipped, "gzip"
	}
	payload := compress(cpioArchive(f.files))
	sum := sha256.Sum256(payload)
	var dirs, bases, digests []string
	var dirIdx, sizes []uint32
	var modes []byte
	var users []string
	for _, file := range f.files {
		dir, base := path.Split(path.Join("/", file.name))
		dirs = append(dirs, dir)
		dirIdx = append(dirIdx, uint32(len(dirs)-1))
		bases = append(bases, base)
		d := sha256.Sum256(file.data)
		digests = append(digests, hex.EncodeToString(d[:]))
		sizes = append(sizes, uint32(len(file.data)))
		users = append(users, "root")
		modes = binary.BigEndian.AppendUint16(modes, uint16(file.mode))
	}
	tags := []tagValue{str(tagName, "loaders"), str(tagVersion, "1.0"), str(tagRelease, "1.el9"), str(tagArch, "noarch"),
		str(tagPayloadFormat, "cpio"), str(tagCompressor, compressor)}
	if !f.noFileDigests && len(f.files) > 0 {
		tags = append(tags, strs(tagFileDigests, digests...), int32s(tagDirIndexes, dirIdx...), strs(tagBaseNames, bases...),
			strs(tagDirNames, dirs...), int32s(tagFileDigestAlg, 8), int32s(1028, sizes...),
			tagValue{tag: 1030, typ: typeInt16, count: uint32(len(f.files)), data: modes},
			strs(1039, users...), strs(1040, users...), int32s(1037, make([]uint32, len(f.files))...))
	}
	if !f.noPayloadDigest {
		tags = append(tags, strs(tagPayloadDigest, hex.EncodeToString(sum[:])), int32s(tagPayloadAlgo, 8))
	}
	if f.edit != nil {
		tags = f.edit(tags)
	}
	hdr := encodeHeader(63, tags)
	var sigTags []tagValue
	if !f.noHeaderDigest {
		hs := sha256.Sum256(hdr)
		sigTags = append(sigTags, str(sigSHA256, hex.EncodeToString(hs[:])))
	}
	if f.md5Sig {
		m := md5.New()
		m.Write(hdr)
		m.Write(payload)
		sigTags = append(sigTags, bin(sigMD5, m.Sum(nil)))
	}
	sigTags = append(sigTags, int32s(1000, uint32(len(hdr)+len(payload))))
	sig := encodeHeader(62, sigTags)
	for len(sig)%8 != 0 {
		sig = append(sig, 0)
	}
	if f.payload != nil {
		payload = f.payload(payload)
	}
	lead := make([]byte, 96)
	copy(lead, []byte{0xed, 0xab, 0xee, 0xdb, 3, 0})
	copy(lead[10:], "loaders-1.0-1.el9")
	binary.BigEndian.PutUint16(lead[78:], 5)
	return bytes.Join([][]byte{lead, sig, hdr, payload}, nil)
}

var loaderFiles = []fakeFile{
	{"./tftpboot", 0o40755, nil},
	{"./tftpboot/pxelinux.0", 0o100644, []byte("pxelinux")},
	{"./tftpboot/ldlinux.c32", 0o100644, bytes.Repeat([]byte("ldlinux"), 1000)},
	{"./usr/share/doc/README", 0o100644, []byte("docs")},
}

func wantTFTPBoot(p string) bool { return path.Dir(p) == "/tftpboot" }

// TestFakeRPMIsValid makes sure the writer above writes what rpm reads,
// when rpm is installed: the hostile cases built from it are then real
// packages with one thing wrong.
func TestFakeRPMIsValid(t *testing.T) {
	rpmTool := lookRPM(t, "rpm")
	file := writeTemp(t, fakeRPM{files: loaderFiles}.build())
	out := runTool(t, rpmTool, "-qp", "--nosignature", "--qf", "%{NAME}-%{VERSION}-%{RELEASE}.%{ARCH} %{PAYLOADCOMPRESSOR}\n", "-l", file)
	if want := "loaders-1.0-1.el9.noarch gzip\n/tftpboot\n/tftpboot/pxelinux.0\n/tftpboot/ldlinux.c32\n/usr/share/doc/README\n"; out != want {
		t.Errorf("rpm -qpl says %q, want %q", out, want)
	}
	runTool(t, rpmTool, "-K", "--nosignature", file) // digests check out
}
