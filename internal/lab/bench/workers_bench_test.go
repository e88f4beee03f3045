//go:build e2e

package bench

import (
	"fmt"
	"os"
	"strconv"
	"testing"

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

// startSleepers starts count sleeping processes, stopped and reaped when the benchmark ends.
func startSleepers(b *testing.B, count int) {
	b.Helper()
	s, err := StartSleepers(b.Context(), count)
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() {
		if err := s.Stop(); err != nil {
			b.Error(err)
		}
	})
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
