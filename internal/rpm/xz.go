package rpm

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"io"

	"github.com/ulikunitz/xz/lzma"
)

// xzReader decodes an xz stream block by block, with the LZMA2 decoder of
// github.com/ulikunitz/xz. It walks the container itself because that
// module's xz reader allocates whatever dictionary a block header asks for
// (up to 4 GiB): here a block asking for more than the limit is refused
// before anything is allocated. Block checks (CRC/SHA of the decompressed
// data) are skipped: the package's payload digest covers the compressed
// bytes, and the files returned are checked against the header's digests.
type xzReader struct {
	r        io.Reader
	maxDict  int
	checkLen int
	block    *lzma.Reader2
	counter  *countingReader
	err      error
}

func newXZReader(r io.Reader, maxDict int) *xzReader {
	return &xzReader{r: r, maxDict: maxDict}
}

var errXZ = fmt.Errorf("%w: xz payload", ErrCorrupt)

func (x *xzReader) Read(p []byte) (int, error) {
	if x.err != nil {
		return 0, x.err
	}
	if x.block == nil {
		if x.err = x.next(); x.err != nil {
			return 0, x.err
		}
	}
	n, err := x.block.Read(p)
	if errors.Is(err, io.EOF) {
		x.block = nil
		if err := x.endBlock(); err != nil {
			x.err = err
			return n, err
		}
		return n, nil
	}
	if err != nil {
		x.err = fmt.Errorf("%w: %w", errXZ, err)
	}
	return n, x.err
}

// next reads the stream header (first time) and the next block's header,
// and starts its decoder. The index that follows the last block ends the
// data: io.EOF.
func (x *xzReader) next() error {
	if x.checkLen == 0 {
		if err := x.streamHeader(); err != nil {
			return err
		}
	}
	var first [1]byte
	if _, err := io.ReadFull(x.r, first[:]); err != nil {
		return truncated("xz block", err)
	}
	if first[0] == 0 {
		return io.EOF // the index: no more blocks
	}
	hdr := make([]byte, (int(first[0])+1)*4)
	hdr[0] = first[0]
	if _, err := io.ReadFull(x.r, hdr[1:]); err != nil {
		return truncated("xz block header", err)
	}
	body, sum := hdr[:len(hdr)-4], binary.LittleEndian.Uint32(hdr[len(hdr)-4:])
	if crc32.ChecksumIEEE(body) != sum {
		return fmt.Errorf("%w: block header checksum", errXZ)
	}
	dict, err := lzma2Dict(body)
	if err != nil {
		return err
	}
	if dict > int64(x.maxDict) {
		return fmt.Errorf("%w: xz dictionary of %d bytes (at most %d)", ErrTooLarge, dict, x.maxDict)
	}
	x.counter = &countingReader{r: x.r}
	x.block, err = lzma.Reader2Config{DictCap: max(int(dict), lzma.MinDictCap)}.NewReader2(x.counter)
	if err != nil {
		return fmt.Errorf("%w: %w", errXZ, err)
	}
	return nil
}

func (x *xzReader) streamHeader() error {
	var h [12]byte
	if _, err := io.ReadFull(x.r, h[:]); err != nil {
		return truncated("xz stream header", err)
	}
	if !bytes.Equal(h[:6], xzMagic) || h[6] != 0 || crc32.ChecksumIEEE(h[6:8]) != binary.LittleEndian.Uint32(h[8:]) {
		return fmt.Errorf("%w: stream header", errXZ)
	}
	// Check sizes by type: 0 none, then 4, 8, 16, 32, 64 bytes by threes.
	check := int(h[7])
	switch {
	case check > 0x0f:
		return fmt.Errorf("%w: check type %d", errXZ, check)
	case check == 0:
		x.checkLen = -1 // read, and none
	default:
		x.checkLen = 4 << ((check - 1) / 3)
	}
	return nil
}

// endBlock skips the block's padding and check.
func (x *xzReader) endBlock() error {
	skip := int64(pad4(uint64(x.counter.n))) + int64(max(x.checkLen, 0))
	if _, err := io.CopyN(io.Discard, x.r, skip); err != nil {
		return truncated("xz block end", err)
	}
	return nil
}

// lzma2Dict returns the dictionary size a block header's only filter,
// LZMA2, asks for; other filter chains are refused (rpm writes LZMA2 alone).
func lzma2Dict(hdr []byte) (int64, error) {
	if len(hdr) < 2 {
		return 0, fmt.Errorf("%w: block header", errXZ)
	}
	flags := hdr[1]
	if flags&0x3c != 0 || flags&0x03 != 0 {
		return 0, fmt.Errorf("%w: block flags %#x (one LZMA2 filter only)", ErrUnsupported, flags)
	}
	r := bytes.NewReader(hdr[2:])
	if flags&0x40 != 0 {
		if _, err := binary.ReadUvarint(r); err != nil {
			return 0, fmt.Errorf("%w: block compressed size", errXZ)
		}
	}
	if flags&0x80 != 0 {
		if _, err := binary.ReadUvarint(r); err != nil {
			return 0, fmt.Errorf("%w: block uncompressed size", errXZ)
		}
	}
	id, err1 := binary.ReadUvarint(r)
	propsLen, err2 := binary.ReadUvarint(r)
	props, err3 := r.ReadByte()
	if err1 != nil || err2 != nil || err3 != nil || id != 0x21 || propsLen != 1 {
		return 0, fmt.Errorf("%w: xz filter %#x (LZMA2 only)", ErrUnsupported, id)
	}
	bits := int64(props & 0x3f)
	if bits > 40 {
		return 0, fmt.Errorf("%w: LZMA2 dictionary size %d", errXZ, bits)
	}
	if bits == 40 {
		return 0xffffffff, nil
	}
	return (2 | bits&1) << (bits/2 + 11), nil
}
