// Package keep stores the nginx builds that served before a swap, by sha256, so that a build a
// swap was rolled back to can be put back on disk after the build that failed was installed
// there (nginx-upgradectl restore). A rolled-back master runs from a file dpkg has already
// replaced: /proc/PID/exe is then the only copy left of the build that works.
package keep

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"golang.org/x/sys/unix"

	"github.com/nginx-upgrade/nginx-upgrade/internal/nginx"
)

// DefaultDir holds the kept builds and the record of a failed swap; it survives reboots.
const DefaultDir = "/var/lib/nginx-upgrade"

// DefaultMax is how many builds are kept: the one serving and a few before it. A build is
// about as big as nginx's binary (1–2 MB).
const DefaultMax = 3

// Build is one kept build: builds/<sha256> is its executable, builds/<sha256>.json this.
type Build struct {
	SHA256  string    `json:"sha256"`
	Path    string    `json:"path"`              // the path it was started from
	Version string    `json:"version,omitempty"` // `nginx -v`, e.g. nginx/1.22.1
	Package string    `json:"package,omitempty"` // the dpkg package and version, e.g. "nginx 1.22.1-9"
	KeptAt  time.Time `json:"kept_at"`
}

// Store is a directory of kept builds, at most Max of them (DefaultMax when 0).
type Store struct {
	Dir string
	Max int
}

func (s Store) builds() string { return filepath.Join(s.Dir, "builds") }

// File is where the executable of the build with sum is kept.
func (s Store) File(sum string) string { return filepath.Join(s.builds(), sum) }

// open creates the store's directories, 0700, and checks them (see check).
func (s Store) open() error {
	for _, dir := range []string{s.Dir, s.builds()} {
		if err := os.MkdirAll(dir, 0o700); err != nil {
			return fmt.Errorf("create %s: %w", dir, err)
		}
	}
	return s.check()
}

// check checks that only root can write the store's directories: a kept build is put back at
// /usr/sbin/nginx, so no one else may be able to plant one.
func (s Store) check() error {
	for _, dir := range []string{s.Dir, s.builds()} {
		var st unix.Stat_t
		if err := unix.Lstat(dir, &st); err != nil {
			return fmt.Errorf("%s: %w", dir, err)
		}
		if st.Mode&unix.S_IFMT != unix.S_IFDIR || !nginx.TrustedOwner(st.Uid) || st.Mode&0o022 != 0 {
			return fmt.Errorf("%s must be a directory owned by root and writable by root alone (mode %04o, uid %d); fix it with: chown root: %[1]s && chmod 0700 %[1]s", dir, st.Mode&0o7777, st.Uid)
		}
	}
	return nil
}

// Keep copies the executable at src (a master's /proc/PID/exe: readable even when the file was
// deleted on disk) into the store under its sha256, with b's path, version and package, and
// drops the oldest builds beyond Max. Keeping a build already kept only marks it as the newest
// (and keeps the package it was kept with, which dpkg no longer names once it was replaced).
// The copy is written to a temporary file and renamed into place: a full disk leaves no half
// build behind.
func (s Store) Keep(src string, b Build) (Build, error) {
	if err := s.open(); err != nil {
		return b, err
	}
	tmp, err := os.CreateTemp(s.builds(), ".keep-*")
	if err != nil {
		return b, fmt.Errorf("keep the running build: %w", err)
	}
	defer os.Remove(tmp.Name()) // gone after the rename; what is left on an error
	sum, err := copyInto(tmp, src)
	if cerr := tmp.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return b, fmt.Errorf("keep the running build (copy of %s to %s): %w", src, s.builds(), err)
	}
	b = s.describe(sum, b)
	if err := s.place(sum, func(dst string) error { return os.Rename(tmp.Name(), dst) }); err != nil {
		return b, err
	}
	if err := writeJSON(s.File(sum)+".json", b); err != nil {
		return b, fmt.Errorf("keep the running build: %w", err)
	}
	return b, s.prune()
}

