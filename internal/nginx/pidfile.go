package nginx

import (
	"errors"
	"fmt"
	"os"
	"strconv"
	"strings"
)

// ErrNoPidFile means the pid file does not exist: nginx is not running, or runs with another `pid`.
var ErrNoPidFile = errors.New("pid file does not exist")

// OldbinPath is where nginx moves the pid file of the old master while a new binary runs.
func OldbinPath(pidFile string) string { return pidFile + ".oldbin" }

// ReadPidFile reads a pid file as nginx writes it: decimal digits and a newline.
func ReadPidFile(path string) (int, error) {
	b, err := os.ReadFile(path)
	if errors.Is(err, os.ErrNotExist) {
		return 0, fmt.Errorf("%s: %w", path, ErrNoPidFile)
	}
	if err != nil {
		return 0, fmt.Errorf("read pid file: %w", err)
	}
	pid, err := ParsePid(b)
	if err != nil {
		return 0, fmt.Errorf("pid file %s: %w", path, err)
	}
	return pid, nil
}

// ParsePid parses pid file contents. Anything but one positive decimal number, optionally followed
// by a newline, is rejected: a root helper must not signal a pid it half-understood.
func ParsePid(b []byte) (int, error) {
	s := strings.TrimSuffix(string(b), "\n")
	if s == "" {
		return 0, errors.New("empty")
	}
	if s[0] == '0' {
		return 0, fmt.Errorf("%.12q is not a pid", s)
	}
	if len(s) > 10 {
		return 0, fmt.Errorf("%.12q… is not a pid", s)
	}
	for _, c := range s {
		if c < '0' || c > '9' {
			return 0, fmt.Errorf("%q is not a pid", s)
		}
	}
	pid, err := strconv.Atoi(s)
	if err != nil || pid <= 0 || pid > 1<<22 {
		return 0, fmt.Errorf("%q is not a pid", s)
	}
	return pid, nil
}
