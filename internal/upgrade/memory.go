package upgrade

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"os"
	"path"
	"slices"
	"strconv"
	"strings"
)

// A swap runs two generations of nginx side by side until the old one quits: the new master
// parses the configuration again and maps shared memory zones of its own, and its workers
// allocate their own. On a host (or in a unit's cgroup) without room for that, USR2 ends in the
// OOM killer, which may pick the old master. So before USR2 the old generation's footprint is
// compared with the memory available to nginx.

// memorySource is where the memory facts are read: /proc and the cgroup2 mount; fixtures in tests.
type memorySource struct {
	proc   string // "/proc"
	cgroup string // "/sys/fs/cgroup"
}

var systemMemory = memorySource{proc: "/proc", cgroup: "/sys/fs/cgroup"}

// headroom is what the memory check found, in bytes.
type headroom struct {
	footprint uint64 // the old generation: Pss of the master and all its children
	margin    uint64
	available uint64
	limitedBy string // what bounds available: "MemAvailable", or the cgroup whose limit does
}

func (h headroom) need() uint64 { return h.footprint + h.margin }
func (h headroom) enough() bool { return h.available >= h.need() }

// memoryMargin is room beyond the old generation's footprint: the old footprint is the best
// estimate of what the new generation takes once it serves, but not of its peak while the new
// master parses the configuration (nginx frees the parser's temporary pools only afterwards),
// nor of what the rest of the host needs meanwhile. A tenth more, and at least 32 MiB.
func memoryMargin(footprint uint64) uint64 {
	return max(footprint/10, 32<<20)
}

func (h headroom) String() string {
	return fmt.Sprintf("need %s (old generation %s + margin %s), available %s (%s)",
		mib(h.need()), mib(h.footprint), mib(h.margin), mib(h.available), h.limitedBy)
}

func mib(b uint64) string { return fmt.Sprintf("%.1f MiB", float64(b)/(1<<20)) }

// footprint reads the footprint of a generation: the Pss of its master and of the master's
// children, pids. It does not change while a build's -T runs (another process), so it is read
// beside it; what is available is read after (see headroom), since -T takes memory meanwhile.
func (m memorySource) footprint(pids []int) (uint64, error) {
	var sum uint64
	for _, pid := range pids {
		pss, err := m.pss(pid)
		if err != nil {
			return 0, err
		}
		sum += pss
	}
	return sum, nil
}

// headroom compares a generation's footprint with the memory available to it; master's cgroup
// says which limits apply.
func (m memorySource) headroom(master int, footprint uint64) (headroom, error) {
	h := headroom{footprint: footprint, margin: memoryMargin(footprint)}
	meminfo, err := os.ReadFile(path.Join(m.proc, "meminfo"))
	if err != nil {
		return h, fmt.Errorf("read available memory: %w", err)
	}
	if h.available, err = kbField(meminfo, "MemAvailable:"); err != nil {
		return h, fmt.Errorf("%s/meminfo: %w", m.proc, err)
	}
	h.limitedBy = fmt.Sprintf("MemAvailable %s", mib(h.available))
	cg, err := os.ReadFile(fmt.Sprintf("%s/%d/cgroup", m.proc, master))
	if err != nil {
		return h, fmt.Errorf("read the cgroup of master %d: %w", master, err)
	}
	for _, ctl := range cgroupLimits(cg) {
		room, by, err := m.cgroupRoom(ctl)
		if err != nil {
			return h, err
		}
		if by != "" && room < h.available {
			h.available, h.limitedBy = room, by
		}
	}
	return h, nil
}

// cgroupLimit is where a cgroup hierarchy keeps a process's memory limit and usage.
type cgroupLimit struct {
	mount      string // under the cgroup root: "" for cgroup2, "memory" for the v1 controller
	dir        string // the process's cgroup in that hierarchy
	max, usage string // the files: memory.max and memory.current, or their v1 names
	// inactive is the memory.stat key of the page cache the kernel reclaims before it would
	// kill anything: the files nginx serves and logs fill usage up to the limit within days,
	// and counting them would refuse every swap of a long-running unit.
	inactive string
}

// cgroupLimits reads /proc/PID/cgroup: the cgroup2 path ("0::/system.slice/nginx.service") and,
// on a v1 or hybrid host (Debian 10, Ubuntu 20.04, or a container host like this one), the v1
// memory controller's ("4:memory:/system.slice/nginx.service"), where the limit is when v1 has
// the memory controller.
func cgroupLimits(b []byte) []cgroupLimit {
	var ls []cgroupLimit
	for line := range strings.SplitSeq(string(b), "\n") {
		f := strings.SplitN(line, ":", 3)
		if len(f) != 3 || !strings.HasPrefix(f[2], "/") {
			continue
		}
		switch {
		case f[0] == "0" && f[1] == "":
			ls = append(ls, cgroupLimit{dir: path.Clean(f[2]), max: "memory.max", usage: "memory.current", inactive: "inactive_file"})
		case slices.Contains(strings.Split(f[1], ","), "memory"):
			ls = append(ls, cgroupLimit{mount: "memory", dir: path.Clean(f[2]), max: "memory.limit_in_bytes", usage: "memory.usage_in_bytes", inactive: "total_inactive_file"})
		}
	}
	return ls
}

