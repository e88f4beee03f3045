package upgrade

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"golang.org/x/sys/unix"

	"github.com/nginx-upgrade/nginx-upgrade/internal/nginx"
	"github.com/nginx-upgrade/nginx-upgrade/internal/wait"
)

// DefaultLockDir holds one lock file per nginx (per pid file path). It lives on /run, so a reboot
// clears it, and the kernel drops a flock when its holder dies, so a killed helper never leaves
// a lock behind.
const DefaultLockDir = "/run/nginx-upgradectl"

var (
	// ErrBusy means another run holds the lock for the same nginx.
	ErrBusy = errors.New("another nginx-upgradectl run is working on this nginx")
	// ErrUnsafeLock means the lock directory or file could have been planted by someone else.
	ErrUnsafeLock = errors.New("unsafe lock path")
)

// lock takes the run lock for pidFile. The file is created without following symlinks, in a
// directory only root can write, so an unprivileged user cannot plant one.
func lock(dir, pidFile string) (release func(), err error) {
	abs, err := filepath.Abs(pidFile)
	if err != nil {
		return nil, fmt.Errorf("lock for %s: %w", pidFile, err)
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, fmt.Errorf("create lock directory: %w", err)
	}
	if err := rootOnlyDir(dir); err != nil {
		return nil, err
	}
	sum := sha256.Sum256([]byte(abs))
	path := filepath.Join(dir, "nginx-"+hex.EncodeToString(sum[:8])+".lock")
	fd, err := unix.Open(path, unix.O_RDWR|unix.O_CREAT|unix.O_NOFOLLOW|unix.O_CLOEXEC|unix.O_NONBLOCK, 0o600)
	if errors.Is(err, unix.ELOOP) {
		return nil, fmt.Errorf("lock file %s is a symlink; remove it: %w", path, ErrUnsafeLock)
	}
	if err != nil {
		return nil, fmt.Errorf("open lock file %s: %w", path, err)
	}
	var st unix.Stat_t
	if err := unix.Fstat(fd, &st); err != nil || !nginx.TrustedOwner(st.Uid) || st.Mode&unix.S_IFMT != unix.S_IFREG {
		unix.Close(fd)
		return nil, fmt.Errorf("lock file %s is not a regular file owned by root; remove it: %w", path, ErrUnsafeLock)
	}
	if err := unix.Flock(fd, unix.LOCK_EX|unix.LOCK_NB); err != nil {
		holder := readHolder(fd)
		unix.Close(fd)
		if errors.Is(err, unix.EWOULDBLOCK) {
			return nil, fmt.Errorf("%w (pid %s holds %s); wait for it to finish", ErrBusy, holder, path)
		}
		return nil, fmt.Errorf("lock %s: %w", path, err)
	}
	// Record who holds the lock, for the message a second run prints.
	if err := unix.Ftruncate(fd, 0); err == nil {
		unix.Pwrite(fd, []byte(strconv.Itoa(os.Getpid())+"\n"), 0)
	}
	return func() { unix.Close(fd) }, nil
}

// lockWithin takes the run lock for pidFile, waiting until deadline while another run holds it:
// a run started by a package hook or systemd waits for the one in progress, then decides afresh.
// A deadline passed already means no wait: the busy lock is refused at once.
func lockWithin(ctx context.Context, dir, pidFile string, deadline time.Time, every time.Duration) (release func(), waited time.Duration, err error) {
	release, err = lock(dir, pidFile)
	if !errors.Is(err, ErrBusy) || !time.Now().Before(deadline) {
		return release, 0, err
	}
	start := time.Now()
	ctx, cancel := context.WithDeadline(ctx, deadline)
	defer cancel()
	busy := err
	werr := wait.Until(ctx, every, func() (bool, error) {
		release, err = lock(dir, pidFile)
		return !errors.Is(err, ErrBusy), nil
	})
	if werr != nil {
		return nil, time.Since(start), fmt.Errorf("%w; still busy after waiting %s (--wait)", busy, time.Since(start).Round(time.Second))
	}
	return release, time.Since(start), err
}

func readHolder(fd int) string {
	buf := make([]byte, 16)
	n, _ := unix.Pread(fd, buf, 0)
	if s := strings.TrimSpace(string(buf[:max(n, 0)])); s != "" {
		return s
	}
	return "unknown"
}

// rootOnlyDir checks that dir is a real directory (not a symlink) that only root can write.
func rootOnlyDir(dir string) error {
	var st unix.Stat_t
	if err := unix.Lstat(dir, &st); err != nil {
		return fmt.Errorf("lock directory: %w", err)
	}
	if st.Mode&unix.S_IFMT != unix.S_IFDIR || !nginx.TrustedOwner(st.Uid) || st.Mode&0o022 != 0 {
		return fmt.Errorf("lock directory %s must be a directory owned by root and writable by root alone (mode %04o, uid %d): %w", dir, st.Mode&0o7777, st.Uid, ErrUnsafeLock)
	}
	return nil
}
