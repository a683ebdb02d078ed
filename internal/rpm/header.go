package rpm

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"io"
)

// Header tag value types (rpm's rpmTagType).
const (
	typeNull        = 0
	typeChar        = 1
	typeInt8        = 2
	typeInt16       = 3
	typeInt32       = 4
	typeInt64       = 5
	typeString      = 6
	typeBin         = 7
	typeStringArray = 8
	typeI18NString  = 9
)

var headerMagic = []byte{0x8e, 0xad, 0xe8, 0x01}

// header is a parsed header structure: its index entries by tag, and the
// data store they point into. raw is the whole header as read (preamble,
// index and store), for the digests that cover it.
type header struct {
	entries map[uint32]entry
	store   []byte
	raw     []byte
}

type entry struct {
	typ, offset, count uint32
}

// readHeader reads one header structure, refusing index counts and store
// sizes over maxSize before allocating anything for them.
func readHeader(r io.Reader, maxSize int) (*header, error) {
	var pre [16]byte
	if _, err := io.ReadFull(r, pre[:]); err != nil {
		return nil, truncated("header preamble", err)
	}
	if !bytes.Equal(pre[:4], headerMagic) {
		return nil, fmt.Errorf("%w: bad header magic % x", ErrCorrupt, pre[:4])
	}
	count := binary.BigEndian.Uint32(pre[8:12])
	size := binary.BigEndian.Uint32(pre[12:16])
	// Compared in 64 bits: count*16 overflows 32.
	total := uint64(count)*16 + uint64(size)
	if count == 0 || count > maxTags || total > uint64(maxSize) {
		return nil, fmt.Errorf("%w: header of %d entries and %d bytes of data (at most %d tags, %d bytes)", ErrTooLarge, count, size, maxTags, maxSize)
	}
	raw := make([]byte, 16+total)
	copy(raw, pre[:])
	if _, err := io.ReadFull(r, raw[16:]); err != nil {
		return nil, truncated("header", err)
	}
	h := &header{entries: make(map[uint32]entry, count), store: raw[16+uint64(count)*16:], raw: raw}
	for i := range uint64(count) {
		e := raw[16+i*16 : 32+i*16]
		tag := binary.BigEndian.Uint32(e[0:4])
		ent := entry{typ: binary.BigEndian.Uint32(e[4:8]), offset: binary.BigEndian.Uint32(e[8:12]), count: binary.BigEndian.Uint32(e[12:16])}
		if err := h.check(tag, ent); err != nil {
			return nil, err
		}
		h.entries[tag] = ent
	}
	return h, nil
}

// check refuses an entry whose data does not lie inside the store, so that
// the getters below index the store without further checks.
func (h *header) check(tag uint32, e entry) error {
	storeLen := uint64(len(h.store))
	if uint64(e.offset) > storeLen {
		return fmt.Errorf("%w: tag %d: offset %d past the data store (%d bytes)", ErrCorrupt, tag, e.offset, storeLen)
	}
	if e.count == 0 && e.typ != typeNull {
		return fmt.Errorf("%w: tag %d: no values", ErrCorrupt, tag)
	}
	rest := storeLen - uint64(e.offset)
	switch e.typ {
	case typeNull:
		return nil
	case typeChar, typeInt8, typeBin:
		if uint64(e.count) > rest {
			return fmt.Errorf("%w: tag %d: %d bytes at %d run past the data store", ErrCorrupt, tag, e.count, e.offset)
		}
	case typeInt16, typeInt32, typeInt64:
		size := map[uint32]uint64{typeInt16: 2, typeInt32: 4, typeInt64: 8}[e.typ]
		if uint64(e.count)*size > rest {
			return fmt.Errorf("%w: tag %d: %d values at %d run past the data store", ErrCorrupt, tag, e.count, e.offset)
		}
	case typeString, typeStringArray, typeI18NString:
		if e.typ == typeString && e.count != 1 {
			return fmt.Errorf("%w: tag %d: a string with count %d", ErrCorrupt, tag, e.count)
		}
		// Each string is at least its NUL: a count over the bytes left
		// cannot be satisfied.
		if uint64(e.count) > rest {
			return fmt.Errorf("%w: tag %d: %d strings at %d run past the data store", ErrCorrupt, tag, e.count, e.offset)
		}
		if _, err := h.splitStrings(e); err != nil {
			return fmt.Errorf("tag %d: %w", tag, err)
		}
	default:
		return fmt.Errorf("%w: tag %d: unknown type %d", ErrCorrupt, tag, e.typ)
	}
	return nil
}

// splitStrings returns the entry's count NUL-terminated strings.
func (h *header) splitStrings(e entry) ([]string, error) {
	data := h.store[e.offset:]
	out := make([]string, 0, min(int(e.count), 1024))
	for range e.count {
		end := bytes.IndexByte(data, 0)
		if end < 0 {
			return nil, fmt.Errorf("%w: string runs past the data store", ErrCorrupt)
		}
		out = append(out, string(data[:end]))
		data = data[end+1:]
	}
	return out, nil
}

// strings returns a string or string array tag's values (nil when absent
// or of another type).
func (h *header) strings(tag uint32) []string {
	e, ok := h.entries[tag]
	if !ok || e.typ != typeString && e.typ != typeStringArray && e.typ != typeI18NString {
		return nil
	}
	s, _ := h.splitStrings(e) // checked by readHeader
	return s
}

// string returns a string tag's first value, "" when absent.
func (h *header) string(tag uint32) string {
	if s := h.strings(tag); len(s) > 0 {
		return s[0]
	}
	return ""
}

// ints returns an integer tag's values widened to 64 bits (nil when absent
// or not an integer).
func (h *header) ints(tag uint32) []uint64 {
	e, ok := h.entries[tag]
	if !ok {
		return nil
	}
	data := h.store[e.offset:]
	out := make([]uint64, 0, min(int(e.count), 1<<16))
	for i := range uint64(e.count) {
		switch e.typ {
		case typeInt8, typeChar:
			out = append(out, uint64(data[i]))
		case typeInt16:
			out = append(out, uint64(binary.BigEndian.Uint16(data[i*2:])))
		case typeInt32:
			out = append(out, uint64(binary.BigEndian.Uint32(data[i*4:])))
		case typeInt64:
			out = append(out, binary.BigEndian.Uint64(data[i*8:]))
		default:
			return nil
		}
	}
	return out
}

// int returns an integer tag's first value.
func (h *header) int(tag uint32) (uint64, bool) {
	v := h.ints(tag)
	if len(v) == 0 {
		return 0, false
	}
	return v[0], true
}

// bytes returns a binary tag's data.
func (h *header) bytes(tag uint32) []byte {
	e, ok := h.entries[tag]
	if !ok || e.typ != typeBin {
		return nil
	}
	return h.store[e.offset : e.offset+e.count]
}
