package distro

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
)

// Errors OpenISO and ISO.Extent wrap; test them with errors.Is.
var (
	// ErrNotISO means the file is not an ISO9660 image at all.
	ErrNotISO = errors.New("not an ISO9660 image")
	// ErrTruncated means something the image describes lies past its end,
	// which is what an interrupted download looks like.
	ErrTruncated = errors.New("extends past the end of the image: truncated download?")
	// ErrCorrupt means the image's structure is damaged or hostile (loops,
	// impossible names, sizes beyond any real install medium).
	ErrCorrupt = errors.New("corrupt ISO9660 image")
	// ErrMultiExtent means a file (over 4 GiB) is stored in several extents,
	// so no single byte range holds it; read it through ISO.FS instead.
	ErrMultiExtent = errors.New("file is stored in several extents, not one byte range")
)

// ISO is an opened, fully indexed ISO9660 image: names come from Rock
// Ridge when present, else Joliet, else plain ISO9660 with ";1" stripped.
// Its files are read straight from the image file; it is safe for
// concurrent use.
type ISO struct {
	path     string
	closer   io.Closer
	r        io.ReaderAt
	volumeID string
	names    nameSource
	nodes    map[string]*node // every entry by slash path; "." is the root
}

// OpenISO reads the volume descriptors of the image at path and indexes
// its whole directory tree, refusing damaged or hostile images.
func OpenISO(path string) (*ISO, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	st, err := f.Stat()
	if err == nil && st.IsDir() {
		err = errors.New("is a directory, not an ISO file")
	}
	var iso *ISO
	if err == nil {
		iso, err = readISO(f, st.Size(), path)
	}
	if err != nil {
		f.Close()
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	iso.closer = f
	return iso, nil
}

// readISO indexes the image in r (size bytes); path is only for messages.
func readISO(r io.ReaderAt, size int64, path string) (*ISO, error) {
	if size == 0 {
		return nil, fmt.Errorf("%w: the file is empty", ErrNotISO)
	}
	if size < (firstDescriptor+1)*sectorSize {
		return nil, fmt.Errorf("%w: the file has only %d bytes and an ISO9660 image has its first volume descriptor at byte %d", ErrNotISO, size, firstDescriptor*sectorSize)
	}
	pvd, joliet, err := readDescriptors(r, size)
	if err != nil {
		return nil, err
	}
	if end := pvd.blocks * pvd.blockSize; end > size {
		return nil, fmt.Errorf("the volume (%d blocks of %d bytes) %w (the file has %d bytes)", pvd.blocks, pvd.blockSize, ErrTruncated, size)
	}
	w := &walker{r: r, imageSize: size, blockSize: pvd.blockSize, visited: map[int64]string{}, nodes: map[string]*node{}}
	tree := pvd
	rootDot, err := w.firstRecord(pvd.root)
	if err != nil {
		return nil, err
	}
	if ok, skip := hasRockRidge(rootDot); ok {
		w.names, w.suspSkip = rockRidgeNames, skip
	} else if joliet != nil {
		w.names, w.blockSize, tree = jolietNames, joliet.blockSize, *joliet
	}
	root := &node{name: ".", dir: true, modTime: tree.root.recorded}
	w.nodes["."] = root
	if err := w.walk(root, ".", tree.root.extent+tree.root.xattrLen, tree.root.length, 0); err != nil {
		return nil, err
	}
	return &ISO{path: path, r: r, volumeID: pvd.volumeID, names: w.names, nodes: w.nodes}, nil
}

// readDescriptors reads the volume descriptor set from sector 16 on and
// returns the primary descriptor and, if there is one, the Joliet one.
func readDescriptors(r io.ReaderAt, size int64) (pvd volumeDescriptor, joliet *volumeDescriptor, err error) {
	buf := make([]byte, sectorSize)
	havePVD := false
descriptors:
	for i := int64(0); i < maxDescriptors; i++ {
		off := (firstDescriptor + i) * sectorSize
		if off+sectorSize > size {
			break
		}
		if _, err := r.ReadAt(buf, off); err != nil {
			return pvd, nil, fmt.Errorf("read volume descriptor at sector %d: %w", firstDescriptor+i, err)
		}
		if string(buf[1:6]) != "CD001" {
			if i == 0 {
				return pvd, nil, fmt.Errorf("%w: no CD001 volume descriptor at sector %d", ErrNotISO, firstDescriptor)
			}
			break // unterminated set: use what was found, as Linux does
		}
		switch buf[0] {
		case vdTerminator:
			break descriptors
		case vdPrimary:
			if !havePVD {
				if pvd, err = parseVolumeDescriptor(buf); err != nil {
					return pvd, nil, fmt.Errorf("primary volume descriptor: %w", err)
				}
				havePVD = true
			}
		case vdSupplementary:
			if vd, err := parseVolumeDescriptor(buf); err == nil && vd.jolietName && joliet == nil {
				joliet = &vd
			}
		}
	}
	if !havePVD {
		return pvd, nil, fmt.Errorf("%w: no primary volume descriptor", ErrNotISO)
	}
	return pvd, joliet, nil
}

// firstRecord reads the first record of a directory: its "." entry, whose
// System Use area announces Rock Ridge.
func (w *walker) firstRecord(dir dirRecord) (dirRecord, error) {
	start := (dir.extent + dir.xattrLen) * w.blockSize
	length := min(dir.length, sectorSize)
	if err := w.inImage("the root directory", start, length); err != nil {
		return dirRecord{}, err
	}
	buf := make([]byte, length)
	if _, err := w.r.ReadAt(buf, start); err != nil {
		return dirRecord{}, fmt.Errorf("read the root directory: %w", err)
	}
	if len(buf) < minRecordLen || int(buf[0]) > len(buf) {
		return dirRecord{}, fmt.Errorf("%w: the root directory has no \".\" record", ErrCorrupt)
	}
	return parseDirRecord(buf[:buf[0]])
}

// Close closes the image file; files opened from FS fail afterwards.
func (i *ISO) Close() error {
	if i.closer == nil {
		return nil
	}
	return i.closer.Close()
}

// Path is the image file as given to OpenISO.
func (i *ISO) Path() string { return i.path }

// VolumeID is the primary volume identifier, e.g. "Rocky-9-6-x86_64-dvd".
func (i *ISO) VolumeID() string { return i.volumeID }

// Naming says where names come from: "Rock Ridge", "Joliet" or "ISO9660".
func (i *ISO) Naming() string { return i.names.String() }

// FS is the image's tree as a read-only file system; names are slash
// paths without a leading "/".
func (i *ISO) FS() fs.FS { return isoFS{i} }

// Extent returns where a regular file's bytes are inside the ISO file, for
// serving them with sendfile. A file over 4 GiB stored in several extents
// gives ErrMultiExtent.
func (i *ISO) Extent(name string) (offset, size int64, err error) {
	n, err := i.lookup("extent", name)
	if err != nil {
		return 0, 0, err
	}
	switch {
	case n.dir:
		return 0, 0, &fs.PathError{Op: "extent", Path: name, Err: errIsDir}
	case len(n.sections) > 1:
		return 0, 0, &fs.PathError{Op: "extent", Path: name, Err: ErrMultiExtent}
	}
	return n.sections[0].offset, n.size, nil
}

// lookup finds an entry by fs.FS path.
func (i *ISO) lookup(op, name string) (*node, error) {
	if !fs.ValidPath(name) {
		return nil, &fs.PathError{Op: op, Path: name, Err: fs.ErrInvalid}
	}
	n, ok := i.nodes[name]
	if !ok {
		return nil, &fs.PathError{Op: op, Path: name, Err: fs.ErrNotExist}
	}
	return n, nil
}
