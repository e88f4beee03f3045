package nginx

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"syscall"

	"golang.org/x/sys/unix"
)

// A running nginx's code is not only its binary: it is also the shared libraries (libssl,
// libcrypto, libpcre2, zlib, libc, libcrypt) and the dynamic modules it loaded. A package update
// renames a new file over each of them, but a process keeps the old file mapped until it exits or
// re-executes, so nginx runs the old code (after a security update, the vulnerable code) until then.
// USR2 re-executes the binary by its path, so the new master maps the files now on disk: a live swap
// to the very same binary applies a library update. This file finds what is stale.

// Mapping is one line of /proc/PID/maps.
type Mapping struct {
	Start, End uint64
	Perms      string // four characters: r/-, w/-, x/-, p (private) or s (shared)
	Offset     uint64
	Dev        uint64 // unix.Mkdev of the major:minor (hex) the line prints
	Inode      uint64 // 0 for anonymous memory
	Path       string // "" anonymous, "[heap]" and such; else the file, " (deleted)" cut off
	Deleted    bool   // the kernel appended " (deleted)": the file was unlinked
}

// Executable reports whether the mapping holds code.
func (m Mapping) Executable() bool { return m.Perms[2] == 'x' }

var (
	permsRE = regexp.MustCompile(`^[r-][w-][x-][ps]$`)
	sysvRE  = regexp.MustCompile(`^/SYSV[0-9a-f]{8}$`)
)

// deletedSuffix is what the kernel appends to the path of an unlinked file (d_path).
const deletedSuffix = " (deleted)"

// ParseMaps parses /proc/PID/maps as fs/proc/task_mmu.c writes it: "start-end perms offset
// major:minor inode", then, padded with spaces, the path, if any, to the end of the line. A path
// may contain spaces, and ends with " (deleted)" once its file is unlinked; the kernel escapes only
// a newline in it (as \012), so a file may itself be named "… (deleted)" (see StaleCode).
func ParseMaps(b []byte) ([]Mapping, error) {
	var maps []Mapping
	for n, line := 1, ""; len(b) > 0; n++ {
		i := bytes.IndexByte(b, '\n')
		if i < 0 {
			line, b = string(b), nil
		} else {
			line, b = string(b[:i]), b[i+1:]
		}
		m, err := parseMapsLine(line)
		if err != nil {
			return nil, fmt.Errorf("line %d: %w", n, err)
		}
		maps = append(maps, m)
	}
	return maps, nil
}

func parseMapsLine(line string) (Mapping, error) {
	var f [5]string
	rest := line
	for i := range f {
		var ok bool
		if f[i], rest, ok = strings.Cut(rest, " "); !ok && i < len(f)-1 || f[i] == "" {
			return Mapping{}, fmt.Errorf("%q: want address, perms, offset, device and inode", short(line))
		}
	}
	var m Mapping
	start, end, _ := strings.Cut(f[0], "-")
	var err error
	if m.Start, err = parseHex(start); err == nil {
		m.End, err = parseHex(end)
	}
	if err != nil || m.Start >= m.End {
		return Mapping{}, fmt.Errorf("bad address range %q", f[0])
	}
	if !permsRE.MatchString(f[1]) {
		return Mapping{}, fmt.Errorf("bad permissions %q", f[1])
	}
	m.Perms = f[1]
	if m.Offset, err = parseHex(f[2]); err != nil {
		return Mapping{}, fmt.Errorf("bad offset %q", f[2])
	}
	major, minor, _ := strings.Cut(f[3], ":")
	ma, err1 := parseHex(major)
	mi, err2 := parseHex(minor)
	if err1 != nil || err2 != nil || ma > 0xfff || mi > 0xfffff {
		return Mapping{}, fmt.Errorf("bad device %q", f[3])
	}
	m.Dev = unix.Mkdev(uint32(ma), uint32(mi))
	if m.Inode, err = strconv.ParseUint(f[4], 10, 64); err != nil || f[4][0] == '+' {
		return Mapping{}, fmt.Errorf("bad inode %q", f[4])
	}
	m.Path = strings.TrimLeft(rest, " ")
	if strings.HasPrefix(m.Path, "/") {
		m.Path, m.Deleted = strings.CutSuffix(m.Path, deletedSuffix)
	}
	return m, nil
}

// parseHex parses the kernel's lowercase hex numbers, nothing else (no sign, no prefix, no '_').
func parseHex(s string) (uint64, error) {
	if s == "" || strings.TrimLeft(s, "0123456789abcdef") != "" || len(s) > 16 {
		return 0, fmt.Errorf("not hex: %q", s)
	}
	return strconv.ParseUint(s, 16, 64)
}

// sharedMemory reports whether m is shared memory rather than a file: nginx's own zones (anonymous
// shared mappings show as "/dev/zero (deleted)"), memfd and System V segments. All are "deleted"
// files of the kernel's internal shmem mount, and none is code on disk.
func sharedMemory(m Mapping) bool {
	return m.Path == "/dev/zero" || strings.HasPrefix(m.Path, "/memfd:") || sysvRE.MatchString(m.Path)
}

// FileKind says what a file of nginx's code is.
type FileKind string

