package bench

import (
	"fmt"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"syscall"
	"time"

	"golang.org/x/sys/unix"
)

// Usage is a child process's resource use.
//
// The peak RSS is the child's own: its VmHWM, sampled from /proc/PID/status while it runs.
// wait4's ru_maxrss cannot be used for it: Go starts children with vfork semantics (CLONE_VM),
// and at exec the kernel folds the pre-exec address space, which is the parent's, into the
// child's maxrss, so ru_maxrss reports at least the bench's own RSS (a child /bin/true of a Go
// process holding 200 MiB reports 207588 KiB). It is kept as RusageMaxRSSKiB for reference. The
// CPU time is from rusage: the child's and that of the children it waited for (for the helper,
// its `nginx -v` and `nginx -T`).
type Usage struct {
	MaxRSSKiB       int64         `json:"max_rss_kib"` // VmHWM, last sample before exit
	RusageMaxRSSKiB int64         `json:"rusage_max_rss_kib"`
	CPU             time.Duration `json:"cpu_ns"` // user + system
	// OwnCPU leaves out the children's: the helper's own work, without nginx's -T. It is read
	// from the exited child's /proc/PID/stat before it is reaped, in ticks of 10 ms.
	OwnCPU time.Duration `json:"own_cpu_ns"`
	Wall   time.Duration `json:"wall_ns"` // start until exit
}

// rssEvery is how often a child's VmHWM is sampled; VmHWM only grows, so a sample misses at
// most what the child added in its last few milliseconds.
const rssEvery = 5 * time.Millisecond

// runMeasured runs cmd to its end and measures it.
func runMeasured(cmd *exec.Cmd) (*Usage, error) {
	start := time.Now()
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("start %s: %w", cmd.Path, err)
	}
	done := make(chan struct{})
	peak := make(chan int64, 1)
	go func() {
		var hwm int64
		t := time.NewTicker(rssEvery)
		defer t.Stop()
		for {
			if v, err := vmHWM(cmd.Process.Pid); err == nil {
				hwm = max(hwm, v)
			}
			select {
			case <-done:
				peak <- hwm
				return
			case <-t.C:
			}
		}
	}()
	// Wait for the exit without reaping, so that the zombie's stat can still be read.
	var own time.Duration
	var info unix.Siginfo
	if unix.Waitid(unix.P_PID, cmd.Process.Pid, &info, unix.WEXITED|unix.WNOWAIT, nil) == nil {
		own, _ = ownCPU(cmd.Process.Pid)
	}
	wall := time.Since(start)
	err := cmd.Wait()
	close(done)
	u := &Usage{MaxRSSKiB: <-peak, OwnCPU: own, Wall: wall}
	if ru, ok := cmd.ProcessState.SysUsage().(*syscall.Rusage); ok && ru != nil {
		u.RusageMaxRSSKiB = ru.Maxrss
		u.CPU = time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
	}
	return u, err
}

// vmHWM reads a process's peak resident set size in KiB.
func vmHWM(pid int) (int64, error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0, err
	}
	return parseVmHWM(string(b))
}

// parseVmHWM finds "VmHWM:    12345 kB" in /proc/PID/status.
func parseVmHWM(status string) (int64, error) {
	for line := range strings.Lines(status) {
		if v, ok := strings.CutPrefix(line, "VmHWM:"); ok {
			f := strings.Fields(v)
			if len(f) != 2 || f[1] != "kB" {
				return 0, fmt.Errorf("bad VmHWM line %q", line)
			}
			return strconv.ParseInt(f[0], 10, 64)
		}
	}
	return 0, fmt.Errorf("no VmHWM (a zombie or a kernel thread)")
}
