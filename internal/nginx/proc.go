// Package nginx models a running nginx as the kernel shows it: masters, their workers, the pid files
// that name them and the binaries they run. It reads /proc and never trusts a pid on its own: a pid
// is paired with the process start time, so a recycled pid is never mistaken for the process we saw.
package nginx

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"strconv"
	"strings"
	"syscall"
)

// Proc is one process as read from /proc at one moment.
type Proc struct {
	Pid       int
	PPid      int
	State     byte   // from /proc/PID/stat: R, S, D, Z, ...
	StartTime uint64 // clock ticks after boot; with Pid, identifies the process
	CPUTicks  int64  // utime+stime+cutime+cstime: CPU of the process and the children it waited for
	Title     string // /proc/PID/cmdline joined by spaces; nginx rewrites it ("nginx: worker process")
}

func (p Proc) String() string { return fmt.Sprintf("pid=%d", p.Pid) }

// ErrNoProcess means the pid names no live process (a zombie counts as gone: orphaned nginx
// masters are reaped late, or never, by some PID 1s).
var ErrNoProcess = errors.New("no such process")

// procRoot is where /proc is mounted; tests of pure parsing do not need it.
const procRoot = "/proc"

// ReadProc reads pid's stat and cmdline.
func ReadProc(pid int) (Proc, error) {
	if pid <= 0 {
		return Proc{}, fmt.Errorf("pid %d: %w", pid, ErrNoProcess)
	}
	stat, err := os.ReadFile(fmt.Sprintf("%s/%d/stat", procRoot, pid))
	if err != nil {
		if errors.Is(err, os.ErrNotExist) || errors.Is(err, syscall.ESRCH) {
			return Proc{}, fmt.Errorf("pid %d: %w", pid, ErrNoProcess)
		}
		return Proc{}, fmt.Errorf("read /proc/%d/stat: %w", pid, err)
	}
	p, err := ParseStat(stat)
	if err != nil {
		return Proc{}, fmt.Errorf("parse /proc/%d/stat: %w", pid, err)
	}
	if p.State == 'Z' || p.State == 'X' {
		return Proc{}, fmt.Errorf("pid %d is a zombie: %w", pid, ErrNoProcess)
	}
	cmdline, err := os.ReadFile(fmt.Sprintf("%s/%d/cmdline", procRoot, pid))
	if err != nil {
		if errors.Is(err, os.ErrNotExist) || errors.Is(err, syscall.ESRCH) {
			return Proc{}, fmt.Errorf("pid %d: %w", pid, ErrNoProcess)
		}
		return Proc{}, fmt.Errorf("read /proc/%d/cmdline: %w", pid, err)
	}
	p.Title = ParseCmdline(cmdline)
	return p, nil
}

// ParseStat parses /proc/PID/stat. The command name is in parentheses and may itself contain
// spaces and parentheses, so fields are counted from the last ')'.
func ParseStat(b []byte) (Proc, error) {
	open := bytes.IndexByte(b, '(')
	end := bytes.LastIndexByte(b, ')')
	if open < 1 || end < open {
		return Proc{}, errors.New("no command name in parentheses")
	}
	pid, err := strconv.Atoi(string(bytes.TrimSpace(b[:open])))
	if err != nil || pid <= 0 {
		return Proc{}, fmt.Errorf("bad pid field %q", b[:open])
	}
	// After ") ": state(3) ppid(4) pgrp session tty tpgid flags minflt cminflt majflt cmajflt
	// utime stime cutime cstime priority nice threads itrealvalue starttime(22).
	f := strings.Fields(string(b[end+1:]))
	if len(f) < 20 {
		return Proc{}, fmt.Errorf("only %d fields after the command name", len(f))
	}
	if len(f[0]) != 1 {
		return Proc{}, fmt.Errorf("bad state field %q", f[0])
	}
	ppid, err := strconv.Atoi(f[1])
	if err != nil {
		return Proc{}, fmt.Errorf("bad ppid field %q", f[1])
	}
	start, err := strconv.ParseUint(f[19], 10, 64)
	if err != nil {
		return Proc{}, fmt.Errorf("bad starttime field %q", f[19])
	}
	var cpu int64
	for _, v := range f[11:15] {
		n, err := strconv.ParseInt(v, 10, 64)
		if err != nil {
			return Proc{}, fmt.Errorf("bad CPU time field %q", v)
		}
		cpu += n
	}
	return Proc{Pid: pid, PPid: ppid, State: f[0][0], StartTime: start, CPUTicks: cpu}, nil
}

