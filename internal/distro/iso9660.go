package distro

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"strconv"
	"strings"
	"time"
	"unicode/utf16"
)

// On-disk layout of ECMA-119 (ISO9660). Offsets are from the start of a
// volume descriptor or a directory record.
const (
	sectorSize      = 2048 // logical sector: volume descriptors, directory record packing
	firstDescriptor = 16   // the system area is sectors 0-15
	maxDescriptors  = 64   // real images have 3-5; bounds a hostile descriptor set

	vdPrimary       = 1
	vdSupplementary = 2
	vdTerminator    = 255

	minRecordLen = 34 // 33 fixed bytes and a one-byte name

	flagDirectory  = 0x02
	flagAssociated = 0x04
	flagMultiExt   = 0x80 // more records for this file follow
)

// volumeDescriptor is what kickstand needs from a primary or Joliet
// supplementary volume descriptor.
type volumeDescriptor struct {
	volumeID   string
	blocks     int64 // volume space size, in logical blocks
	blockSize  int64
	root       dirRecord
	jolietName bool // a supplementary descriptor announcing UCS-2 names
}

// parseVolumeDescriptor reads a type 1 or 2 descriptor (one 2048-byte sector).
func parseVolumeDescriptor(b []byte) (volumeDescriptor, error) {
	var vd volumeDescriptor
	vd.blocks = int64(binary.LittleEndian.Uint32(b[80:84]))
	vd.blockSize = int64(binary.LittleEndian.Uint16(b[128:130]))
	switch vd.blockSize {
	case 512, 1024, 2048:
	default:
		return vd, fmt.Errorf("%w: logical block size %d (want 512, 1024 or 2048)", ErrCorrupt, vd.blockSize)
	}
	if vd.blocks == 0 {
		return vd, fmt.Errorf("%w: volume space size is 0", ErrCorrupt)
	}
	if b[0] == vdSupplementary {
		esc := b[88:120]
		vd.jolietName = bytes.Contains(esc, []byte("%/@")) || bytes.Contains(esc, []byte("%/C")) || bytes.Contains(esc, []byte("%/E"))
	}
	if vd.jolietName {
		vd.volumeID = decodeUCS2(b[40:72])
	} else {
		vd.volumeID = string(b[40:72])
	}
	vd.volumeID = strings.TrimRight(vd.volumeID, " \x00")
	if int(b[156]) != minRecordLen {
		return vd, fmt.Errorf("%w: root directory record has length %d, want 34", ErrCorrupt, b[156])
	}
	var err error
	vd.root, err = parseDirRecord(b[156:190])
	return vd, err
}

// dirRecord is one directory record: a file or directory (or, for files
// over 4 GiB, one section of a file).
type dirRecord struct {
	extent   int64  // first logical block of the extent
	xattrLen int64  // extended attribute record, in blocks before the data
	length   int64  // data length in bytes
	flags    byte   // flag* bits
	interlv  bool   // interleaved (file unit size or gap set): not supported
	ident    []byte // file identifier as recorded
	recorded time.Time
	sysUse   []byte // System Use area (SUSP / Rock Ridge entries)
}

func (r dirRecord) isDot() bool    { return len(r.ident) == 1 && r.ident[0] == 0 }
func (r dirRecord) isDotDot() bool { return len(r.ident) == 1 && r.ident[0] == 1 }

// parseDirRecord decodes one record; b is exactly the record (b[0] bytes).
func parseDirRecord(b []byte) (dirRecord, error) {
	if len(b) < minRecordLen || int(b[0]) != len(b) {
		return dirRecord{}, fmt.Errorf("%w: directory record of %d bytes", ErrCorrupt, len(b))
	}
	nameLen := int(b[32])
	if nameLen == 0 || 33+nameLen > len(b) {
		return dirRecord{}, fmt.Errorf("%w: directory record name of %d bytes in a %d-byte record", ErrCorrupt, nameLen, len(b))
	}
	r := dirRecord{
		extent:   int64(binary.LittleEndian.Uint32(b[2:6])),
		xattrLen: int64(b[1]),
		length:   int64(binary.LittleEndian.Uint32(b[10:14])),
		flags:    b[25],
		interlv:  b[26] != 0 || b[27] != 0,
		ident:    b[33 : 33+nameLen],
		recorded: recordTime(b[18:25]),
	}
	su := 33 + nameLen
	if nameLen%2 == 0 { // padding byte keeps the System Use area even-aligned
		su++
	}
	if su < len(b) {
		r.sysUse = b[su:]
	}
	return r, nil
}

