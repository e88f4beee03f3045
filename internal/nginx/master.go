package nginx

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"
)

// ErrNotMaster means a pid names a live process that is not an nginx master: a stale pid file
// whose pid was reused, or a wrong --pid-file.
var ErrNotMaster = errors.New("not an nginx master process")

// Worker titles. A worker told to stop (WINCH, QUIT, HUP) closes its listeners, renames itself and
// finishes the requests in flight: it no longer accepts, so it does not count as serving.
const (
	workerTitle         = "nginx: worker process"
	workerShuttingTitle = "nginx: worker process is shutting down"
)

// Exe is the executable a process runs. Dev and Ino identify the file even after it was replaced
// on disk (then Deleted is true): that is how a master on the old build is told from one on the new.
type Exe struct {
	Path    string
	Deleted bool
	Dev     uint64
	Ino     uint64

	info os.FileInfo // what os.SameFile compares
}

// SameFile reports whether e runs the file b describes.
func (e Exe) SameFile(b Binary) bool {
	return e.info != nil && b.info != nil && os.SameFile(e.info, b.info)
}

// Master is a verified nginx master process.
type Master struct {
	Proc
	Exe  Exe
	Args StartArgs
}

// ReadMaster reads pid and checks it is an nginx master: its title says so and its executable is
// an nginx binary. Either check alone can be fooled (a process can set any title; a renamed nginx
// binary can run as anything), so both must hold.
func ReadMaster(pid int) (Master, error) {
	p, err := ReadProc(pid)
	if err != nil {
		return Master{}, err
	}
	if !strings.HasPrefix(p.Title, MasterTitle) {
		return Master{}, fmt.Errorf("pid %d (%q): %w", pid, short(p.Title), ErrNotMaster)
	}
	exe, err := ReadExe(pid)
	if err != nil {
		return Master{}, err
	}
	if ok, err := hasNginxMarker(fmt.Sprintf("%s/%d/exe", procRoot, pid)); err != nil {
		return Master{}, fmt.Errorf("read executable of pid %d: %w", pid, err)
	} else if !ok {
		return Master{}, fmt.Errorf("pid %d runs %s, which is not an nginx binary: %w", pid, exe.Path, ErrNotMaster)
	}
	args, err := ParseTitle(p.Title)
	if err != nil {
		return Master{}, fmt.Errorf("pid %d: %w", pid, err)
	}
	return Master{Proc: p, Exe: exe, Args: args}, nil
}

// ReadExe reads which file pid executes, including a replaced ("deleted") one.
func ReadExe(pid int) (Exe, error) {
	link := fmt.Sprintf("%s/%d/exe", procRoot, pid)
	path, err := os.Readlink(link)
	if err != nil {
		return Exe{}, fmt.Errorf("read executable of pid %d: %w", pid, err)
	}
	fi, err := os.Stat(link)
	if err != nil {
		return Exe{}, fmt.Errorf("stat executable of pid %d: %w", pid, err)
	}
	path, deleted := strings.CutSuffix(path, " (deleted)")
	b := binaryOf(path, fi)
	return Exe{Path: path, Deleted: deleted, Dev: b.Dev, Ino: b.Ino, info: fi}, nil
}

// Workers returns the master's workers that accept connections, and those shutting down.
// Cache manager and loader processes are neither.
func Workers(master int) (serving, stopping []Proc, err error) {
	kids, err := Children(master)
	if err != nil {
		return nil, nil, err
	}
	for _, k := range kids {
		switch k.Title {
		case workerTitle:
			serving = append(serving, k)
		case workerShuttingTitle:
			stopping = append(stopping, k)
		}
	}
	return serving, stopping, nil
}

// ChildMasters returns children of pid that are nginx masters: the new master after USR2.
func ChildMasters(pid int) ([]Proc, error) {
	kids, err := Children(pid)
	if err != nil {
		return nil, err
	}
	var m []Proc
	for _, k := range kids {
		if strings.HasPrefix(k.Title, MasterTitle) {
			m = append(m, k)
		}
	}
	return m, nil
}

// versionMarker is compiled into every nginx binary (the text of `nginx -v`).
var versionMarker = []byte("nginx version: ")

func hasNginxMarker(path string) (bool, error) {
	f, err := os.Open(path)
	if err != nil {
		return false, err
	}
	defer f.Close()
	return containsStream(bufio.NewReaderSize(f, 1<<16), versionMarker)
}

// containsStream searches r for needle without reading it all into memory.
func containsStream(r io.Reader, needle []byte) (bool, error) {
	buf := make([]byte, 1<<16+len(needle))
	keep := 0
	for {
		n, err := r.Read(buf[keep:])
		if bytes.Contains(buf[:keep+n], needle) {
			return true, nil
		}
		if err == io.EOF {
			return false, nil
		}
		if err != nil {
			return false, err
		}
		// Keep the tail so a needle split across reads is still found.
		tail := min(keep+n, len(needle)-1)
		copy(buf, buf[keep+n-tail:keep+n])
		keep = tail
	}
}

func short(s string) string {
	if len(s) > 60 {
		return s[:60] + "…"
	}
	return s
}
