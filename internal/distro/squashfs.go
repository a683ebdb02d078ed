package distro

import (
	"bytes"
	"compress/zlib"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"strings"

	"github.com/klauspost/compress/zstd"
	"github.com/ulikunitz/xz/lzma"
)

// A GRUB memdisk is a small file system inside the image: Debian's signed
// GRUBs carry a squashfs (xz) holding the grub.cfg their embedded config
// runs. squashfsFile reads one regular file out of a squashfs 4.0 image by
// its path, as the kernel's squashfs documentation lays the format out:
// only what a lookup needs (superblock, inodes, directories, data blocks
// and fragments), bounded by the image's size and by limit.

const (
	sqMagic           = 0x73717368 // "hsqs"
	sqSuperblockSize  = 96
	sqMetadataMax     = 8192
	sqNoFragment      = 0xffffffff
	sqBlockRaw        = 1 << 24 // a data block size with this bit is stored uncompressed
	sqMetaRaw         = 0x8000  // a metadata block header with this bit is stored uncompressed
	sqBasicDir        = 1
	sqBasicFile       = 2
	sqExtDir          = 8
	sqExtFile         = 9
	sqFragmentEntry   = 16
	sqCompressorGzip  = 1
	sqCompressorXZ    = 4
	sqCompressorZstd  = 6
	sqMaxDirEntries   = 1 << 16 // more than any GRUB memdisk holds
	sqMaxPathSegments = 16
)

// squashfs is an image and what its superblock says.
type squashfs struct {
	image                           []byte
	blockSize                       uint32
	compressor                      uint16
	rootInode                       uint64
	inodeTable, dirTable, fragTable uint64
	inodeTableEnd                   uint64 // the directory table follows the inode table
	fragCount                       uint32
}

// squashfsFile returns the regular file at path ("grub.cfg", "boot/grub/grub.cfg")
// in a squashfs image, refusing one larger than limit bytes.
func squashfsFile(image []byte, path string, limit int) ([]byte, error) {
	fs, err := readSquashfsSuperblock(image)
	if err != nil {
		return nil, err
	}
	ref := fs.rootInode
	parts := strings.Split(strings.Trim(path, "/"), "/")
	if len(parts) > sqMaxPathSegments {
		return nil, fmt.Errorf("squashfs: path %q too deep", path)
	}
	for _, name := range parts {
		inode, err := fs.inode(ref, sqInodeFixed)
		if err != nil {
			return nil, err
		}
		if ref, err = fs.lookup(inode, name); err != nil {
			return nil, fmt.Errorf("squashfs: %s: %w", path, err)
		}
	}
	return fs.readFile(ref, limit)
}

func readSquashfsSuperblock(image []byte) (*squashfs, error) {
	if len(image) < sqSuperblockSize || binary.LittleEndian.Uint32(image) != sqMagic {
		return nil, errors.New("not a squashfs image")
	}
	le := binary.LittleEndian
	if major := le.Uint16(image[28:]); major != 4 {
		return nil, fmt.Errorf("squashfs version %d: only 4 is read", major)
	}
	fs := &squashfs{image: image, blockSize: le.Uint32(image[12:]), fragCount: le.Uint32(image[16:]),
		compressor: le.Uint16(image[20:]), rootInode: le.Uint64(image[32:]),
		inodeTable: le.Uint64(image[64:]), dirTable: le.Uint64(image[72:]), fragTable: le.Uint64(image[80:])}
	fs.inodeTableEnd = fs.dirTable
	if fs.blockSize < 4096 || fs.blockSize > 1<<20 || fs.blockSize&(fs.blockSize-1) != 0 {
		return nil, fmt.Errorf("squashfs block size %d", fs.blockSize)
	}
	for _, off := range []uint64{fs.inodeTable, fs.dirTable} {
		if off >= uint64(len(image)) {
			return nil, errors.New("squashfs: a table past the end of the image")
		}
	}
	return fs, nil
}

// decompress is one compressed block, at most limit bytes once decompressed.
func (fs *squashfs) decompress(b []byte, limit int) ([]byte, error) {
	var r io.Reader
	var err error
	switch fs.compressor {
	case sqCompressorGzip:
		r, err = zlib.NewReader(bytes.NewReader(b))
	case sqCompressorXZ:
		var data []byte
		if data, err = xzBlockData(b); err == nil {
			// The dictionary never needs to be larger than the block.
			r, err = lzma.Reader2Config{DictCap: max(limit, lzma.MinDictCap)}.NewReader2(bytes.NewReader(data))
		}
	case sqCompressorZstd:
		var d *zstd.Decoder
		if d, err = zstd.NewReader(bytes.NewReader(b), zstd.WithDecoderConcurrency(1), zstd.WithDecoderLowmem(true),
			zstd.WithDecoderMaxMemory(uint64(limit)+1), zstd.WithDecoderMaxWindow(max(uint64(limit), zstd.MinWindowSize))); err == nil {
			defer d.Close()
			r = d
		}
	default:
		return nil, fmt.Errorf("squashfs compressor %d: only gzip, xz and zstd are read", fs.compressor)
	}
	if err != nil {
		return nil, fmt.Errorf("squashfs: %w", err)
	}
	out, err := io.ReadAll(io.LimitReader(r, int64(limit)+1))
	if err != nil {
		return nil, fmt.Errorf("squashfs: %w", err)
	}
	if len(out) > limit {
		return nil, fmt.Errorf("squashfs: a block larger than %d bytes", limit)
	}
	return out, nil
}

