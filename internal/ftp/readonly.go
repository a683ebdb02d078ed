package ftp

import (
	"errors"
	"fmt"
	"io/fs"
	"net/netip"
	"os"
	"path"
	"strings"
	"time"

	ftpserver "github.com/fclairamb/ftpserverlib"
	"github.com/spf13/afero"
)

// errReadOnly is why every change to the tree is refused; it wraps
// fs.ErrPermission. ftpserverlib answers it with 550.
var errReadOnly = fmt.Errorf("kickstand's FTP is read-only: %w", fs.ErrPermission)

// errIsDir is why RETR of a directory is refused.
var errIsDir = errors.New("is a directory")

// writeFlags are the open flags of an upload (STOR, APPE).
const writeFlags = os.O_WRONLY | os.O_RDWR | os.O_APPEND | os.O_CREATE | os.O_TRUNC

func refuse(op, name string) error {
	return &fs.PathError{Op: op, Path: name, Err: errReadOnly}
}

// fsPath turns an FTP path (absolute, as ftpserverlib passes it, or not)
// into a path of the tree. Cleaning it as a rooted path drops every ".."
// that would climb above the root, so no name reaches outside the tree.
func fsPath(name string) (string, error) {
	p := strings.TrimPrefix(path.Clean("/"+name), "/")
	if p == "" {
		return ".", nil
	}
	if !fs.ValidPath(p) || strings.ContainsRune(p, 0) {
		return "", &fs.PathError{Op: "open", Path: name, Err: fs.ErrInvalid}
	}
	return p, nil
}

// hidePath names the client's path in err instead of the host path an
// *os.File puts there: ftpserverlib sends error texts to the client.
func hidePath(err error, name string) error {
	var pe *fs.PathError
	if errors.As(err, &pe) && pe.Path != name {
		return &fs.PathError{Op: pe.Op, Path: name, Err: pe.Err}
	}
	return err
}

// clientDriver is one logged-in client's view of the tree: an afero.Fs over
// fs.FS in which every method that would change something fails with
// errReadOnly. It also implements ftpserverlib's extensions for listings,
// downloads and SITE, so that ftpserverlib never needs an afero.File.
type clientDriver struct {
	fsys    fs.FS
	cc      ftpserver.ClientContext
	client  netip.Addr
	control *controlConn // nil if unknown; counts the open downloads
	main    *mainDriver
}

var (
	_ ftpserver.ClientDriver                      = (*clientDriver)(nil)
	_ ftpserver.ClientDriverExtensionFileList     = (*clientDriver)(nil)
	_ ftpserver.ClientDriverExtentionFileTransfer = (*clientDriver)(nil)
	_ ftpserver.ClientDriverExtensionSite         = (*clientDriver)(nil)
)

func (d *clientDriver) Name() string { return "kickstand read-only tree" }

// The methods that would change the tree all refuse.

func (d *clientDriver) Create(name string) (afero.File, error)    { return nil, refuse("create", name) }
func (d *clientDriver) Mkdir(name string, _ os.FileMode) error    { return refuse("mkdir", name) }
func (d *clientDriver) MkdirAll(name string, _ os.FileMode) error { return refuse("mkdir", name) }
func (d *clientDriver) Remove(name string) error                  { return refuse("remove", name) }
func (d *clientDriver) RemoveAll(name string) error               { return refuse("remove", name) }
func (d *clientDriver) Rename(oldname, _ string) error            { return refuse("rename", oldname) }
func (d *clientDriver) Chmod(name string, _ os.FileMode) error    { return refuse("chmod", name) }
func (d *clientDriver) Chown(name string, _, _ int) error         { return refuse("chown", name) }
func (d *clientDriver) Chtimes(name string, _, _ time.Time) error { return refuse("chtimes", name) }

// Stat describes a file or directory of the tree. During RNFR it fails:
// ftpserverlib only stats the source of a rename there, and a read-only
// server should refuse the rename at once rather than ask for its target.
func (d *clientDriver) Stat(name string) (os.FileInfo, error) {
	if d.cc.GetLastCommand() == "RNFR" {
		return nil, refuse("rename", name)
	}
	p, err := fsPath(name)
	if err != nil {
		return nil, err
	}
	info, err := fs.Stat(d.fsys, p)
	return info, hidePath(err, name)
}

// Open opens a file of the tree for reading. ftpserverlib does not call it
// since the driver implements ReadDir and GetHandle; it is here for afero.Fs.
func (d *clientDriver) Open(name string) (afero.File, error) {
	p, err := fsPath(name)
	if err != nil {
		return nil, err
	}
	f, err := afero.FromIOFS{FS: d.fsys}.Open(p)
	return f, hidePath(err, name)
}

// OpenFile opens a file for reading and refuses any other flag.
func (d *clientDriver) OpenFile(name string, flag int, _ os.FileMode) (afero.File, error) {
	if flag&writeFlags != 0 {
		return nil, refuse("open", name)
	}
	return d.Open(name)
}

// ReadDir lists a directory for LIST, NLST, MLSD and STAT.
func (d *clientDriver) ReadDir(name string) ([]os.FileInfo, error) {
	p, err := fsPath(name)
	if err != nil {
		return nil, err
	}
	entries, err := fs.ReadDir(d.fsys, p)
	if err != nil {
		return nil, hidePath(err, name)
	}
	infos := make([]os.FileInfo, 0, len(entries))
	for _, e := range entries {
		info, err := e.Info()
		if errors.Is(err, fs.ErrNotExist) {
			continue // gone since the directory was read
		}
		if err != nil {
			return nil, hidePath(err, name)
		}
		infos = append(infos, info)
	}
	return infos, nil
}

// GetHandle opens a file for RETR and refuses uploads. ftpserverlib seeks
// the handle to the REST offset itself.
func (d *clientDriver) GetHandle(name string, flags int, _ int64) (ftpserver.FileTransfer, error) {
	if flags&writeFlags != 0 {
		d.main.log.Debug("ftp: refusing upload", "client", d.client, "file", name)
		return nil, refuse("upload", name)
	}
	p, err := fsPath(name)
	if err != nil {
		return nil, err
	}
	f, err := d.fsys.Open(p)
	if err != nil {
		return nil, hidePath(err, name)
	}
	info, err := f.Stat()
	if err == nil && info.IsDir() {
		err = &fs.PathError{Op: "retr", Path: name, Err: errIsDir}
	}
	if err == nil && !d.main.life.acquire() {
		err = &fs.PathError{Op: "retr", Path: name, Err: errors.New("server is shutting down")}
	}
	if err != nil {
		_ = f.Close()
		return nil, hidePath(err, name)
	}
	dl := newDownload(f, p, d.client, d.main)
	if d.control != nil {
		d.control.downloads.Add(1)
		dl.control = d.control
	}
	return dl, nil
}

// Site refuses every SITE command (CHMOD, CHOWN, SYMLINK, MKDIR, RMDIR...):
// they all change the tree.
func (d *clientDriver) Site(param string) *ftpserver.AnswerCommand {
	command, _, _ := strings.Cut(strings.TrimSpace(param), " ")
	d.main.log.Debug("ftp: refusing SITE", "client", d.client, "command", command)
	return &ftpserver.AnswerCommand{
		Code:    550,
		Message: fmt.Sprintf("SITE %s refused: kickstand's FTP is read-only", strings.ToUpper(command)),
	}
}