const (
	KindBinary  FileKind = "binary"  // the nginx executable
	KindModule  FileKind = "module"  // a dynamic module (load_module)
	KindLibrary FileKind = "library" // any other shared object
)

// Kind classifies path for a process running exe. A module is a shared object nginx loads with
// load_module: by convention named ngx_*_module.so (what --add-dynamic-module builds) or installed
// under .../nginx/modules/ (Debian's and nginx.org's packages); reading the configuration instead
// would need `nginx -T`, too slow for status and wrong for a configuration changed since.
func Kind(path, exe string) FileKind {
	base := filepath.Base(path)
	switch {
	case path == exe:
		return KindBinary
	case strings.Contains(path, "/nginx/modules/") || strings.HasPrefix(base, "ngx_") && strings.HasSuffix(base, "_module.so"):
		return KindModule
	}
	return KindLibrary
}

// StaleFile is a file of code a process maps that its path no longer names: it was deleted, or
// another file was put in its place (a package update renames the new file over the old).
type StaleFile struct {
	Path    string
	Kind    FileKind
	Deleted bool  // unlinked; else replaced: the path names another file now
	Pids    []int // the processes that map it, the master first
}

// StaleCode returns the stale files of code that master and its children (workers, cache
// processes) map, by path. exe is the master's binary (Exe.Path). Code means a file with an
// executable mapping: a file only mapped for data (none of nginx's own) does not run old code, and
// shared memory is no file on disk. Children that exit while they are read are skipped.
func StaleCode(master int, exe string) ([]StaleFile, error) {
	pids := []int{master}
	kids, err := Children(master)
	if err != nil {
		return nil, err
	}
	for _, k := range kids {
		pids = append(pids, k.Pid)
	}
	var stale []StaleFile
	for i, pid := range pids {
		maps, err := ReadMaps(pid)
		if err != nil {
			if i > 0 && errors.Is(err, ErrNoProcess) {
				continue
			}
			return nil, err
		}
		for _, f := range staleFiles(maps, exe, statFile) {
			j := slices.IndexFunc(stale, func(s StaleFile) bool { return s.Path == f.Path })
			if j < 0 {
				stale = append(stale, f)
				j = len(stale) - 1
			}
			stale[j].Pids = append(stale[j].Pids, pid)
		}
	}
	return stale, nil
}

// ReadMaps reads and parses /proc/PID/maps.
func ReadMaps(pid int) ([]Mapping, error) {
	b, err := os.ReadFile(fmt.Sprintf("%s/%d/maps", procRoot, pid))
	if err != nil {
		if errors.Is(err, os.ErrNotExist) || errors.Is(err, syscall.ESRCH) {
			return nil, fmt.Errorf("pid %d: %w", pid, ErrNoProcess)
		}
		return nil, fmt.Errorf("read /proc/%d/maps (as root?): %w", pid, err)
	}
	maps, err := ParseMaps(b)
	if err != nil {
		return nil, fmt.Errorf("parse /proc/%d/maps: %w", pid, err)
	}
	return maps, nil
}

// fileID is what a path names now, as stat sees it.
type fileID struct {
	dev, ino uint64
	overlay  bool // on overlayfs
}

// statFile identifies the file at path; ok is false when there is none.
func statFile(path string) (id fileID, ok bool) {
	var st unix.Stat_t
	if unix.Stat(path, &st) != nil || st.Mode&unix.S_IFMT != unix.S_IFREG {
		return fileID{}, false
	}
	id = fileID{dev: st.Dev, ino: st.Ino}
	var fs unix.Statfs_t
	id.overlay = unix.Statfs(path, &fs) == nil && fs.Type == unix.OVERLAYFS_SUPER_MAGIC
	return id, true
}

// staleFiles returns the code files of one process's maps whose path names another file now (or
// none), asking stat what a path names. The identity of a mapped file is taken from its maps
// line (device and inode of the file mapped then), never from a later look at the path. Each
// file appears once, with Pids empty.
func staleFiles(maps []Mapping, exe string, stat func(string) (fileID, bool)) []StaleFile {
	var stale []StaleFile
	seen := map[[2]uint64]bool{}
	for _, m := range maps {
		key := [2]uint64{m.Dev, m.Inode}
		if !m.Executable() || m.Inode == 0 || !strings.HasPrefix(m.Path, "/") || sharedMemory(m) || seen[key] {
			continue
		}
		seen[key] = true
		if names(m, m.Path, stat) || m.Deleted && names(m, m.Path+deletedSuffix, stat) {
			continue // the path (or a file named "… (deleted)") still names the mapped file
		}
		stale = append(stale, StaleFile{Path: m.Path, Kind: Kind(m.Path, exe), Deleted: m.Deleted})
	}
	return stale
}

// names reports whether path (as the kernel printed it, a newline escaped as \012) names the file
// m maps. On overlayfs, maps shows the device of the layer below (before Linux 6.8), stat that of
// the overlay: the inode alone must do there.
func names(m Mapping, path string, stat func(string) (fileID, bool)) bool {
	for _, p := range []string{path, strings.ReplaceAll(path, `\012`, "\n")} {
		if id, ok := stat(p); ok && id.ino == m.Inode && (id.dev == m.Dev || id.overlay) {
			return true
		}
	}
	return false
}
