package nginx

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"regexp"
	"strconv"
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
}

// StatBinary identifies the file at path without running it.
func StatBinary(path string) (Binary, error) {
	var st syscall.Stat_t
	if err := syscall.Stat(path, &st); err != nil {
		return Binary{}, fmt.Errorf("new binary %s: %w", path, err)
	}
	if st.Mode&syscall.S_IFMT != syscall.S_IFREG {
		return Binary{}, fmt.Errorf("new binary %s is not a regular file", path)
	}
	if st.Mode&0o111 == 0 {
		return Binary{}, fmt.Errorf("new binary %s is not executable", path)
	}
	return Binary{Path: path, Dev: st.Dev, Ino: st.Ino, Size: st.Size}, nil
}

// InspectBinary identifies the file at path, hashes it and asks it for its version. The hash is
// taken from the same open file that was stat'ed, so a file replaced meanwhile is noticed.
func InspectBinary(ctx context.Context, path string) (Binary, error) {
	b, err := StatBinary(path)
	if err != nil {
		return Binary{}, err
	}
	sum, dev, ino, err := hashFile(path)
	if err != nil {
		return Binary{}, fmt.Errorf("hash %s: %w", path, err)
	}
	if dev != b.Dev || ino != b.Ino {
		return Binary{}, fmt.Errorf("%s was replaced while it was inspected; run again once the install has finished", path)
	}
	b.SHA256 = sum
	if b.Version, err = Version(ctx, path); err != nil {
		return Binary{}, err
	}
	return b, nil
}

func hashFile(path string) (sum string, dev, ino uint64, err error) {
	f, err := os.Open(path)
	if err != nil {
		return "", 0, 0, err
	}
	defer f.Close()
	var st syscall.Stat_t
	if err := syscall.Fstat(int(f.Fd()), &st); err != nil {
		return "", 0, 0, err
	}
	h := sha256.New()
	if _, err := io.Copy(h, f); err != nil {
		return "", 0, 0, err
	}
	return hex.EncodeToString(h.Sum(nil)), st.Dev, st.Ino, nil
}

var versionRE = regexp.MustCompile(`nginx version: (\S+)`)

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

// Config is what the helper needs to know of a configuration, read from `nginx -T`.
type Config struct {
	Workers    int  // worker_processes; 0 means "auto" (one per CPU nginx sees)
	Foreground bool // `daemon off` or `master_process off`: nginx ignores USR2 then
}

// ErrConfigRejected means the binary's `-t` failed: the new build would not start.
var ErrConfigRejected = errors.New("configuration test failed")

// TestConfig runs `binary -T` with the master's start arguments: the configuration test that
// the new master would otherwise fail at startup, plus a dump of the configuration to read.
func TestConfig(ctx context.Context, binary string, args StartArgs) (Config, error) {
	cmd := exec.CommandContext(ctx, binary, append([]string{"-T"}, args.Flags()...)...)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		msg := strings.TrimSpace(stderr.String())
		if msg == "" {
			msg = err.Error()
		}
		return Config{}, fmt.Errorf("%s -t: %w: %s", binary, ErrConfigRejected, msg)
	}
	return ParseConfig(stdout.String(), args.Globals)
}

var (
	workersRE    = regexp.MustCompile(`(?m)^\s*worker_processes\s+(\S+?)\s*;`)
	foregroundRE = regexp.MustCompile(`(?m)(?:^|;)\s*(?:daemon|master_process)\s+off\s*;`)
)

// ParseConfig reads the facts the helper needs from a `-T` dump and the -g globals.
func ParseConfig(dump, globals string) (Config, error) {
	var c Config
	if m := workersRE.FindStringSubmatch(dump); m == nil {
		c.Workers = 1 // nginx's default
	} else if m[1] != "auto" {
		n, err := strconv.Atoi(m[1])
		if err != nil || n < 1 {
			return Config{}, fmt.Errorf("worker_processes %q: not a number or auto", m[1])
		}
		c.Workers = n
	}
	c.Foreground = foregroundRE.MatchString(stripComments(dump)) || foregroundRE.MatchString(globals)
	return c, nil
}

func stripComments(s string) string {
	var b strings.Builder
	for line := range strings.Lines(s) {
		if i := strings.IndexByte(line, '#'); i >= 0 {
			line = line[:i] + "\n"
		}
		b.WriteString(line)
	}
	return b.String()
}

func firstLine(b []byte) string {
	s, _, _ := strings.Cut(strings.TrimSpace(string(b)), "\n")
	return s
}

// RunningBinary identifies the build a process runs, even one replaced on disk since it started,
// through /proc/PID/exe.
func RunningBinary(ctx context.Context, pid int) (Binary, error) {
	exe := fmt.Sprintf("%s/%d/exe", procRoot, pid)
	sum, dev, ino, err := hashFile(exe)
	if err != nil {
		return Binary{}, fmt.Errorf("hash executable of pid %d: %w", pid, err)
	}
	v, err := Version(ctx, exe)
	if err != nil {
		return Binary{}, err
	}
	return Binary{Path: exe, Dev: dev, Ino: ino, SHA256: sum, Version: v}, nil
}
