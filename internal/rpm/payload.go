package rpm

import (
	"bufio"
	"bytes"
	"compress/gzip"
	"fmt"
	"io"
	"io/fs"
	"path"
	"strconv"
	"strings"

	"github.com/klauspost/compress/zstd"
)

var (
	gzipMagic = []byte{0x1f, 0x8b}
	xzMagic   = []byte{0xfd, '7', 'z', 'X', 'Z', 0x00}
	zstdMagic = []byte{0x28, 0xb5, 0x2f, 0xfd}
)

// decompress returns the cpio archive inside the payload, whose
// compression is told by its magic; the header's PAYLOADCOMPRESSOR, when
// set, must agree.
func decompress(raw *bufio.Reader, tagged string, lim Limits) (io.ReadCloser, string, error) {
	magic, _ := raw.Peek(6)
	var name string
	switch {
	case bytes.HasPrefix(magic, gzipMagic):
		name = "gzip"
	case bytes.HasPrefix(magic, xzMagic):
		name = "xz"
	case bytes.HasPrefix(magic, zstdMagic):
		name = "zstd"
	case len(magic) < 6:
		return nil, "", fmt.Errorf("%w: payload", ErrTruncated)
	default:
		return nil, "", fmt.Errorf("%w: payload compression %q with magic % x (gzip, xz and zstd are read)", ErrUnsupported, tagged, magic)
	}
	if tagged != "" && tagged != name {
		return nil, "", fmt.Errorf("%w: the header says %s, the payload is %s", ErrCorrupt, tagged, name)
	}
	var archive io.ReadCloser
	switch name {
	case "gzip":
		z, err := gzip.NewReader(raw)
		if err != nil {
			return nil, "", fmt.Errorf("%w: gzip payload: %w", ErrCorrupt, err)
		}
		archive = z
	case "xz":
		archive = io.NopCloser(newXZReader(raw, lim.MaxWindow))
	case "zstd":
		z, err := zstd.NewReader(raw, zstd.WithDecoderConcurrency(1), zstd.WithDecoderLowmem(true),
			zstd.WithDecoderMaxWindow(uint64(lim.MaxWindow)), zstd.WithDecoderMaxMemory(uint64(lim.MaxArchive)))
		if err != nil {
			return nil, "", fmt.Errorf("%w: zstd payload: %w", ErrCorrupt, err)
		}
		archive = z.IOReadCloser()
	}
	return &boundedReader{r: archive, left: lim.MaxArchive, what: "decompressed archive"}, name, nil
}

// boundedReader fails, rather than ending quietly, past its limit.
type boundedReader struct {
	r    io.Reader
	left int64
	what string
}

func (b *boundedReader) Close() error {
	if c, ok := b.r.(io.Closer); ok {
		return c.Close()
	}
	return nil
}

func (b *boundedReader) Read(p []byte) (int, error) {
	if b.left <= 0 {
		// At the limit: an end here is fine, one more byte is not.
		var probe [1]byte
		if n, err := b.r.Read(probe[:]); n == 0 && err != nil {
			return 0, err
		}
		return 0, fmt.Errorf("%w: %s over its size limit", ErrTooLarge, b.what)
	}
	if int64(len(p)) > b.left {
		p = p[:b.left]
	}
	n, err := b.r.Read(p)
	b.left -= int64(n)
	return n, err
}

const (
	cpioHeaderLen = 110
	cpioTrailer   = "TRAILER!!!"
	modeTypeMask  = 0o170000
	modeRegular   = 0o100000
	maxNameLen    = 4096 // PATH_MAX
)

// readArchive reads the cpio "newc" archive, keeping the regular files
// want accepts in files under their absolute path. It stops at the
// trailer. A name that is absolute or climbs out with ".." fails the whole
// package: such a package is hostile, whatever else it holds.
func readArchive(r io.Reader, want func(string) bool, lim Limits, files map[string][]byte) error {
	var hdr [cpioHeaderLen]byte
	for {
		if _, err := io.ReadFull(r, hdr[:]); err != nil {
			return truncated("cpio header", err)
		}
		magic := string(hdr[:6])
		if magic == "07070X" {
			return fmt.Errorf("%w: stripped cpio (a package with files over 4 GiB)", ErrUnsupported)
		}
		if magic != "070701" && magic != "070702" {
			return fmt.Errorf("%w: cpio magic %q", ErrCorrupt, magic)
		}
		var field [13]uint64
		for i := range field {
			v, err := strconv.ParseUint(string(hdr[6+i*8:14+i*8]), 16, 32)
			if err != nil {
				return fmt.Errorf("%w: cpio header field %d", ErrCorrupt, i)
			}
			field[i] = v
		}
		mode, size, nameLen := field[1], field[6], field[11]
		if nameLen == 0 || nameLen > maxNameLen {
			return fmt.Errorf("%w: cpio name of %d bytes", ErrCorrupt, nameLen)
		}
		// The name (with its NUL) is padded so that header and name are a
		// multiple of 4 bytes.
		nameBuf := make([]byte, nameLen+pad4(cpioHeaderLen+nameLen))
		if _, err := io.ReadFull(r, nameBuf); err != nil {
			return truncated("cpio name", err)
		}
		if nameBuf[nameLen-1] != 0 {
			return fmt.Errorf("%w: cpio name not terminated", ErrCorrupt)
		}
		raw := string(nameBuf[:nameLen-1])
		if raw == cpioTrailer {
			return nil
		}
		name, err := archivePath(raw)
		if err != nil {
			return err
		}
		dataPad := int64(pad4(size))
		if mode&modeTypeMask == modeRegular && want(name) {
			if int64(size) > lim.MaxFile {
				return fmt.Errorf("%w: %s is %d bytes (at most %d)", ErrTooLarge, name, size, lim.MaxFile)
			}
			content := make([]byte, size)
			if _, err := io.ReadFull(r, content); err != nil {
				return truncated(name, err)
			}
			files[name] = content
		} else if _, err := io.CopyN(io.Discard, r, int64(size)); err != nil {
			return truncated(name, err)
		}
		if _, err := io.CopyN(io.Discard, r, dataPad); err != nil {
			return truncated("cpio padding", err)
		}
	}
}

// archivePath turns a cpio name ("./usr/share/ipxe/undionly.kpxe") into
// the absolute path it installs to, refusing names that are absolute or
// climb out of the package's root.
func archivePath(name string) (string, error) {
	rel, ok := strings.CutPrefix(name, "./")
	if !ok && name == "." {
		rel = "."
	}
	if rel != "." && !fs.ValidPath(rel) {
		return "", fmt.Errorf("%w: cpio name %q leaves the package's root", ErrCorrupt, name)
	}
	return path.Join("/", rel), nil
}

func pad4(n uint64) uint64 { return (4 - n%4) % 4 }
