package inventory

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"time"

	"kickstand/internal/distro"
	"kickstand/internal/store"
)

// DistroView is a distro and whether its media is still what was imported:
// "ok", "missing" or "changed".
type DistroView struct {
	store.Distro
	Status string
}

// Distros returns every distro with the status of its media.
func (inv *Inventory) Distros(ctx context.Context) ([]DistroView, error) {
	ds, err := inv.Store.Distros(ctx)
	out := make([]DistroView, 0, len(ds))
	for _, d := range ds {
		out = append(out, DistroView{d, CheckSource(d)})
	}
	return out, err
}

// Distro returns the distro called name.
func (inv *Inventory) Distro(ctx context.Context, name string) (DistroView, error) {
	d, err := inv.Store.Distro(ctx, name)
	if errors.Is(err, store.ErrNotFound) {
		return DistroView{}, notFound("distro %s does not exist (see kickstand distro list)", name)
	}
	return DistroView{d, CheckSource(d)}, err
}

// RemoveDistro forgets a distro; its media is left alone.
func (inv *Inventory) RemoveDistro(ctx context.Context, name string) error {
	err := inv.Store.RemoveDistro(ctx, name)
	switch {
	case errors.Is(err, store.ErrNotFound):
		return notFound("distro %s does not exist (see kickstand distro list)", name)
	case errors.Is(err, store.ErrInUse):
		return conflict("distro %s is used by a profile: remove its profiles first (kickstand profile list, kickstand profile remove NAME)", name)
	}
	return err
}

// ImportDistro registers the install tree at path (an ISO file or a
// directory, on this host) as distro name; an empty name takes the media's
// own (rocky-9.6-x86_64). Nothing reaches the store unless the whole
// import succeeds.
func (inv *Inventory) ImportDistro(ctx context.Context, name, path string) (store.Distro, error) {
	if name != "" {
		if err := CheckName("distro", name); err != nil {
			return store.Distro{}, err
		}
	}
	return Import(ctx, inv.Store, name, path, inv.Progress)
}

// Import registers the install tree at path (an ISO file or a directory) as
// distro name; an empty name takes the media's own (rocky-9.6-x86_64).
// Progress of the one-time ISO checksum goes to progress (nil for none).
// Nothing reaches the store unless the whole import succeeds.
func Import(ctx context.Context, s store.Store, name, path string, progress io.Writer) (store.Distro, error) {
	abs, err := filepath.Abs(path)
	if err != nil {
		return store.Distro{}, invalid("path", "distro import: %v", err)
	}
	st, err := os.Stat(abs)
	if err != nil {
		return store.Distro{}, &Error{Kind: Invalid, Field: "path", Msg: fmt.Sprintf("distro import: %v", err), Err: err}
	}
	var d store.Distro
	if st.IsDir() {
		d, err = describeDir(abs)
	} else {
		d, err = describeISO(ctx, abs, st, progress)
	}
	if err != nil {
		return store.Distro{}, &Error{Kind: Invalid, Field: "path", Msg: fmt.Sprintf("distro import %s: %v", path, err), Err: err}
	}
	if name != "" {
		d.Name = name
	}
	if d.Name == "" {
		return store.Distro{}, invalid("name", "distro import %s: the media does not name itself: give a NAME", path)
	}
	if err := s.AddDistro(ctx, d); errors.Is(err, store.ErrExists) {
		return store.Distro{}, conflict("distro %s already exists: choose another name or remove it with kickstand distro remove %s", d.Name, d.Name)
	} else if err != nil {
		return store.Distro{}, err
	}
	return d, nil
}

func fromInfo(in distro.Info) store.Distro {
	d := store.Distro{Name: in.Name(), Family: in.Family, Version: in.Version, Arch: in.Arch,
		Kernel: in.Kernel, Initrd: in.Initrd, Stage2: in.Stage2}
	for _, v := range in.Variants {
		d.Variants = append(d.Variants, store.Variant{ID: v.ID, Repository: v.Repository})
	}
	return d
}

func describeDir(dir string) (store.Distro, error) {
	in, err := distro.DetectDir(dir)
	if err != nil {
		return store.Distro{}, err
	}
	d := fromInfo(in)
	d.Kind, d.Source = store.SourceDir, dir
	err = filepath.WalkDir(dir, func(_ string, e fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if e.Type().IsRegular() {
			info, err := e.Info()
			if err != nil {
				return err
			}
			d.Size += info.Size()
		}
		return nil
	})
	return d, err
}

