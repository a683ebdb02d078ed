package distro

import (
	"fmt"
	"io"
	"io/fs"
	"slices"
	"strings"
	"time"
	"unicode/utf8"
)

// Limits that keep a hostile image from exhausting memory or time. Real
// install DVDs are far inside them (a Rocky DVD: ~7000 entries, depth 6).
const (
	maxEntries  = 1_000_000
	maxDepth    = 64
	maxDirBytes = 64 << 20 // one directory's records
)

// nameSource says which of the image's trees and names the index uses.
type nameSource int

const (
	plainNames nameSource = iota // ISO9660 identifiers, ";1" stripped
	jolietNames
	rockRidgeNames
)

func (s nameSource) String() string {
	return [...]string{"ISO9660", "Joliet", "Rock Ridge"}[s]
}

// section is a run of bytes inside the image file.
type section struct{ offset, size int64 }

// node is one indexed file or directory. It is both the fs.FileInfo and
// the fs.DirEntry handed out by ISO.FS.
type node struct {
	name     string
	dir      bool
	size     int64
	modTime  time.Time
	sections []section // a regular file's data, in order; one except for files over 4 GiB
	children []*node   // a directory's entries, sorted by name
}

func (n *node) Name() string       { return n.name }
func (n *node) Size() int64        { return n.size }
func (n *node) ModTime() time.Time { return n.modTime }
func (n *node) IsDir() bool        { return n.dir }
func (n *node) Sys() any           { return nil }
func (n *node) Type() fs.FileMode  { return n.Mode().Type() }
func (n *node) Info() (fs.FileInfo, error) {
	return n, nil
}
func (n *node) String() string { return fs.FormatFileInfo(n) }

// Mode is read-only: the image cannot be written through kickstand.
func (n *node) Mode() fs.FileMode {
	if n.dir {
		return fs.ModeDir | 0o555
	}
	return 0o444
}

// walker reads a directory tree once, checking every record against the
// image and the limits above.
type walker struct {
	r         io.ReaderAt
	imageSize int64
	blockSize int64
	names     nameSource
	suspSkip  int
	visited   map[int64]string // directory extent → its path, to refuse loops
	dirBytes  int64            // directory data read so far
	entries   int              // directory records read so far, "." and ".." included
	nodes     map[string]*node
}

// inImage checks that [start, start+length) lies inside the image file.
func (w *walker) inImage(what string, start, length int64) error {
	if start < 0 || length < 0 || start+length > w.imageSize {
		return fmt.Errorf("%s (bytes %d to %d) %w (the file has %d bytes)", what, start, start+length, ErrTruncated, w.imageSize)
	}
	return nil
}

// walk indexes the directory at block extent (length bytes) as path p and
// everything below it.
func (w *walker) walk(dir *node, p string, extent, length int64, depth int) error {
	if depth > maxDepth {
		return fmt.Errorf("%w: directory %q is nested more than %d deep", ErrCorrupt, p, maxDepth)
	}
	if prev, seen := w.visited[extent]; seen {
		return fmt.Errorf("%w: directory %q points back at directory %q (a loop)", ErrCorrupt, p, prev)
	}
	w.visited[extent] = p
	buf, err := w.readDir(p, extent, length)
	if err != nil {
		return err
	}
	type subdir struct {
		n              *node
		extent, length int64
	}
	var subdirs []subdir
	records := &recordReader{buf: buf}
	var group []dirRecord
	for {
		if group, err = w.nextGroup(records, group[:0], p); err != nil || group == nil {
			break
		}
		n, ext, length, err := w.entry(group, p)
		if err != nil {
			return err
		}
		if n == nil {
			continue
		}
		dir.children = append(dir.children, n)
		if n.dir {
			subdirs = append(subdirs, subdir{n, ext, length})
		}
	}
	if err != nil {
		return err
	}
	if err := sortChildren(dir, p); err != nil {
		return err
	}
	for _, n := range dir.children {
		w.nodes[join(p, n.name)] = n
	}
	for _, sd := range subdirs {
		if err := w.walk(sd.n, join(p, sd.n.name), sd.extent, sd.length, depth+1); err != nil {
			return err
		}
	}
	return nil
}

// readDir reads one directory's records.
func (w *walker) readDir(p string, extent, length int64) ([]byte, error) {
	if length > maxDirBytes {
		return nil, fmt.Errorf("%w: directory %q claims %d bytes (more than %d)", ErrCorrupt, p, length, maxDirBytes)
	}
	start := extent * w.blockSize
	if err := w.inImage(fmt.Sprintf("directory %q", p), start, length); err != nil {
		return nil, err
	}
	// Directories of a sane image do not overlap, so together they fit in it;
	// this bounds the work a hostile image can ask for.
	w.dirBytes += length
	if w.dirBytes > w.imageSize {
		return nil, fmt.Errorf("%w: directories add up to more than the image (overlapping directories)", ErrCorrupt)
	}
	buf := make([]byte, length)
	if _, err := w.r.ReadAt(buf, start); err != nil {
		return nil, fmt.Errorf("read directory %q: %w", p, err)
	}
	return buf, nil
}

// nextGroup appends to group the records making up the next entry: one
// record, or every section of a multi-extent file up to the one without
// the flag. It returns nil at the end of the directory.
func (w *walker) nextGroup(records *recordReader, group []dirRecord, p string) ([]dirRecord, error) {
	for {
		r, ok, err := records.next()
		switch {
		case err != nil:
			return nil, fmt.Errorf("directory %q: %w", p, err)
		case !ok && len(group) == 0:
			return nil, nil
		case !ok || len(group) > 0 && string(r.ident) != string(group[0].ident):
			return nil, fmt.Errorf("%w: multi-extent file %q in %q is missing its last section", ErrCorrupt, group[0].ident, p)
		}
		if w.entries++; w.entries > maxEntries {
			return nil, fmt.Errorf("%w: more than %d directory entries", ErrCorrupt, maxEntries)
		}
		group = append(group, r)
		if r.flags&flagMultiExt == 0 {
			return group, nil
		}
	}
}

