package distro

import (
	"bytes"
	"encoding/binary"
	"strings"
	"testing"
)

func TestOpenISOTooDeep(t *testing.T) {
	deep := strings.Repeat("d/", maxDepth+1) + "f"
	img := readImage(t, makeISO(t, writeTree(t, map[string][]byte{deep: []byte("x")}), "-R"))
	checkBad(t, []badCase{{"65 levels", img, ErrCorrupt, "is nested more than 64 deep"}})

	ok := strings.Repeat("d/", maxDepth) + "f"
	iso := openISO(t, makeISO(t, writeTree(t, map[string][]byte{ok: []byte("x")}), "-R"))
	if _, err := iso.FS().Open(ok); err != nil {
		t.Errorf("64 levels: %v", err)
	}
}

func TestOpenISODuplicateName(t *testing.T) {
	img := readImage(t, makeISO(t, writeTree(t, map[string][]byte{"zy": {1}, "zz": {2}}), "-R"))
	replaceOnce(t, img, "NM\x07\x01\x00zy", "NM\x07\x01\x00zz")
	checkBad(t, []badCase{{"two zz", img, ErrCorrupt, `directory "." lists "zz" twice`}})
}

// TestOpenISOContinuationLoop points every Rock Ridge CE entry at itself.
func TestOpenISOContinuationLoop(t *testing.T) {
	img := readImage(t, makeISO(t, writeTree(t, map[string][]byte{longName: {1}}), "-R"))
	ce := []byte("CE\x1c\x01")
	var found []int
	for off := 0; ; {
		i := bytes.Index(img[off:], ce)
		if i < 0 {
			break
		}
		found = append(found, off+i)
		off += i + 1
	}
	if len(found) == 0 {
		t.Fatal("no CE entry in the image: the long name no longer needs a continuation area")
	}
	for _, pos := range found {
		putBoth(img, pos+4, uint32(pos/sectorSize))
		putBoth(img, pos+12, uint32(pos%sectorSize))
		putBoth(img, pos+20, 28)
	}
	checkBad(t, []badCase{{"CE loop", img, ErrCorrupt, "more than 32 Rock Ridge continuation areas"}})
}

// TestOpenISOTooManyEntries appends a directory of 1,000,001 minimal
// records ("." entries, which cost the index nothing but reading).
func TestOpenISOTooManyEntries(t *testing.T) {
	if testing.Short() {
		t.Skip("writes a 34 MB image")
	}
	img := readImage(t, makeISO(t, writeTree(t, map[string][]byte{"d0/f": {1}}), "-R", "-no-pad"))
	const perSector = sectorSize / minRecordLen
	sectors := (maxEntries + perSector) / perSector
	dir := make([]byte, sectors*sectorSize)
	for s := range sectors {
		for r := range perSector {
			rec := dir[s*sectorSize+r*minRecordLen:]
			rec[0], rec[32] = minRecordLen, 1
		}
	}
	rec := findRecord(t, img, "D0")
	putBoth(img, rec+recLBA, uint32(len(img)/sectorSize))
	putBoth(img, rec+recLength, uint32(len(dir)))
	img = append(img, dir...)
	binary.LittleEndian.PutUint32(img[pvdVolBlocks:], uint32(len(img)/sectorSize))
	checkBad(t, []badCase{{"1,000,001 entries", img, ErrCorrupt, "more than 1000000 directory entries"}})
}
