package nspawn

import (
	"bufio"
	"bytes"
	"fmt"
	"os"
	"strconv"
	"strings"
)

// nsPIDs is the NSpid line of /proc/PID/status: the process's pid in each
// pid namespace it belongs to, outermost (the host's) first.
func nsPIDs(pid int) ([]int, error) {
	f, err := os.Open(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return nil, err
	}
	defer f.Close()
	s := bufio.NewScanner(f)
	for s.Scan() {
		rest, ok := strings.CutPrefix(s.Text(), "NSpid:")
		if !ok {
			continue
		}
		var pids []int
		for _, field := range strings.Fields(rest) {
			n, err := strconv.Atoi(field)
			if err != nil {
				return nil, fmt.Errorf("parse NSpid of %d: %w", pid, err)
			}
			pids = append(pids, n)
		}
		return pids, nil
	}
	if err := s.Err(); err != nil {
		return nil, err
	}
	return nil, fmt.Errorf("no NSpid in /proc/%d/status", pid)
}

// pidNS identifies the pid namespace of a process, e.g. "pid:[4026532301]".
func pidNS(pid int) (string, error) {
	return os.Readlink(fmt.Sprintf("/proc/%d/ns/pid", pid))
}

// pidsInNS lists the host pids of the processes in pid namespace ns. Processes
// that vanish while we look are skipped.
func pidsInNS(ns string) ([]int, error) {
	entries, err := os.ReadDir("/proc")
	if err != nil {
		return nil, err
	}
	var pids []int
	for _, e := range entries {
		pid, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		if got, err := pidNS(pid); err == nil && got == ns {
			pids = append(pids, pid)
		}
	}
	return pids, nil
}

// children lists the direct children of a single-threaded process.
func children(pid int) ([]int, error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/task/%d/children", pid, pid))
	if err != nil {
		return nil, err
	}
	var pids []int
	for _, f := range strings.Fields(string(b)) {
		n, err := strconv.Atoi(f)
		if err != nil {
			return nil, fmt.Errorf("parse children of %d: %w", pid, err)
		}
		pids = append(pids, n)
	}
	return pids, nil
}

func comm(pid int) string {
	b, _ := os.ReadFile(fmt.Sprintf("/proc/%d/comm", pid))
	return string(bytes.TrimSpace(b))
}