// xzBlockData returns the LZMA2 data of the first block of an xz stream, as
// mksquashfs writes one stream of one block per squashfs block. The xz
// module's own reader is not used: it allocates whatever dictionary a
// block header asks for (up to 4 GiB), where the block needs no more than
// its own size. Other filters (BCJ) are refused; the checks are not read
// (a block that decodes wrong fails the reads after it).
func xzBlockData(b []byte) ([]byte, error) {
	const streamHeader, lzma2 = 12, 0x21
	if len(b) < streamHeader+1 || string(b[:6]) != "\xfd7zXZ\x00" {
		return nil, errors.New("squashfs: not an xz stream")
	}
	b = b[streamHeader:]
	size := (int(b[0]) + 1) * 4
	if b[0] == 0 || len(b) < size {
		return nil, errors.New("squashfs: an xz stream without a block")
	}
	flags, p := b[1], b[2:size-4] // the header's CRC32 ends it
	if flags&3 != 0 {
		return nil, errors.New("squashfs: xz filters other than LZMA2 are not read")
	}
	for _, sizeField := range []byte{0x40, 0x80} { // compressed and uncompressed size
		if flags&sizeField != 0 {
			_, n := binary.Uvarint(p)
			if n <= 0 {
				return nil, errors.New("squashfs: a bad xz block header")
			}
			p = p[n:]
		}
	}
	if id, n := binary.Uvarint(p); n <= 0 || id != lzma2 {
		return nil, errors.New("squashfs: xz filters other than LZMA2 are not read")
	}
	return b[size:], nil
}

// metadata returns up to n bytes of a metadata table starting in the block
// at table+block, offset bytes into its decompressed content, reading on
// into the next blocks as needed: fewer when the table ends first (at end).
func (fs *squashfs) metadata(table, block uint64, offset, n int, end uint64) ([]byte, error) {
	pos := table + block
	end = min(end, uint64(len(fs.image)))
	var out []byte
	for len(out) < offset+n && pos+2 <= end {
		h := binary.LittleEndian.Uint16(fs.image[pos:])
		size := uint64(h &^ sqMetaRaw)
		if size == 0 || size > sqMetadataMax || pos+2+size > end {
			return nil, fmt.Errorf("squashfs: a metadata block of %d bytes", size)
		}
		data := fs.image[pos+2 : pos+2+size]
		if h&sqMetaRaw == 0 {
			var err error
			if data, err = fs.decompress(data, sqMetadataMax); err != nil {
				return nil, err
			}
		}
		out = append(out, data...)
		pos += 2 + size
	}
	if len(out) < offset {
		return nil, errors.New("squashfs: metadata past its table")
	}
	return out[offset:min(len(out), offset+n)], nil
}

// sqInodeFixed is the longest fixed part of the inodes read here (an
// extended file's), after the 16-byte header common to all.
const sqInodeFixed = 16 + 40

// inode returns n bytes (fewer at the end of the table) of the inode a
// reference names (block << 16 | offset).
func (fs *squashfs) inode(ref uint64, n int) ([]byte, error) {
	b, err := fs.metadata(fs.inodeTable, ref>>16, int(ref&0xffff), n, fs.inodeTableEnd)
	if err != nil {
		return nil, fmt.Errorf("squashfs inode: %w", err)
	}
	if len(b) < 16 {
		return nil, errors.New("squashfs: an inode cut short")
	}
	return b, nil
}

// lookup returns the reference of the inode called name in directory inode.
func (fs *squashfs) lookup(inode []byte, name string) (uint64, error) {
	le := binary.LittleEndian
	var block uint64
	var size, offset int
	switch typ := le.Uint16(inode); {
	case typ == sqBasicDir && len(inode) >= 32:
		block, size, offset = uint64(le.Uint32(inode[16:])), int(le.Uint16(inode[24:])), int(le.Uint16(inode[26:]))
	case typ == sqExtDir && len(inode) >= 40:
		size, block, offset = int(le.Uint32(inode[20:])), uint64(le.Uint32(inode[24:])), int(le.Uint16(inode[34:]))
	default:
		return 0, errors.New("not a directory")
	}
	size -= 3 // the size counts "." and ".." that are not stored
	if size <= 0 {
		return 0, errors.New("not found")
	}
	listing, err := fs.metadata(fs.dirTable, block, offset, size, fs.fragTableStart())
	if err != nil {
		return 0, err
	}
	for entries := 0; len(listing) >= 12; {
		count, start := int(le.Uint32(listing))+1, le.Uint32(listing[4:])
		listing = listing[12:]
		if entries += count; entries > sqMaxDirEntries {
			return 0, errors.New("squashfs: too many directory entries")
		}
		for range count {
			if len(listing) < 8 {
				return 0, errors.New("squashfs: directory entry cut short")
			}
			off, nameLen := le.Uint16(listing), int(le.Uint16(listing[6:]))+1
			if len(listing) < 8+nameLen {
				return 0, errors.New("squashfs: directory entry name cut short")
			}
			if string(listing[8:8+nameLen]) == name {
				return uint64(start)<<16 | uint64(off), nil
			}
			listing = listing[8+nameLen:]
		}
	}
	return 0, errors.New("not found")
}

