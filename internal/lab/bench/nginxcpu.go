package bench

import (
	"bytes"
	"fmt"
	"os"
	"strconv"
	"time"
)

// cpuSampler follows the CPU time of every process running one binary (both generations of an
// nginx), so that the CPU nginx spent in any window of the run can be read afterwards. Each
// process counts with its own utime + stime (not its children's: a master's would count its
// workers twice) as last sampled: a worker's last interval before it exits is missed.
type cpuSampler struct {
	stopc   chan struct{}
	done    chan []cpuSample
	binary  string
	clock   func(time.Time) time.Duration
	lastPer map[int]time.Duration
}

// cpuSample is the summed CPU time of every process seen so far, at a moment of the load's timeline.
type cpuSample struct {
	at  time.Duration
	cpu time.Duration
}

const cpuEvery = 100 * time.Millisecond

func sampleCPU(binary string, clock func(time.Time) time.Duration) *cpuSampler {
	s := &cpuSampler{stopc: make(chan struct{}), done: make(chan []cpuSample, 1), binary: binary, clock: clock, lastPer: map[int]time.Duration{}}
	go func() {
		var samples []cpuSample
		t := time.NewTicker(cpuEvery)
		defer t.Stop()
		for {
			for _, p := range PrefixProcs(s.binary) {
				if c, err := ownCPU(p.Pid); err == nil {
					s.lastPer[p.Pid] = c
				}
			}
			var sum time.Duration
			for _, c := range s.lastPer {
				sum += c
			}
			samples = append(samples, cpuSample{s.clock(time.Now()), sum})
			select {
			case <-s.stopc:
				s.done <- samples
				return
			case <-t.C:
			}
		}
	}()
	return s
}

func (s *cpuSampler) stop() []cpuSample {
	close(s.stopc)
	return <-s.done
}

// cpuPct is the CPU used in [from, to) as a percentage of one core, between the samples nearest
// inside the window; -1 when the window holds fewer than two.
func cpuPct(samples []cpuSample, from, to time.Duration) float64 {
	first, last := -1, -1
	for i, s := range samples {
		if s.at >= from && s.at < to {
			if first < 0 {
				first = i
			}
			last = i
		}
	}
	if first < 0 || last == first {
		return -1
	}
	a, b := samples[first], samples[last]
	return 100 * float64(b.cpu-a.cpu) / float64(b.at-a.at)
}

// ownCPU is a process's own utime + stime (not its waited-for children's), in ticks of 10 ms.
// A zombie's /proc/PID/stat still has them.
func ownCPU(pid int) (time.Duration, error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0, err
	}
	i := bytes.LastIndexByte(b, ')')
	if i < 0 {
		return 0, fmt.Errorf("/proc/%d/stat: no command", pid)
	}
	// After the command: state (field 3) ... utime (14) stime (15).
	f := bytes.Fields(b[i+1:])
	if len(f) < 13 {
		return 0, fmt.Errorf("/proc/%d/stat: %d fields", pid, len(f))
	}
	var ticks int64
	for _, v := range f[11:13] {
		n, err := strconv.ParseInt(string(v), 10, 64)
		if err != nil {
			return 0, fmt.Errorf("/proc/%d/stat: %w", pid, err)
		}
		ticks += n
	}
	return time.Duration(ticks) * clockTick, nil
}