// ParseCmdline turns NUL-separated argv into one line. nginx overwrites its argv with a title and
// pads it with NULs or spaces, so trailing padding is dropped.
func ParseCmdline(b []byte) string {
	b = bytes.TrimRight(b, "\x00 ")
	return string(bytes.ReplaceAll(b, []byte{0}, []byte{' '}))
}

// Alive reports whether the process seen as p still runs: same pid, same start time, not a zombie.
func Alive(p Proc) bool {
	now, err := ReadProc(p.Pid)
	return err == nil && now.StartTime == p.StartTime
}

// Children lists the live children of pid. Where the kernel offers /proc/PID/task/PID/children
// (CONFIG_PROC_CHILDREN) that is read directly; otherwise all of /proc is scanned, reading only each
// process's stat, and cmdline only for the children. nginx masters are single-threaded, so the main
// thread's list is complete.
func Children(pid int) ([]Proc, error) {
	if list, err := os.ReadFile(fmt.Sprintf("%s/%d/task/%d/children", procRoot, pid, pid)); err == nil {
		return childrenFromList(pid, string(list)), nil
	}
	return scanChildren(pid)
}

func childrenFromList(pid int, list string) []Proc {
	var kids []Proc
	for _, f := range strings.Fields(list) {
		n, err := strconv.Atoi(f)
		if err != nil {
			continue
		}
		if p, err := ReadProc(n); err == nil && p.PPid == pid {
			kids = append(kids, p)
		}
	}
	return kids
}

func scanChildren(pid int) ([]Proc, error) {
	entries, err := os.ReadDir(procRoot)
	if err != nil {
		return nil, fmt.Errorf("list %s: %w", procRoot, err)
	}
	var kids []Proc
	for _, e := range entries {
		n, err := strconv.Atoi(e.Name())
		if err != nil || n == pid {
			continue
		}
		stat, err := os.ReadFile(procRoot + "/" + e.Name() + "/stat")
		if err != nil {
			continue // exited while we looked
		}
		s, err := ParseStat(stat)
		if err != nil || s.PPid != pid {
			continue
		}
		p, err := ReadProc(n)
		if err != nil {
			continue
		}
		kids = append(kids, p)
	}
	return kids, nil
}

// Pending reports whether sig is pending for pid: sent, but not yet acted on. A master that has
// been sent USR2 is already upgrading even before it has renamed its pid file.
func Pending(pid int, sig syscall.Signal) (bool, error) {
	b, err := os.ReadFile(fmt.Sprintf("%s/%d/status", procRoot, pid))
	if err != nil {
		return false, fmt.Errorf("read /proc/%d/status: %w", pid, err)
	}
	return ParsePending(b, sig)
}

// ParsePending reads the process-wide (ShdPnd) and thread (SigPnd) pending masks of a
// /proc/PID/status file.
func ParsePending(status []byte, sig syscall.Signal) (bool, error) {
	if sig < 1 || sig > 64 {
		return false, fmt.Errorf("signal %d out of range", sig)
	}
	found := 0
	for line := range strings.Lines(string(status)) {
		key, val, ok := strings.Cut(line, ":")
		if !ok || (key != "ShdPnd" && key != "SigPnd") {
			continue
		}
		mask, err := strconv.ParseUint(strings.TrimSpace(val), 16, 64)
		if err != nil {
			return false, fmt.Errorf("bad %s mask %q", key, strings.TrimSpace(val))
		}
		if mask&(1<<(sig-1)) != 0 {
			return true, nil
		}
		found++
	}
	if found != 2 {
		return false, errors.New("no ShdPnd and SigPnd lines")
	}
	return false, nil
}