// pss is the proportional set size of pid: its private memory plus its share of what it shares,
// so that the master's and workers' shared zones and copy-on-write pages add up to what they
// take once, not once per process.
func (m memorySource) pss(pid int) (uint64, error) {
	b, err := os.ReadFile(fmt.Sprintf("%s/%d/smaps_rollup", m.proc, pid))
	if err != nil {
		return 0, fmt.Errorf("read the memory of pid %d: %w", pid, err)
	}
	pss, err := kbField(b, "Pss:")
	if err != nil {
		return 0, fmt.Errorf("smaps_rollup of pid %d: %w", pid, err)
	}
	return pss, nil
}

// kbField reads a "Name:   1234 kB" line of /proc/meminfo or smaps_rollup, in bytes.
func kbField(b []byte, name string) (uint64, error) {
	s := bufio.NewScanner(bytes.NewReader(b))
	for s.Scan() {
		rest, ok := strings.CutPrefix(s.Text(), name)
		if !ok {
			continue
		}
		f := strings.Fields(rest)
		if len(f) != 2 || f[1] != "kB" {
			return 0, fmt.Errorf("%s %q: not a size in kB", name, rest)
		}
		n, err := strconv.ParseUint(f[0], 10, 64)
		if err != nil || n > 1<<53 {
			return 0, fmt.Errorf("%s %q: not a size in kB", name, rest)
		}
		return n << 10, nil
	}
	return 0, fmt.Errorf("no %s line", name)
}

// cgroupRoom is the least room left under any memory.max from dir up to the root: a limit on a
// parent slice binds its units as much as their own. by names the binding cgroup, "" when none
// sets a limit.
func (m memorySource) cgroupRoom(l cgroupLimit) (room uint64, by string, err error) {
	for d := l.dir; ; d = path.Dir(d) {
		max, limited, err := m.cgroupValue(l.mount, d, l.max)
		if err != nil {
			return 0, "", err
		}
		if limited {
			cur, _, err := m.cgroupValue(l.mount, d, l.usage)
			if err != nil {
				return 0, "", err
			}
			cache, err := m.cgroupStat(l.mount, d, l.inactive)
			if err != nil {
				return 0, "", err
			}
			used := cur - min(cache, cur)
			left := max - min(used, max)
			if by == "" || left < room {
				room = left
				by = fmt.Sprintf("cgroup %s: %s %s - %s %s", d, l.max, mib(max), l.usage, mib(cur))
				if cache > 0 {
					by += fmt.Sprintf(" (of which %s %s, reclaimable)", l.inactive, mib(cache))
				}
			}
		}
		if d == "/" {
			return room, by, nil
		}
	}
}

// cgroupStat reads key from a cgroup's memory.stat, in bytes; 0 when the file or key is missing.
func (m memorySource) cgroupStat(mount, dir, key string) (uint64, error) {
	p := path.Join(m.cgroup, mount, dir, "memory.stat")
	b, err := os.ReadFile(p)
	if errors.Is(err, os.ErrNotExist) {
		return 0, nil
	}
	if err != nil {
		return 0, fmt.Errorf("read %s: %w", p, err)
	}
	for line := range strings.SplitSeq(string(b), "\n") {
		v, ok := strings.CutPrefix(line, key+" ")
		if !ok {
			continue
		}
		n, err := strconv.ParseUint(strings.TrimSpace(v), 10, 64)
		if err != nil {
			return 0, fmt.Errorf("%s: %s %q: not a number of bytes", p, key, v)
		}
		return n, nil
	}
	return 0, nil
}

// cgroupValue reads a cgroup's limit or usage: limited is false for no limit ("max"; v1 writes
// a number near 2^63) and for a cgroup that has no such file (the root, or the memory controller
// not enabled there).
func (m memorySource) cgroupValue(mount, dir, file string) (v uint64, limited bool, err error) {
	p := path.Join(m.cgroup, mount, dir, file)
	b, err := os.ReadFile(p)
	if errors.Is(err, os.ErrNotExist) {
		return 0, false, nil
	}
	if err != nil {
		return 0, false, fmt.Errorf("read %s: %w", p, err)
	}
	s := strings.TrimSpace(string(b))
	if s == "max" {
		return 0, false, nil
	}
	v, err = strconv.ParseUint(s, 10, 64)
	if err != nil {
		return 0, false, fmt.Errorf("%s %q: not a number of bytes", p, s)
	}
	return v, v < 1<<62, nil
}
