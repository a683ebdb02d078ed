package distro

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"time"
)

// System Use Sharing Protocol (IEEE P1281) and Rock Ridge (IEEE P1282)
// entries: a two-letter signature, a length byte, a version byte, data.
const (
	suspHeader    = 4
	maxCEHops     = 32       // continuation areas followed per record
	maxSysUseData = 64 << 10 // System Use bytes read per record, continuations included

	nmCurrent = 0x02
	nmParent  = 0x04

	tfCreation = 0x01
	tfModify   = 0x02
	tfLongForm = 0x80

	posixTypeMask = 0o170000
	posixDir      = 0o040000
	posixRegular  = 0o100000
)

// rockRidge is what one record's Rock Ridge entries say.
type rockRidge struct {
	name      []byte
	hasName   bool
	modTime   time.Time
	mode      uint32 // POSIX st_mode from PX, 0 if absent
	symlink   bool   // SL entry
	relocated bool   // RE: shown elsewhere through a CL entry
	childLink int64  // CL: block of a relocated directory, -1 if absent
}

// special reports a symlink, device, FIFO or socket: nothing kickstand serves.
func (rr rockRidge) special() bool {
	t := rr.mode & posixTypeMask
	return rr.symlink || (rr.mode != 0 && t != posixDir && t != posixRegular)
}

// hasRockRidge reports whether a root "." record starts its System Use
// area with SUSP's SP entry and carries Rock Ridge (an RRIP ER entry or
// Rock Ridge entries), and returns SP's skip length.
func hasRockRidge(root dirRecord) (ok bool, skip int) {
	su := root.sysUse
	if len(su) < 7 || string(su[:2]) != "SP" || su[2] < 7 || su[4] != 0xBE || su[5] != 0xEF {
		return false, 0
	}
	skip = int(su[6])
	for e := range suspEntries(su) {
		switch string(e[:2]) {
		case "PX", "NM", "TF", "RR":
			return true, skip
		case "ER":
			if len(e) >= 8 {
				id := e[8:min(len(e), 8+int(e[4]))]
				if bytes.HasPrefix(id, []byte("RRIP")) || bytes.HasPrefix(id, []byte("IEEE_P1282")) || bytes.HasPrefix(id, []byte("IEEE_1282")) {
					return true, skip
				}
			}
		}
	}
	return false, 0
}

// suspEntries yields the well-formed entries of one System Use area,
// stopping at ST or at the first entry whose length does not fit.
func suspEntries(area []byte) func(yield func([]byte) bool) {
	return func(yield func([]byte) bool) {
		for len(area) >= suspHeader {
			n := int(area[2])
			if n < suspHeader || n > len(area) || string(area[:2]) == "ST" {
				return
			}
			if !yield(area[:n]) {
				return
			}
			area = area[n:]
		}
	}
}

// readRockRidge collects a record's Rock Ridge entries, following CE
// continuation areas inside the image.
func (w *walker) readRockRidge(rec dirRecord) (rockRidge, error) {
	rr := rockRidge{childLink: -1}
	if len(rec.sysUse) <= w.suspSkip {
		return rr, nil
	}
	area := rec.sysUse[w.suspSkip:]
	total := len(area)
	for hop := 0; ; hop++ {
		var ce []byte
		for e := range suspEntries(area) {
			if string(e[:2]) == "CE" {
				ce = e
				continue
			}
			rr.apply(e)
		}
		if ce == nil {
			return rr, nil
		}
		if hop == maxCEHops {
			return rr, fmt.Errorf("%w: more than %d Rock Ridge continuation areas", ErrCorrupt, maxCEHops)
		}
		var err error
		if area, err = w.continuation(ce, &total); err != nil {
			return rr, err
		}
	}
}

// continuation reads the area a CE entry points at.
func (w *walker) continuation(ce []byte, total *int) ([]byte, error) {
	if len(ce) < 28 {
		return nil, fmt.Errorf("%w: Rock Ridge CE entry of %d bytes", ErrCorrupt, len(ce))
	}
	block := int64(binary.LittleEndian.Uint32(ce[4:8]))
	offset := int64(binary.LittleEndian.Uint32(ce[12:16]))
	length := int64(binary.LittleEndian.Uint32(ce[20:24]))
	if offset >= w.blockSize || length > w.blockSize {
		return nil, fmt.Errorf("%w: Rock Ridge continuation area (offset %d, %d bytes) does not fit in a block", ErrCorrupt, offset, length)
	}
	*total += int(length)
	if *total > maxSysUseData {
		return nil, fmt.Errorf("%w: more than %d bytes of Rock Ridge data for one record", ErrCorrupt, maxSysUseData)
	}
	start := block*w.blockSize + offset
	if err := w.inImage("Rock Ridge continuation area", start, length); err != nil {
		return nil, err
	}
	buf := make([]byte, length)
	if _, err := w.r.ReadAt(buf, start); err != nil {
		return nil, fmt.Errorf("read Rock Ridge continuation area at byte %d: %w", start, err)
	}
	return buf, nil
}

// apply records one entry; unknown and malformed entries are ignored,
// as Linux does.
func (rr *rockRidge) apply(e []byte) {
	data := e[suspHeader:]
	switch string(e[:2]) {
	case "NM":
		if len(data) < 1 {
			return
		}
		rr.hasName = true
		switch {
		case data[0]&nmCurrent != 0:
			rr.name = append(rr.name, '.')
		case data[0]&nmParent != 0:
			rr.name = append(rr.name, '.', '.')
		default:
			rr.name = append(rr.name, data[1:]...)
		}
	case "PX":
		if len(data) >= 4 {
			rr.mode = binary.LittleEndian.Uint32(data)
		}
	case "SL":
		rr.symlink = true
	case "RE":
		rr.relocated = true
	case "CL":
		if len(data) >= 4 {
			rr.childLink = int64(binary.LittleEndian.Uint32(data))
		}
	case "TF":
		rr.modTime = tfModTime(data)
	}
}

// tfModTime finds the modification time in a TF entry: timestamps follow
// the flags byte in flag-bit order, 7 or 17 bytes each.
func tfModTime(data []byte) time.Time {
	if len(data) < 1 || data[0]&tfModify == 0 {
		return time.Time{}
	}
	size := 7
	if data[0]&tfLongForm != 0 {
		size = 17
	}
	start := 1
	if data[0]&tfCreation != 0 {
		start += size
	}
	if start+size > len(data) {
		return time.Time{}
	}
	if size == 7 {
		return recordTime(data[start : start+7])
	}
	return decTime(data[start : start+17])
}