// Staged is a copy of a build in the store, and its description, that have no name yet:
// O_TMPFILE files, written and synced while a run still checks the new build, that Keep names
// once the run swaps and that vanish when closed, or when the process dies, otherwise. A run
// that swaps nothing thus leaves nothing behind, and one that swaps neither copies nor syncs on
// its way to USR2.
type Staged struct {
	store Store
	f     *os.File // the executable
	desc  *os.File // its description, once Describe wrote it
	b     Build
	src   string
}

// Stage copies the executable at src into an unnamed file in the store (see Staged). The store
// must exist already: a run stages before it knows it will swap, and must not create it then.
// Where the file system has no O_TMPFILE it fails; Keep then copies as before.
func (s Store) Stage(src string) (*Staged, error) {
	if err := s.check(); err != nil {
		return nil, err
	}
	f, err := s.unnamed()
	if err != nil {
		return nil, fmt.Errorf("stage the running build in %s: %w", s.builds(), err)
	}
	sum, err := copyInto(f, src)
	if err != nil {
		f.Close()
		return nil, fmt.Errorf("stage the running build (copy of %s to %s): %w", src, s.builds(), err)
	}
	return &Staged{store: s, f: f, b: Build{SHA256: sum}, src: src}, nil
}

// unnamed opens a new O_TMPFILE file in the builds directory.
func (s Store) unnamed() (*os.File, error) {
	fd, err := unix.Open(s.builds(), unix.O_TMPFILE|unix.O_WRONLY|unix.O_CLOEXEC, 0o600)
	if err != nil {
		return nil, err
	}
	return os.NewFile(uintptr(fd), filepath.Join(s.builds(), "(unnamed)")), nil
}

// Describe writes the staged build's description, b's path, version and package, into an
// unnamed file of its own, synced (see Keep for what keeping a build kept before keeps).
func (st *Staged) Describe(b Build) error {
	b = st.store.describe(st.b.SHA256, b)
	f, err := st.store.unnamed()
	if err == nil {
		if err = writeSynced(f, b); err != nil {
			f.Close()
		}
	}
	if err != nil {
		return fmt.Errorf("stage the running build's description: %w", err)
	}
	st.desc, st.b = f, b
	return nil
}

// SHA256 is the staged copy's sha256, taken while it was copied.
func (st *Staged) SHA256() string { return st.b.SHA256 }

// Close drops what was staged and not kept; after Keep it does nothing.
func (st *Staged) Close() error {
	if st.desc != nil {
		st.desc.Close()
	}
	return st.f.Close()
}

// Keep names the staged copy and its description (links: no copying, no syncing) and drops the
// oldest builds beyond Max, then closes st.
func (st *Staged) Keep() (Build, error) {
	defer st.Close()
	if st.desc == nil {
		return st.b, fmt.Errorf("keep the running build staged from %s: not described", st.src)
	}
	s := st.store
	if err := s.place(st.b.SHA256, func(dst string) error { return linkUnnamed(st.f, dst) }); err != nil {
		return st.b, err
	}
	// Linked beside, then renamed over the description of a build kept before.
	tmp := filepath.Join(s.builds(), fmt.Sprintf(".desc-%d-%d", os.Getpid(), time.Now().UnixNano()))
	err := linkUnnamed(st.desc, tmp)
	if err == nil {
		err = os.Rename(tmp, s.File(st.b.SHA256)+".json")
	}
	if err != nil {
		os.Remove(tmp)
		return st.b, fmt.Errorf("keep the running build: %w", err)
	}
	return st.b, s.prune()
}

