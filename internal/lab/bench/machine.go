package bench

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"os"
	"runtime"
	"strconv"
	"strings"
	"time"

	"github.com/nginx-upgrade/nginx-upgrade/internal/lab/bench/report"
	"github.com/nginx-upgrade/nginx-upgrade/internal/lab/testbed"
	"github.com/nginx-upgrade/nginx-upgrade/internal/nginx"
)

// ReadMachine reads the machine's description; parts it cannot read stay empty.
func ReadMachine(ctx context.Context, b testbed.Builds) report.Machine {
	m := report.Machine{Nproc: runtime.NumCPU(), Go: runtime.Version()}
	m.CPU = fieldOf("/proc/cpuinfo", "model name", ":")
	m.MemTotal = strings.TrimSpace(fieldOf("/proc/meminfo", "MemTotal", ":"))
	m.OS = strings.Trim(fieldOf("/etc/os-release", "PRETTY_NAME", "="), `"`)
	if k, err := os.ReadFile("/proc/sys/kernel/osrelease"); err == nil {
		m.Kernel = strings.TrimSpace(string(k))
	}
	ver := func(deb, bin string) string {
		v, err := nginx.Version(ctx, bin)
		if err != nil {
			return deb
		}
		return fmt.Sprintf("%s (%s)", deb, v)
	}
	m.NginxOld, m.NginxNew = ver(b.OldVersion, b.Old), ver(b.NewVersion, b.New)
	self := os.Getpid()
	_, err := os.Stat(fmt.Sprintf("/proc/%d/task/%d/children", self, self))
	m.ChildrenFile = err == nil
	return m
}

// fieldOf returns the value of the first "key<sep>value" line of path.
func fieldOf(path, key, sep string) string {
	b, err := os.ReadFile(path)
	if err != nil {
		return ""
	}
	sc := bufio.NewScanner(bytes.NewReader(b))
	for sc.Scan() {
		k, v, ok := strings.Cut(sc.Text(), sep)
		if ok && strings.TrimSpace(k) == key {
			return strings.TrimSpace(v)
		}
	}
	return ""
}

// cpuTimes reads the first line of /proc/stat: busy and total jiffies of all CPUs.
func cpuTimes() (busy, total uint64, err error) {
	b, err := os.ReadFile("/proc/stat")
	if err != nil {
		return 0, 0, fmt.Errorf("read /proc/stat: %w", err)
	}
	line, _, _ := strings.Cut(string(b), "\n")
	return parseCPULine(line)
}

// parseCPULine parses "cpu user nice system idle iowait irq softirq steal ...": idle and iowait
// are not busy; guest time is already counted in user.
func parseCPULine(line string) (busy, total uint64, err error) {
	f := strings.Fields(line)
	if len(f) < 9 || f[0] != "cpu" {
		return 0, 0, fmt.Errorf("bad /proc/stat line %q", line)
	}
	for i, s := range f[1:9] {
		v, err := strconv.ParseUint(s, 10, 64)
		if err != nil {
			return 0, 0, fmt.Errorf("bad /proc/stat line %q: %w", line, err)
		}
		total += v
		if i != 3 && i != 4 {
			busy += v
		}
	}
	return busy, total, nil
}

// Busy samples how busy the machine's CPUs are over d, in percent.
func Busy(ctx context.Context, d time.Duration) (float64, error) {
	b0, t0, err := cpuTimes()
	if err != nil {
		return 0, err
	}
	select {
	case <-ctx.Done():
		return 0, ctx.Err()
	case <-time.After(d):
	}
	b1, t1, err := cpuTimes()
	if err != nil {
		return 0, err
	}
	if t1 <= t0 {
		return 0, nil
	}
	return 100 * float64(b1-b0) / float64(t1-t0), nil
}

// busySample is how long a reading of how busy the machine is lasts: 100 ticks of the 2 cores'
// clocks here, and a run takes two (before and after).
const busySample = 500 * time.Millisecond

// WaitQuiet waits, up to maxWait, until the machine is at most threshold percent busy with the
// bench itself idle, so that runs start in comparable conditions on a shared machine. It returns
// the last sample; a machine that never quiets down is measured anyway, and the sample says so.
func WaitQuiet(ctx context.Context, threshold float64, maxWait time.Duration) (float64, error) {
	deadline := time.Now().Add(maxWait)
	for {
		busy, err := Busy(ctx, busySample)
		if err != nil || busy <= threshold || time.Now().After(deadline) {
			return busy, err
		}
		select {
		case <-ctx.Done():
			return busy, ctx.Err()
		case <-time.After(2 * time.Second):
		}
	}
}
