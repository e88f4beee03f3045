//go:build e2e

package bench

import (
	"bufio"
	"fmt"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/nginx-upgrade/nginx-upgrade/internal/lab/testbed"
	"github.com/nginx-upgrade/nginx-upgrade/internal/nginx"
)

// BenchmarkWorkersWithManyProcesses times finding a real nginx master's workers while 0, 1000
// and 3000 unrelated processes sleep: nginx.Workers (which reads /proc/PID/task/PID/children
// where the kernel has it) and, for comparison, the fallback that reads every /proc/N/stat, as
// nginx.Children does on kernels without CONFIG_PROC_CHILDREN. The helper polls this every 20 ms.
func BenchmarkWorkersWithManyProcesses(b *testing.B) {
	n := testbed.StartT(b, testbed.BuildsT(b).Old, testbed.Config{Workers: 2})
	master := n.Master()
	running := 0
	for _, count := range []int{0, 1000, 3000} {
		if count > running {
			startSleepers(b, count-running)
			running = count
		}
		procs := countProcs()
		if ws, _, err := nginx.Workers(master); err != nil || len(ws) != 2 {
			b.Fatalf("nginx.Workers(%d) = %d workers, %v; want 2", master, len(ws), err)
		}
		if got, err := scanWorkers(master); err != nil || got != 2 {
			b.Fatalf("scanWorkers(%d) = %d, %v; want 2", master, got, err)
		}
		b.Run(fmt.Sprintf("sleepers=%d/Workers", count), func(b *testing.B) {
			for b.Loop() {
				nginx.Workers(master)
			}
			b.ReportMetric(float64(procs), "procs")
		})
		b.Run(fmt.Sprintf("sleepers=%d/proc-scan", count), func(b *testing.B) {
			for b.Loop() {
				scanWorkers(master)
			}
			b.ReportMetric(float64(procs), "procs")
		})
	}
}

// startSleepers starts count sleeping processes in a process group of their own, killed when the
// benchmark ends; `sleep 600` bounds them even if it is killed first.
func startSleepers(b *testing.B, count int) {
	b.Helper()
	cmd := exec.Command("sh", "-c", `i=0; while [ $i -lt "$1" ]; do sleep 600 & i=$((i+1)); done; echo ready; wait`, "sh", strconv.Itoa(count))
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	out, err := cmd.StdoutPipe()
	if err != nil {
		b.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		b.Fatalf("start sleepers: %v", err)
	}
	b.Cleanup(func() {
		syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
		cmd.Wait()
		// The group's orphans are reaped by init a moment later; wait for that, boundedly.
		for deadline := time.Now().Add(10 * time.Second); time.Now().Before(deadline); time.Sleep(10 * time.Millisecond) {
			if syscall.Kill(-cmd.Process.Pid, 0) != nil {
				return
			}
		}
	})
	ready := make(chan error, 1)
	go func() {
		line, err := bufio.NewReader(out).ReadString('\n')
		if err == nil && strings.TrimSpace(line) != "ready" {
			err = fmt.Errorf("sleepers said %q", line)
		}
		ready <- err
	}()
	select {
	case err := <-ready:
		if err != nil {
			b.Fatalf("start sleepers: %v", err)
		}
	case <-time.After(2 * time.Minute):
		b.Fatalf("%d sleepers not started within 2 minutes", count)
	}
}

// scanWorkers counts pid's serving workers by reading every process's stat, then the cmdline of
// its children: the fallback of internal/nginx (scanChildren), repeated here so that its cost can
// be measured on a kernel that has the children file.
func scanWorkers(pid int) (int, error) {
	entries, err := os.ReadDir("/proc")
	if err != nil {
		return 0, err
	}
	workers := 0
	for _, e := range entries {
		n, err := strconv.Atoi(e.Name())
		if err != nil || n == pid {
			continue
		}
		stat, err := os.ReadFile("/proc/" + e.Name() + "/stat")
		if err != nil {
			continue
		}
		s, err := nginx.ParseStat(stat)
		if err != nil || s.PPid != pid {
			continue
		}
		if p, err := nginx.ReadProc(n); err == nil && p.Title == "nginx: worker process" {
			workers++
		}
	}
	return workers, nil
}

func countProcs() int {
	entries, _ := os.ReadDir("/proc")
	n := 0
	for _, e := range entries {
		if _, err := strconv.Atoi(e.Name()); err == nil {
			n++
		}
	}
	return n
}