// linkUnnamed names the O_TMPFILE file f dst: linkat through /proc/self/fd needs no
// CAP_DAC_READ_SEARCH.
func linkUnnamed(f *os.File, dst string) error {
	if err := unix.Linkat(unix.AT_FDCWD, fmt.Sprintf("/proc/self/fd/%d", f.Fd()), unix.AT_FDCWD, dst, unix.AT_SYMLINK_FOLLOW); err != nil {
		return &os.LinkError{Op: "link", Old: f.Name(), New: dst, Err: err}
	}
	return nil
}

// copyInto copies the file at src to dst and syncs dst; it returns src's sha256.
func copyInto(dst *os.File, src string) (string, error) {
	in, err := os.Open(src)
	if err != nil {
		return "", err
	}
	defer in.Close()
	h := sha256.New()
	if _, err := io.Copy(io.MultiWriter(dst, h), in); err != nil {
		return "", err
	}
	if err := dst.Sync(); err != nil {
		return "", err
	}
	return hex.EncodeToString(h.Sum(nil)), nil
}

// describe is b as kept with sum now: keeping a build kept before keeps the package it was kept
// with (dpkg no longer names it once it was replaced).
func (s Store) describe(sum string, b Build) Build {
	b.SHA256, b.KeptAt = sum, time.Now()
	if was, err := s.Get(sum); err == nil && b.Package == "" {
		b.Package = was.Package
	}
	return b
}

// place puts the executable of the build with sum in the store with put, unless it is there.
func (s Store) place(sum string, put func(dst string) error) error {
	if _, err := os.Stat(s.File(sum)); !errors.Is(err, os.ErrNotExist) {
		return nil
	}
	if err := put(s.File(sum)); err != nil {
		return fmt.Errorf("keep the running build: %w", err)
	}
	return nil
}

// Get returns the kept build with sum.
func (s Store) Get(sum string) (Build, error) {
	var b Build
	data, err := os.ReadFile(s.File(sum) + ".json")
	if err == nil {
		err = json.Unmarshal(data, &b)
	}
	if err == nil {
		_, err = os.Stat(s.File(sum))
	}
	if err != nil {
		return b, fmt.Errorf("kept build sha256 %.12s in %s: %w", sum, s.builds(), err)
	}
	return b, nil
}

// List returns the kept builds, the newest first.
func (s Store) List() ([]Build, error) {
	metas, err := filepath.Glob(filepath.Join(s.builds(), "*.json"))
	if err != nil {
		return nil, err
	}
	var list []Build
	for _, m := range metas {
		if b, err := s.Get(strings.TrimSuffix(filepath.Base(m), ".json")); err == nil {
			list = append(list, b)
		}
	}
	slices.SortFunc(list, func(a, b Build) int { return b.KeptAt.Compare(a.KeptAt) })
	return list, nil
}

// prune drops the oldest builds beyond Max.
func (s Store) prune() error {
	max := s.Max
	if max <= 0 {
		max = DefaultMax
	}
	list, err := s.List()
	if err != nil || len(list) <= max {
		return err
	}
	for _, b := range list[max:] {
		// The description first: a build without one is no longer listed, nor offered.
		if err := errors.Join(os.Remove(s.File(b.SHA256)+".json"), os.Remove(s.File(b.SHA256))); err != nil {
			return fmt.Errorf("drop the oldest kept build: %w", err)
		}
	}
	return nil
}

// writeJSON writes v to path through a temporary file renamed into place, so a reader sees the
// old content or the new, never a part.
func writeJSON(path string, v any) error {
	tmp, err := os.CreateTemp(filepath.Dir(path), ".tmp-*")
	if err != nil {
		return err
	}
	defer os.Remove(tmp.Name())
	err = writeSynced(tmp, v)
	if cerr := tmp.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Rename(tmp.Name(), path)
	}
	if err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	return nil
}

// writeSynced writes v to f as indented JSON and syncs f.
func writeSynced(f *os.File, v any) error {
	data, err := json.MarshalIndent(v, "", "  ")
	if err != nil {
		return err
	}
	if _, err := f.Write(append(data, '\n')); err != nil {
		return err
	}
	return f.Sync()
}
