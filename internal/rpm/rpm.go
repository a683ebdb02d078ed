// Package rpm reads files out of RPM packages without rpm: the lead, the
// signature and main headers, and the compressed cpio payload (gzip, xz or
// zstd), checking the digests the headers record. It exists so that
// kickstand can take boot loaders from the packages on a distro's media;
// it trusts nothing in the file: every count, size and offset is checked
// before use, names that would leave the package's root are refused, and
// decompression is bounded.
package rpm

import (
	"bufio"
	"crypto/md5"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"hash"
	"io"
	"strings"
)

// Errors Extract wraps; test them with errors.Is.
var (
	// ErrNotRPM means the file does not start with an RPM lead.
	ErrNotRPM = errors.New("not an RPM package")
	// ErrTruncated means the file ends before what its headers describe.
	ErrTruncated = errors.New("RPM package is truncated")
	// ErrCorrupt means the package's structure is damaged or hostile.
	ErrCorrupt = errors.New("corrupt RPM package")
	// ErrTooLarge means a header, the payload or a file is over its limit.
	ErrTooLarge = errors.New("RPM package exceeds a limit")
	// ErrDigest means a digest the package records does not match.
	ErrDigest = errors.New("RPM digest mismatch")
	// ErrUnverified means the package records no digest that covers the
	// files asked for, so they are not returned.
	ErrUnverified = errors.New("RPM package has no digest covering its payload")
	// ErrUnsupported means a payload format or compressor this reader
	// does not decode (bzip2, lzma, rpm's stripped cpio for huge files).
	ErrUnsupported = errors.New("unsupported RPM payload")
)

// Limits bound what reading one package may cost. Zero fields take the
// defaults; the defaults are far above any boot loader package.
type Limits struct {
	// MaxHeader is the largest signature or main header (index and data),
	// default 32 MiB.
	MaxHeader int
	// MaxCompressed is the most payload bytes read from the file, default 1 GiB.
	MaxCompressed int64
	// MaxArchive is the most decompressed cpio bytes read, default 512 MiB:
	// the cap on a decompression bomb.
	MaxArchive int64
	// MaxFile is the largest file returned, default 64 MiB.
	MaxFile int64
	// MaxWindow is the largest xz dictionary or zstd window accepted,
	// default 64 MiB (xz -9 and zstd -19 use at most that).
	MaxWindow int
}

func (l Limits) withDefaults() Limits {
	if l.MaxHeader <= 0 {
		l.MaxHeader = 32 << 20
	}
	if l.MaxCompressed <= 0 {
		l.MaxCompressed = 1 << 30
	}
	if l.MaxArchive <= 0 {
		l.MaxArchive = 512 << 20
	}
	if l.MaxFile <= 0 {
		l.MaxFile = 64 << 20
	}
	if l.MaxWindow <= 0 {
		l.MaxWindow = 64 << 20
	}
	return l
}

// maxTags bounds a header's index: rpm itself refuses more (HEADER_TAGS_MAX).
const maxTags = 0xffff

// Info is what a package is.
type Info struct {
	Name, Version, Release, Arch string
	// Digest names the package's content, for caches: the payload digest
	// its header records ("payload:HEX"), or what stands in for it in
	// older packages ("md5:HEX", "header:HEX").
	Digest string
}

// NEVRA is the package's name-version-release.arch.
func (i Info) NEVRA() string {
	return fmt.Sprintf("%s-%s-%s.%s", i.Name, i.Version, i.Release, i.Arch)
}

// Package is what Extract read from a package.
type Package struct {
	Info
	// Compressor is the payload's compression: gzip, xz or zstd.
	Compressor string
	// Files are the files asked for, by their path in the package
	// ("/tftpboot/pxelinux.0").
	Files map[string][]byte
	// Verified says which digests were checked, for people:
	// "payload sha256, header sha256, file digests sha256".
	Verified string
}

// Tags used here (rpm's rpmTag and rpmSigTag values).
const (
	sigSHA256        = 273
	sigMD5           = 1004
	tagName          = 1000
	tagVersion       = 1001
	tagRelease       = 1002
	tagArch          = 1022
	tagFileDigests   = 1035
	tagDirIndexes    = 1116
	tagBaseNames     = 1117
	tagDirNames      = 1118
	tagPayloadFormat = 1124
	tagCompressor    = 1125
	tagFileDigestAlg = 5011
	tagPayloadDigest = 5092
	tagPayloadAlgo   = 5093
)

// Digest algorithms, as numbered in the headers (OpenPGP's hash IDs).
var digestAlgos = map[uint64]struct {
	name string
	new  func() hash.Hash
}{
	1: {"md5", md5.New},
	8: {"sha256", sha256.New},
}

