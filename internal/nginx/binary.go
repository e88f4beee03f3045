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
	"time"
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

// InspectBinary identifies the file at path, hashes it and asks it for its version. The hash is
// taken from the same open file that was stat'ed, so a file replaced meanwhile is noticed.
func InspectBinary(ctx context.Context, path string) (Binary, error) {
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
	if b.Version, err = Version(ctx, path); err != nil {
		return Binary{}, err
	}
	return b, nil
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

// Config is what the helper needs to know of a configuration, read from `nginx -T`.
type Config struct {
	Workers    int  // worker_processes; 0 means "auto" (one per CPU nginx sees)
	Foreground bool // `daemon off` or `master_process off`: nginx ignores USR2 then
	// ShutdownTimeout is worker_shutdown_timeout: how long a quitting worker keeps its
	// connections before nginx closes them; 0 when unset (they last until their clients close).
	ShutdownTimeout time.Duration
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

// ParseConfig reads the facts the helper needs from a `-T` dump and the -g globals, tokenized as
// nginx tokenizes them (ngx_conf_read_token): directives may share a line, comments start wherever
// a token may, quotes and backslashes protect '#', ';' and braces. Only main-context directives
// count: those outside any block of the file `nginx -T` printed them in (each file follows a
// "# configuration file NAME:" line), and those of -g, which nginx reads first.
func ParseConfig(dump, globals string) (Config, error) {
	c := Config{Workers: 1} // nginx's default
	seen := map[string]bool{}
	apply := func(d []string) error {
		name := d[0]
		if name != "worker_processes" && name != "daemon" && name != "master_process" && name != "worker_shutdown_timeout" {
			return nil
		}
		if seen[name] {
			return fmt.Errorf("%s is duplicate", name)
		}
		seen[name] = true
		if len(d) != 2 {
			return fmt.Errorf("%s takes one argument, not %q", name, d[1:])
		}
		v := d[1]
		switch {
		case name == "worker_shutdown_timeout":
			d, err := ParseTime(v)
			if err != nil {
				return fmt.Errorf("worker_shutdown_timeout %q: %w", v, err)
			}
			c.ShutdownTimeout = d
		case name == "worker_processes" && v == "auto":
			c.Workers = 0
		case name == "worker_processes":
			n, err := strconv.Atoi(v)
			if err != nil || n < 1 || v[0] == '+' {
				return fmt.Errorf("worker_processes %q: not a number or auto", v)
			}
			c.Workers = n
		case strings.EqualFold(v, "off"):
			c.Foreground = true
		case !strings.EqualFold(v, "on"):
			return fmt.Errorf("%s %q: not on or off", name, v)
		}
		return nil
	}
	sections := []string{globals}
	for _, s := range strings.SplitAfter(dump, "\n") {
		if strings.HasPrefix(s, "# configuration file ") || len(sections) == 1 {
			sections = append(sections, "")
		}
		sections[len(sections)-1] += s
	}
	for _, s := range sections {
		if err := mainDirectives(s, apply); err != nil {
			return Config{}, err
		}
	}
	return c, nil
}

// mainDirectives calls f with each directive (name and arguments) outside any block of conf.
func mainDirectives(conf string, f func([]string) error) error {
	var (
		depth int
		d     []string
		tok   strings.Builder
		inTok bool
	)
	end := func() {
		if inTok {
			d = append(d, tok.String())
			tok.Reset()
			inTok = false
		}
	}
	for i := 0; i < len(conf); i++ {
		ch := conf[i]
		switch {
		case ch == '#' && !inTok:
			for i < len(conf) && conf[i] != '\n' {
				i++
			}
		case ch == ' ' || ch == '\t' || ch == '\r' || ch == '\n':
			end()
		case ch == ';' || ch == '{' || ch == '}':
			end()
			if ch == ';' && depth == 0 && len(d) > 0 {
				if err := f(d); err != nil {
					return err
				}
			}
			switch ch {
			case '{':
				depth++
			case '}':
				depth = max(depth-1, 0)
			}
			d = d[:0]
		case (ch == '"' || ch == '\'') && !inTok:
			inTok = true
			for i++; i < len(conf) && conf[i] != ch; i++ {
				if conf[i] == '\\' && i+1 < len(conf) {
					i++
				}
				tok.WriteByte(conf[i])
			}
			end()
		case ch == '\\' && i+1 < len(conf):
			inTok = true
			i++
			tok.WriteByte(conf[i])
		case ch == '$' && i+1 < len(conf) && conf[i+1] == '{':
			inTok = true
			tok.WriteString("${")
			i++
		default:
			inTok = true
			tok.WriteByte(ch)
		}
	}
	return nil
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