// entry turns a record group into a node; a nil node means "not listed"
// (".", "..", associated files, relocated directories, symlinks, devices).
// For a directory it also returns its extent and length.
func (w *walker) entry(group []dirRecord, p string) (*node, int64, int64, error) {
	rec := group[0]
	if rec.isDot() || rec.isDotDot() || rec.flags&flagAssociated != 0 {
		return nil, 0, 0, nil
	}
	name, rr, err := w.decodeName(rec)
	if err != nil {
		return nil, 0, 0, fmt.Errorf("in directory %q: %w", p, err)
	}
	if rr.relocated || rr.special() {
		return nil, 0, 0, nil
	}
	n := &node{name: name, modTime: rec.recorded}
	if !rr.modTime.IsZero() {
		n.modTime = rr.modTime
	}
	switch {
	case rr.childLink >= 0:
		n.dir = true
		length, err := w.relocatedLength(join(p, name), rr.childLink)
		return n, rr.childLink, length, err
	case rec.flags&flagDirectory != 0:
		n.dir = true
		if len(group) > 1 {
			return nil, 0, 0, fmt.Errorf("%w: directory %q has the multi-extent flag", ErrCorrupt, join(p, name))
		}
		return n, rec.extent + rec.xattrLen, rec.length, nil
	}
	return n, 0, 0, w.fileSections(n, group, join(p, name))
}

// fileSections records where a regular file's bytes are.
func (w *walker) fileSections(n *node, group []dirRecord, name string) error {
	for _, r := range group {
		if r.interlv {
			return fmt.Errorf("file %q is recorded in interleaved mode, which kickstand does not read", name)
		}
		s := section{offset: (r.extent + r.xattrLen) * w.blockSize, size: r.length}
		if s.size == 0 {
			// Empty files may point anywhere; there are no bytes to find.
			s.offset = min(s.offset, w.imageSize)
		} else if err := w.inImage(fmt.Sprintf("file %q", name), s.offset, s.size); err != nil {
			return err
		}
		n.sections = append(n.sections, s)
		n.size += s.size
	}
	return nil
}

// relocatedLength finds the length of a directory moved by Rock Ridge
// (CL entry) from its own "." record.
func (w *walker) relocatedLength(p string, extent int64) (int64, error) {
	start := extent * w.blockSize
	if err := w.inImage(fmt.Sprintf("relocated directory %q", p), start, minRecordLen); err != nil {
		return 0, err
	}
	buf := make([]byte, minRecordLen)
	if _, err := w.r.ReadAt(buf, start); err != nil {
		return 0, fmt.Errorf("read relocated directory %q: %w", p, err)
	}
	buf[0] = minRecordLen // the name of "." is one byte: the fixed part suffices
	rec, err := parseDirRecord(buf)
	if err != nil || !rec.isDot() {
		return 0, fmt.Errorf("%w: Rock Ridge relocated directory %q does not start with a \".\" record", ErrCorrupt, p)
	}
	return rec.length, nil
}

// decodeName returns the entry's name in the chosen naming scheme, refusing
// names that could not be a path element.
func (w *walker) decodeName(rec dirRecord) (string, rockRidge, error) {
	rr := rockRidge{childLink: -1}
	var name string
	switch w.names {
	case jolietNames:
		name = stripVersion(decodeUCS2(rec.ident))
	case rockRidgeNames:
		var err error
		if rr, err = w.readRockRidge(rec); err != nil {
			return "", rr, err
		}
		if rr.hasName {
			name = string(rr.name)
			break
		}
		fallthrough
	default:
		name = stripVersion(string(rec.ident))
	}
	if !utf8.ValidString(name) {
		// fs paths are UTF-8; older media wrote ISO-8859-1. Two names that
		// collide this way are refused as duplicates.
		name = latin1(name)
	}
	// Nor a backslash, a separator to DOS-lineage TFTP clients (and refused
	// by fstest.TestFS), nor a control character, which would end a line of
	// an FTP listing or a log.
	if name == "" || name == "." || name == ".." || strings.ContainsAny(name, "/\\") || strings.IndexFunc(name, isControl) >= 0 {
		return "", rr, fmt.Errorf("%w: invalid %s name %q", ErrCorrupt, w.names, name)
	}
	return name, rr, nil
}

// latin1 decodes ISO-8859-1 bytes.
func latin1(s string) string {
	r := make([]rune, len(s))
	for i := range len(s) {
		r[i] = rune(s[i])
	}
	return string(r)
}

// sortChildren orders a directory's entries by name and refuses duplicates,
// which would make some file unreachable.
func sortChildren(dir *node, p string) error {
	slices.SortFunc(dir.children, func(a, b *node) int { return strings.Compare(a.name, b.name) })
	for i := 1; i < len(dir.children); i++ {
		if dir.children[i].name == dir.children[i-1].name {
			return fmt.Errorf("%w: directory %q lists %q twice", ErrCorrupt, p, dir.children[i].name)
		}
	}
	return nil
}

// join is path.Join for an index path ("." is the root).
func join(dir, name string) string {
	if dir == "." {
		return name
	}
	return dir + "/" + name
}
