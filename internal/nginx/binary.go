package nginx

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"os"
	"os/exec"
	"regexp"
	"strings"
	"syscall"
)

// Binary is an nginx executable on disk.
type Binary struct {
	Path    string
	Dev     uint64
	Ino     uint64
	Size    int64
	SHA256  string
	Version string // from `nginx -v`, e.g. "nginx/1.22.1"

	info os.FileInfo // what os.SameFile compares; nil for the zero Binary
}

// SameFileAt reports whether path names, right now, the file b describes.
func (b Binary) SameFileAt(path string) bool {
	now, err := os.Stat(path)
	return err == nil && b.info != nil && os.SameFile(b.info, now)
}

// StatBinary identifies the file at path without running it.
func StatBinary(path string) (Binary, error) {
	fi, err := os.Stat(path)
	if err != nil {
		return Binary{}, fmt.Errorf("new binary %s: %w", path, err)
	}
	if !fi.Mode().IsRegular() {
		return Binary{}, fmt.Errorf("new binary %s is not a regular file", path)
	}
	if fi.Mode()&0o111 == 0 {
		return Binary{}, fmt.Errorf("new binary %s is not executable", path)
	}
	return binaryOf(path, fi), nil
}

// binaryOf fills in the identity of the file fi describes.
func binaryOf(path string, fi os.FileInfo) Binary {
	b := Binary{Path: path, Size: fi.Size(), info: fi}
	if st, ok := fi.Sys().(*syscall.Stat_t); ok {
		b.Dev, b.Ino = st.Dev, st.Ino
	}
	return b
}

// InspectBinary identifies the file at path, hashes it and asks it for its version.
func InspectBinary(ctx context.Context, path string) (Binary, error) {
	b, err := HashBinary(path)
	if err != nil {
		return Binary{}, err
	}
	if b.Version, err = Version(ctx, path); err != nil {
		return Binary{}, err
	}
	return b, nil
}

// HashBinary identifies the file at path and hashes it, without running it. The hash is taken
// from the same open file that was stat'ed, so a file replaced meanwhile is noticed.
func HashBinary(path string) (Binary, error) {
	b, err := StatBinary(path)
	if err != nil {
		return Binary{}, err
	}
	sum, hashed, err := hashFile(path)
	if err != nil {
		return Binary{}, fmt.Errorf("hash %s: %w", path, err)
	}
	if !os.SameFile(b.info, hashed) {
		return Binary{}, fmt.Errorf("%s was replaced while it was inspected; run again once the install has finished", path)
	}
	b.SHA256 = sum
	return b, nil
}

// HashFile returns the sha256 of the file at path, hex-encoded.
func HashFile(path string) (string, error) {
	sum, _, err := hashFile(path)
	return sum, err
}

// hashFile hashes the file at path and says which file it hashed.
func hashFile(path string) (sum string, fi os.FileInfo, err error) {
	f, err := os.Open(path)
	if err != nil {
		return "", nil, err
	}
	defer f.Close()
	if fi, err = f.Stat(); err != nil {
		return "", nil, err
	}
	h := sha256.New()
	if _, err := io.Copy(h, f); err != nil {
		return "", nil, err
	}
	return hex.EncodeToString(h.Sum(nil)), fi, nil
}

var versionRE = regexp.MustCompile(`nginx version: ([!-~]+)(?:[ \t\r\n]|$)`)

// Version runs `path -v`. path may be /proc/PID/exe, which runs a master's binary even after it
// was replaced on disk.
func Version(ctx context.Context, path string) (string, error) {
	out, err := exec.CommandContext(ctx, path, "-v").CombinedOutput()
	if err != nil {
		return "", fmt.Errorf("%s -v: %w: %s", path, err, firstLine(out))
	}
	return ParseVersion(out)
}

// ParseVersion extracts "nginx/1.22.1" from `nginx -v` output.
func ParseVersion(out []byte) (string, error) {
	m := versionRE.FindSubmatch(out)
	if m == nil {
		return "", fmt.Errorf("no version in %q", firstLine(out))
	}
	return string(m[1]), nil
}

func firstLine(b []byte) string {
	s, _, _ := strings.Cut(strings.TrimSpace(string(b)), "\n")
	return s
}

// RunningBinary identifies the build a process runs, even one replaced on disk since it started,
// through /proc/PID/exe.
func RunningBinary(ctx context.Context, pid int) (Binary, error) {
	exe := fmt.Sprintf("%s/%d/exe", procRoot, pid)
	sum, fi, err := hashFile(exe)
	if err != nil {
		return Binary{}, fmt.Errorf("hash executable of pid %d: %w", pid, err)
	}
	b := binaryOf(exe, fi)
	b.SHA256 = sum
	if b.Version, err = Version(ctx, exe); err != nil {
		return Binary{}, err
	}
	return b, nil
}