// Extract reads the package from r and returns the regular files whose
// path want accepts, once the payload's digest has been checked: the
// header's PAYLOADDIGEST of the compressed payload when it has one (rpm
// 4.14 and later, every RHEL 8+ package), else the signature's MD5 of
// header and payload, else the signature's SHA256 of the header together
// with the per-file digests that header records. The header's SHA256 and
// each returned file's digest are checked whenever recorded. Nothing is
// returned unless digests covering the files matched. Vendor signatures
// (GPG) are not checked.
func Extract(r io.Reader, want func(path string) bool, lim Limits) (*Package, error) {
	lim = lim.withDefaults()
	sig, h, err := readHeaders(r, lim)
	if err != nil {
		return nil, err
	}
	pkg := &Package{Info: info(sig, h), Files: map[string][]byte{}}
	if f := h.string(tagPayloadFormat); f != "" && f != "cpio" {
		return nil, fmt.Errorf("%w: payload format %q (only cpio)", ErrUnsupported, f)
	}
	var verified []string
	headerOK, err := checkHeaderDigest(sig, h)
	if err != nil {
		return nil, err
	}
	if headerOK != "" {
		verified = append(verified, headerOK)
	}

	payload, err := newPayloadCheck(sig, h)
	if err != nil {
		return nil, err
	}
	limited := &boundedReader{r: r, left: lim.MaxCompressed, what: "payload"}
	raw := bufio.NewReaderSize(io.TeeReader(limited, payload.hash), 64<<10)
	archive, compressor, err := decompress(raw, h.string(tagCompressor), lim)
	if err != nil {
		return nil, err
	}
	defer archive.Close()
	pkg.Compressor = compressor
	if err := readArchive(archive, want, lim, pkg.Files); err != nil {
		return nil, err
	}
	// The digest covers every payload byte: read the rest through it.
	if _, err := io.Copy(io.Discard, raw); err != nil {
		return nil, truncated("payload", err)
	}
	if payload.name != "" {
		if got := hex.EncodeToString(payload.hash.Sum(nil)); got != payload.want {
			return nil, fmt.Errorf("%w: %s of the payload is %s, the package records %s", ErrDigest, payload.name, got, payload.want)
		}
		verified = append(verified, payload.name)
	}
	filesOK, err := checkFileDigests(h, pkg.Files)
	if err != nil {
		return nil, err
	}
	if filesOK != "" {
		verified = append(verified, filesOK)
	}
	// The files are covered by a payload digest, or by file digests in a
	// header whose own digest matched.
	if payload.name == "" && (headerOK == "" || filesOK == "") {
		return nil, fmt.Errorf("%s: %w", pkg.NEVRA(), ErrUnverified)
	}
	pkg.Verified = strings.Join(verified, ", ")
	return pkg, nil
}

// Identify reads the package's lead and headers only: what it is, and the
// digest that names its content.
func Identify(r io.Reader, lim Limits) (Info, error) {
	sig, h, err := readHeaders(r, lim.withDefaults())
	if err != nil {
		return Info{}, err
	}
	return info(sig, h), nil
}

func readHeaders(r io.Reader, lim Limits) (sig, h *header, err error) {
	if err := readLead(r); err != nil {
		return nil, nil, err
	}
	if sig, err = readHeader(r, lim.MaxHeader); err != nil {
		return nil, nil, fmt.Errorf("signature: %w", err)
	}
	// The signature header is padded to 8 bytes.
	if pad := (8 - len(sig.store)%8) % 8; pad > 0 {
		if _, err := io.ReadFull(r, make([]byte, pad)); err != nil {
			return nil, nil, truncated("signature padding", err)
		}
	}
	if h, err = readHeader(r, lim.MaxHeader); err != nil {
		return nil, nil, fmt.Errorf("header: %w", err)
	}
	return sig, h, nil
}

// info names the package, and its content by the strongest digest it
// records: the payload's, else the signature's MD5 of header and payload,
// else the header's own.
func info(sig, h *header) Info {
	i := Info{Name: h.string(tagName), Version: h.string(tagVersion), Release: h.string(tagRelease), Arch: h.string(tagArch)}
	if d := h.strings(tagPayloadDigest); len(d) > 0 {
		i.Digest = "payload:" + strings.ToLower(d[0])
	} else if sum := sig.bytes(sigMD5); len(sum) > 0 {
		i.Digest = "md5:" + hex.EncodeToString(sum)
	} else {
		sum := sha256.Sum256(h.raw)
		i.Digest = "header:" + hex.EncodeToString(sum[:])
	}
	return i
}

