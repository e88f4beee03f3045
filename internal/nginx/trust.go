package nginx

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"syscall"
)

// ErrUntrusted means a file the helper would act on as root could have been written by someone
// else: a pid file an unprivileged user could point at any process, or a binary whose `-t` would
// run their code as root. systemd applies the same rule to PIDFile=.
var ErrUntrusted = errors.New("not trusted")

// TrustedOwner reports whether uid may own what the helper acts on: root, or the user the helper
// runs as (an unprivileged run can only harm that user, as systemd --user trusts its own PIDFile=).
func TrustedOwner(uid uint32) bool { return uid == 0 || uid == uint32(os.Geteuid()) }

// TrustPidFile checks that path is a regular file (not a symlink), owned by root (or the helper's
// own user, see TrustedOwner), writable by no one else, in a directory only its owner can write.
func TrustPidFile(path string) error {
	if err := trustFile(path, "pid file"); err != nil {
		return err
	}
	return trustDir(filepath.Dir(path), "pid file")
}

// TrustBinary checks that path is a regular file owned by root, writable by no one else, and that
// no directory above it can be written by anyone but root (a sticky directory such as /tmp is
// fine: there, others cannot replace root's entries).
func TrustBinary(path string) error {
	if err := trustFile(path, "binary"); err != nil {
		return err
	}
	abs, err := filepath.Abs(path)
	if err != nil {
		return err
	}
	for dir := filepath.Dir(abs); ; dir = filepath.Dir(dir) {
		if err := trustDir(dir, "binary"); err != nil {
			return err
		}
		if dir == "/" {
			return nil
		}
	}
}

func trustFile(path, what string) error {
	var st syscall.Stat_t
	if err := syscall.Lstat(path, &st); err != nil {
		return fmt.Errorf("%s %s: %w", what, path, &os.PathError{Op: "lstat", Path: path, Err: err})
	}
	switch {
	case st.Mode&syscall.S_IFMT == syscall.S_IFLNK:
		return fmt.Errorf("%s %s is a symlink: %w", what, path, ErrUntrusted)
	case st.Mode&syscall.S_IFMT != syscall.S_IFREG:
		return fmt.Errorf("%s %s is not a regular file: %w", what, path, ErrUntrusted)
	case !TrustedOwner(st.Uid):
		return fmt.Errorf("%s %s is owned by uid %d, not root: %w", what, path, st.Uid, ErrUntrusted)
	case st.Mode&0o022 != 0:
		return fmt.Errorf("%s %s is writable by group or others (mode %04o): %w", what, path, st.Mode&0o7777, ErrUntrusted)
	}
	return nil
}

func trustDir(dir, what string) error {
	var st syscall.Stat_t
	if err := syscall.Stat(dir, &st); err != nil {
		return fmt.Errorf("directory of %s %s: %w", what, dir, err)
	}
	sticky := st.Mode&syscall.S_ISVTX != 0
	switch {
	case !TrustedOwner(st.Uid):
		return fmt.Errorf("directory %s of the %s is owned by uid %d, not root: %w", dir, what, st.Uid, ErrUntrusted)
	case st.Mode&0o022 != 0 && !sticky:
		return fmt.Errorf("directory %s of the %s is writable by group or others (mode %04o): %w", dir, what, st.Mode&0o7777, ErrUntrusted)
	}
	return nil
}