// recordReader yields a directory's records in order. Records never
// straddle a sector; a zero length byte means the rest of the sector is
// padding.
type recordReader struct {
	buf []byte
	pos int
}

// next returns the next record, or false at the end of the directory.
func (rd *recordReader) next() (dirRecord, bool, error) {
	for rd.pos < len(rd.buf) {
		n := int(rd.buf[rd.pos])
		if n == 0 {
			rd.pos = (rd.pos/sectorSize + 1) * sectorSize
			continue
		}
		if rd.pos+n > len(rd.buf) {
			return dirRecord{}, false, fmt.Errorf("%w: directory record at byte %d runs past the end of its directory", ErrCorrupt, rd.pos)
		}
		r, err := parseDirRecord(rd.buf[rd.pos : rd.pos+n])
		if err != nil {
			return dirRecord{}, false, fmt.Errorf("record at byte %d: %w", rd.pos, err)
		}
		rd.pos += n
		return r, true, nil
	}
	return dirRecord{}, false, nil
}

// recordTime decodes the 7-byte directory record date; all zeros means unknown.
func recordTime(b []byte) time.Time {
	if b[0] == 0 && b[1] == 0 && b[2] == 0 {
		return time.Time{}
	}
	return makeTime(1900+int(b[0]), int(b[1]), int(b[2]), int(b[3]), int(b[4]), int(b[5]), 0, int8(b[6]))
}

// decTime decodes the 17-byte "YYYYMMDDHHMMSScc" + zone form (volume
// descriptors, Rock Ridge TF with LONG_FORM); unparseable means unknown.
func decTime(b []byte) time.Time {
	var v [7]int
	widths := [7]int{4, 2, 2, 2, 2, 2, 2}
	pos := 0
	for i, w := range widths {
		n, err := strconv.Atoi(string(b[pos : pos+w]))
		if err != nil || n < 0 {
			return time.Time{}
		}
		v[i], pos = n, pos+w
	}
	if v[0] == 0 {
		return time.Time{}
	}
	return makeTime(v[0], v[1], v[2], v[3], v[4], v[5], v[6]*10_000_000, int8(b[16]))
}

// makeTime builds a time in the recorded zone (offset in 15-minute steps).
func makeTime(year, month, day, hour, minute, sec, nsec int, zone int8) time.Time {
	if month < 1 || month > 12 || day < 1 || day > 31 || hour > 23 || minute > 59 || sec > 60 {
		return time.Time{}
	}
	if zone < -48 || zone > 52 {
		zone = 0
	}
	return time.Date(year, time.Month(month), day, hour, minute, sec, nsec, time.FixedZone("", int(zone)*15*60))
}

// decodeUCS2 decodes Joliet's big-endian UCS-2 (UTF-16 in practice).
func decodeUCS2(b []byte) string {
	u := make([]uint16, len(b)/2)
	for i := range u {
		u[i] = binary.BigEndian.Uint16(b[2*i:])
	}
	return string(utf16.Decode(u))
}

// stripVersion turns an ISO9660 identifier "NAME.EXT;1" into "NAME.EXT",
// and "NAME.;1" into "NAME".
func stripVersion(name string) string {
	if i := strings.LastIndexByte(name, ';'); i >= 0 {
		name = name[:i]
	}
	if len(name) > 1 && strings.HasSuffix(name, ".") {
		name = name[:len(name)-1]
	}
	return name
}