func readLead(r io.Reader) error {
	var lead [96]byte
	n, err := io.ReadFull(r, lead[:])
	if n < 4 || lead[0] != 0xed || lead[1] != 0xab || lead[2] != 0xee || lead[3] != 0xdb {
		return ErrNotRPM
	}
	if err != nil {
		return truncated("lead", err)
	}
	// Signature type 5: a header-style signature, the only one since rpm 3.
	if sigType := binary.BigEndian.Uint16(lead[78:80]); sigType != 5 {
		return fmt.Errorf("%w: lead's signature type %d (only 5)", ErrUnsupported, sigType)
	}
	return nil
}

// checkHeaderDigest checks the signature's SHA256 of the main header,
// returning what it checked ("" when there is none).
func checkHeaderDigest(sig, h *header) (string, error) {
	want := strings.ToLower(sig.string(sigSHA256))
	if want == "" {
		return "", nil
	}
	sum := sha256.Sum256(h.raw)
	if got := hex.EncodeToString(sum[:]); got != want {
		return "", fmt.Errorf("%w: header sha256 is %s, the signature records %s", ErrDigest, got, want)
	}
	return "header sha256", nil
}

// payloadCheck is the digest the payload is read through.
type payloadCheck struct {
	name string // "" when there is none
	want string // lower-case hex
	hash hash.Hash
}

func newPayloadCheck(sig, h *header) (payloadCheck, error) {
	if digests := h.strings(tagPayloadDigest); len(digests) > 0 {
		algo, ok := h.int(tagPayloadAlgo)
		if !ok {
			algo = 8 // rpm writes SHA256 when it records no algorithm
		}
		a, known := digestAlgos[algo]
		if !known {
			return payloadCheck{}, fmt.Errorf("%w: payload digest algorithm %d", ErrUnsupported, algo)
		}
		return payloadCheck{name: "payload " + a.name, want: strings.ToLower(digests[0]), hash: a.new()}, nil
	}
	if sum := sig.bytes(sigMD5); len(sum) == md5.Size {
		// Older packages: MD5 over header and payload together.
		m := md5.New()
		m.Write(h.raw)
		return payloadCheck{name: "header+payload md5", want: hex.EncodeToString(sum), hash: m}, nil
	}
	return payloadCheck{hash: discardHash{}}, nil
}

// checkFileDigests checks each extracted file against the header's
// FILEDIGESTS, returning what it checked ("" when the header has none for
// some file).
func checkFileDigests(h *header, files map[string][]byte) (string, error) {
	digests, dirs, bases, idx := h.strings(tagFileDigests), h.strings(tagDirNames), h.strings(tagBaseNames), h.ints(tagDirIndexes)
	if len(files) == 0 || len(digests) != len(bases) || len(idx) != len(bases) {
		return "", nil
	}
	algo, ok := h.int(tagFileDigestAlg)
	if !ok {
		algo = 1 // MD5 in packages that do not say
	}
	a, known := digestAlgos[algo]
	if !known {
		return "", nil
	}
	byPath := make(map[string]string, len(bases))
	for i, base := range bases {
		if idx[i] < uint64(len(dirs)) {
			byPath[dirs[idx[i]]+base] = strings.ToLower(digests[i])
		}
	}
	// Every file with a digest is checked; only if all have one do the
	// digests cover the files.
	covered := true
	for path, content := range files {
		want := byPath[path]
		if want == "" {
			covered = false
			continue
		}
		sum := a.new()
		sum.Write(content)
		if got := hex.EncodeToString(sum.Sum(nil)); got != want {
			return "", fmt.Errorf("%w: %s of %s is %s, the header records %s", ErrDigest, a.name, path, got, want)
		}
	}
	if !covered {
		return "", nil
	}
	return "file digests " + a.name, nil
}

func truncated(what string, err error) error {
	if errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) {
		return fmt.Errorf("%w: %s", ErrTruncated, what)
	}
	return fmt.Errorf("%s: %w", what, err)
}

type countingReader struct {
	r io.Reader
	n int64
}

func (c *countingReader) Read(p []byte) (int, error) {
	n, err := c.r.Read(p)
	c.n += int64(n)
	return n, err
}

// discardHash stands in when there is no payload digest.
type discardHash struct{}

func (discardHash) Write(p []byte) (int, error) { return len(p), nil }
func (discardHash) Sum(b []byte) []byte         { return b }
func (discardHash) Reset()                      {}
func (discardHash) Size() int                   { return 0 }
func (discardHash) BlockSize() int              { return 1 }