// fragTableStart is where the directory table ends at the latest: the
// tables after it, or the image's end.
func (fs *squashfs) fragTableStart() uint64 {
	if fs.fragTable > fs.dirTable && fs.fragTable <= uint64(len(fs.image)) {
		return fs.fragTable
	}
	return uint64(len(fs.image))
}

// readFile reads the regular file at inode reference ref: its blocks, and
// its tail in a fragment.
func (fs *squashfs) readFile(ref uint64, limit int) ([]byte, error) {
	le := binary.LittleEndian
	inode, err := fs.inode(ref, sqInodeFixed)
	if err != nil {
		return nil, err
	}
	var start, size uint64
	var frag, fragOffset uint32
	var list int // where the list of block sizes starts
	switch typ := le.Uint16(inode); {
	case typ == sqBasicFile && len(inode) >= 32:
		start, frag, fragOffset, size = uint64(le.Uint32(inode[16:])), le.Uint32(inode[20:]), le.Uint32(inode[24:]), uint64(le.Uint32(inode[28:]))
		list = 32
	case typ == sqExtFile && len(inode) >= 56:
		start, size, frag, fragOffset = le.Uint64(inode[16:]), le.Uint64(inode[24:]), le.Uint32(inode[44:]), le.Uint32(inode[48:])
		list = 56
	default:
		return nil, errors.New("squashfs: not a regular file")
	}
	if size > uint64(limit) {
		return nil, fmt.Errorf("squashfs: a file of %d bytes, more than %d", size, limit)
	}
	blocks := int(size / uint64(fs.blockSize))
	if frag == sqNoFragment && size%uint64(fs.blockSize) != 0 {
		blocks++
	}
	if inode, err = fs.inode(ref, list+4*blocks); err != nil {
		return nil, err
	}
	if len(inode) < list+4*blocks {
		return nil, errors.New("squashfs: a file's block list cut short")
	}
	out := make([]byte, 0, size)
	pos := start
	for i := range blocks {
		raw := le.Uint32(inode[list+4*i:])
		b, err := fs.dataBlock(pos, raw)
		if err != nil {
			return nil, err
		}
		pos += uint64(raw &^ sqBlockRaw)
		out = append(out, b...)
	}
	if frag != sqNoFragment && uint64(len(out)) < size {
		b, err := fs.fragment(frag)
		if err != nil {
			return nil, err
		}
		tail := size - uint64(len(out))
		if uint64(fragOffset)+tail > uint64(len(b)) {
			return nil, errors.New("squashfs: a file's tail past its fragment")
		}
		out = append(out, b[fragOffset:uint64(fragOffset)+tail]...)
	}
	if uint64(len(out)) < size {
		return nil, errors.New("squashfs: a file shorter than its size")
	}
	return out[:size], nil
}

// dataBlock is the data block at pos whose size word is raw.
func (fs *squashfs) dataBlock(pos uint64, raw uint32) ([]byte, error) {
	n := uint64(raw &^ sqBlockRaw)
	if n == 0 {
		return make([]byte, fs.blockSize), nil // sparse
	}
	if pos+n > uint64(len(fs.image)) {
		return nil, errors.New("squashfs: a data block past the end of the image")
	}
	b := fs.image[pos : pos+n]
	if raw&sqBlockRaw != 0 {
		if n > uint64(fs.blockSize) {
			return nil, errors.New("squashfs: a data block larger than the block size")
		}
		return b, nil
	}
	return fs.decompress(b, int(fs.blockSize))
}

// fragment is fragment block i: its entry is in the metadata block that the
// fragment table's (i/512)th pointer names.
func (fs *squashfs) fragment(i uint32) ([]byte, error) {
	if i >= fs.fragCount {
		return nil, fmt.Errorf("squashfs: fragment %d of %d", i, fs.fragCount)
	}
	ptr := fs.fragTable + 8*uint64(i/(sqMetadataMax/sqFragmentEntry))
	if ptr+8 > uint64(len(fs.image)) {
		return nil, errors.New("squashfs: fragment table past the end of the image")
	}
	block := binary.LittleEndian.Uint64(fs.image[ptr:])
	entry, err := fs.metadata(0, block, int(i%(sqMetadataMax/sqFragmentEntry))*sqFragmentEntry, sqFragmentEntry, uint64(len(fs.image)))
	if err != nil {
		return nil, err
	}
	if len(entry) < sqFragmentEntry {
		return nil, errors.New("squashfs: fragment entry past its table")
	}
	return fs.dataBlock(binary.LittleEndian.Uint64(entry), binary.LittleEndian.Uint32(entry[8:]))
}