func describeISO(ctx context.Context, path string, st fs.FileInfo, progress io.Writer) (store.Distro, error) {
	in, iso, err := distro.DetectISO(path)
	if err != nil {
		return store.Distro{}, err
	}
	iso.Close()
	sum, err := checksum(ctx, path, st.Size(), progress)
	if err != nil {
		return store.Distro{}, err
	}
	d := fromInfo(in)
	d.Kind, d.Source, d.Size, d.ModTime, d.Checksum = store.SourceISO, path, st.Size(), st.ModTime(), sum
	return d, nil
}

// checksum returns the file's sha256, reporting progress a few times a second.
func checksum(ctx context.Context, path string, size int64, progress io.Writer) (string, error) {
	f, err := os.Open(path)
	if err != nil {
		return "", err
	}
	defer f.Close()
	h := sha256.New()
	buf := make([]byte, 4<<20)
	var done int64
	last := time.Now()
	for {
		if err := ctx.Err(); err != nil {
			return "", err
		}
		n, err := f.Read(buf)
		h.Write(buf[:n])
		done += int64(n)
		if progress != nil && (time.Since(last) > 200*time.Millisecond || err == io.EOF) {
			fmt.Fprintf(progress, "\rchecksum %s: %3d%% (%s of %s)", filepath.Base(path), percent(done, size), Human(done), Human(size))
			last = time.Now()
		}
		if err == io.EOF {
			break
		}
		if err != nil {
			return "", err
		}
	}
	if progress != nil {
		fmt.Fprintln(progress)
	}
	if done != size {
		return "", fmt.Errorf("%s changed while it was read (%d bytes, expected %d)", path, done, size)
	}
	return hex.EncodeToString(h.Sum(nil)), nil
}

func percent(done, size int64) int64 {
	if size == 0 {
		return 100
	}
	return done * 100 / size
}

// Human formats a byte count as the largest binary unit, e.g. 9.8 GiB.
func Human(n int64) string {
	const unit = 1024
	if n < unit {
		return fmt.Sprintf("%d B", n)
	}
	div, exp := int64(unit), 0
	for m := n / unit; m >= unit; m /= unit {
		div *= unit
		exp++
	}
	return fmt.Sprintf("%.1f %ciB", float64(n)/float64(div), "KMGTPE"[exp])
}

// CheckSource says whether a distro's source is still what was imported:
// "ok", "missing" or "changed".
func CheckSource(d store.Distro) string {
	st, err := os.Stat(d.Source)
	switch {
	case err != nil:
		return "missing"
	case d.Kind == store.SourceISO && (st.Size() != d.Size || !st.ModTime().Equal(d.ModTime)):
		return "changed"
	}
	return "ok"
}

// EnsureISOs makes every ISO in paths a distro with a default profile of
// the same name, importing those seen for the first time. It returns the
// distro names in the order given.
func EnsureISOs(ctx context.Context, s store.Store, paths []string, progress io.Writer) ([]string, error) {
	all, err := s.Distros(ctx)
	if err != nil {
		return nil, err
	}
	var names []string
	for _, p := range paths {
		abs, err := filepath.Abs(p)
		if err != nil {
			return nil, err
		}
		d, found := findSource(all, abs)
		if found {
			if status := CheckSource(d); status != "ok" {
				return nil, fmt.Errorf("--iso %s: the ISO %s since it was imported as distro %s: re-import it with kickstand distro remove %s && kickstand distro import %s %s",
					p, status, d.Name, d.Name, d.Name, p)
			}
		} else if d, err = Import(ctx, s, "", abs, progress); err != nil {
			return nil, err
		}
		if _, err := s.Profile(ctx, d.Name); errors.Is(err, store.ErrNotFound) {
			if err := s.AddProfile(ctx, store.Profile{Name: d.Name, Distro: d.Name}); err != nil {
				return nil, err
			}
		} else if err != nil {
			return nil, err
		}
		names = append(names, d.Name)
	}
	return names, nil
}

func findSource(all []store.Distro, path string) (store.Distro, bool) {
	for _, d := range all {
		if d.Kind == store.SourceISO && d.Source == path {
			return d, true
		}
	}
	return store.Distro{}, false
}
