package bench

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"time"

	"github.com/nginx-upgrade/nginx-upgrade/internal/nginx"
)

// helperEvery is how often the helpers in a box are sampled: each sample reads every process's
// cmdline in the box (a few dozen), so it is coarser than rssEvery.
const helperEvery = 10 * time.Millisecond

// clockTick is the unit of the CPU times in /proc/PID/stat (USER_HZ, 100 on Linux).
const clockTick = 10 * time.Millisecond

// helperSampler measures the `nginx-upgradectl upgrade` processes that run in a box while it
// samples. They are not the bench's children, so their rusage is not the bench's to read: they
// are sampled from the host through the box's own /proc, which lists only the box's processes.
// The peak RSS is the largest VmHWM sampled, as for the host rows. The CPU time is utime + stime
// + cutime + cstime of /proc/PID/stat (the children it waited for: `nginx -v`, `nginx -T`) at
// the last sample of each process, summed: what a helper used after its last sample (at most
// helperEvery) is missed, in ticks of 10 ms.
type helperSampler struct {
	stopc chan struct{}
	done  chan *Usage
}

// helperUse is one helper process as last sampled.
type helperUse struct {
	hwmKiB int64
	cpu    time.Duration
}

// sampleHelpers samples the helpers under procRoot (a box's /proc, seen from the host) until stop.
func sampleHelpers(procRoot string) *helperSampler {
	s := &helperSampler{stopc: make(chan struct{}), done: make(chan *Usage, 1)}
	go func() {
		seen := map[string]helperUse{} // by pid and start time
		t := time.NewTicker(helperEvery)
		defer t.Stop()
		for {
			sampleHelpersOnce(procRoot, seen)
			select {
			case <-s.stopc:
				s.done <- totalUse(seen)
				return
			case <-t.C:
			}
		}
	}()
	return s
}

// stop ends the sampling and returns the helpers' use, or nil when none was seen.
func (s *helperSampler) stop() *Usage {
	close(s.stopc)
	return <-s.done
}

func sampleHelpersOnce(procRoot string, seen map[string]helperUse) {
	entries, err := os.ReadDir(procRoot)
	if err != nil {
		return
	}
	for _, e := range entries {
		if _, err := strconv.Atoi(e.Name()); err != nil {
			continue
		}
		dir := filepath.Join(procRoot, e.Name())
		cmdline, err := os.ReadFile(dir + "/cmdline")
		if err != nil || !isHelperUpgrade(cmdline) {
			continue
		}
		stat, err1 := os.ReadFile(dir + "/stat")
		status, err2 := os.ReadFile(dir + "/status")
		if err1 != nil || err2 != nil {
			continue // it exited while we looked: its last sample stands
		}
		p, err1 := nginx.ParseStat(stat)
		hwm, err2 := parseVmHWM(string(status))
		if err1 != nil || err2 != nil {
			continue
		}
		key := fmt.Sprintf("%d@%d", p.Pid, p.StartTime)
		u := seen[key]
		seen[key] = helperUse{hwmKiB: max(u.hwmKiB, hwm), cpu: max(u.cpu, time.Duration(p.CPUTicks)*clockTick)}
	}
}

func totalUse(seen map[string]helperUse) *Usage {
	if len(seen) == 0 {
		return nil
	}
	var u Usage
	for _, h := range seen {
		u.MaxRSSKiB = max(u.MaxRSSKiB, h.hwmKiB)
		u.CPU += h.cpu
	}
	return &u
}

// isHelperUpgrade reports whether a /proc/PID/cmdline is `nginx-upgradectl upgrade ...`: the
// swap itself, not the package's other uses of the helper (the unit's status check).
func isHelperUpgrade(cmdline []byte) bool {
	args := bytes.Split(cmdline, []byte{0})
	return len(args) > 1 && filepath.Base(string(args[0])) == "nginx-upgradectl" && string(args[1]) == "upgrade"
}
