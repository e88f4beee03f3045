//go:build e2e

package engine

import (
	"bytes"
	"context"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/nginx-upgrade/nginx-upgrade/internal/lab/bigconf"
	"github.com/nginx-upgrade/nginx-upgrade/internal/lab/labtest"
	"github.com/nginx-upgrade/nginx-upgrade/internal/lab/testbed"
	"github.com/nginx-upgrade/nginx-upgrade/internal/nginx"
	"github.com/nginx-upgrade/nginx-upgrade/internal/upgrade"
	"github.com/nginx-upgrade/nginx-upgrade/internal/wait"
)

// bigServers server blocks, each with two regex locations, and 20 maps of 200 regex entries:
// measured here (2 cores, shared), Debian's nginx 1.22.1 tests 5,000 blocks in 1.2 s (189 MB
// peak), 20,000 in 4.8 s (729 MB), 50,000 in 14.2 s, 60,000 in 25.6 s (2.2 GB). 60,000 makes
// nginx need longer than the old fixed 15 s start deadline.
const bigServers = 60_000

// helperRSSMax is the helper's own peak RSS allowed on a big configuration.
const helperRSSMax = 20 << 20

// startBig sets up the older build with a generated configuration of servers blocks included in
// its http block, starts it, and installs the newer build over it.
func startBig(t *testing.T, b testbed.Builds, servers int) *testbed.Nginx {
	t.Helper()
	n, err := testbed.Setup(t.TempDir(), b.Old, testbed.Config{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("nginx error log (%s):\n%s", n.Dir, n.ErrorLog())
		}
		n.Stop()
	})
	big := filepath.Join(n.Dir, "bigconf.conf")
	f, err := os.Create(big)
	if err != nil {
		t.Fatal(err)
	}
	port := freePort(t) // the generated servers' own port: the site's stays as it is
	err = bigconf.Write(f, bigconf.Options{Servers: servers, Listen: fmt.Sprintf("127.0.0.1:%d", port), RegexLocations: 2, Maps: 20, MapEntries: 200})
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		t.Fatal(err)
	}
	conf, err := os.ReadFile(n.Conf())
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(n.Conf(), bytes.Replace(conf, []byte("http {\n"), []byte("http {\n    include "+big+";\n"), 1), 0o644); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	start := time.Now()
	if err := n.Start(ctx, testbed.Config{}); err != nil {
		t.Fatal(err)
	}
	t.Logf("nginx with %d server blocks (%d MB of configuration) serving after %s", servers, fileSize(t, big)>>20, time.Since(start).Round(time.Millisecond))
	mustInstall(t, n, b.New, nil)
	return n
}

// freePort is a loopback port nothing listens on, as the kernel picks one.
func freePort(t *testing.T) int {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

func fileSize(t *testing.T, path string) int64 {
	t.Helper()
	fi, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	return fi.Size()
}

// nginxTest times the new binary's own `-t` on n's configuration, started as the master was.
func nginxTest(t *testing.T, n *testbed.Nginx) time.Duration {
	t.Helper()
	m, err := nginx.ReadMaster(n.Master())
	if err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	if out, err := exec.Command(n.Binary, append([]string{"-t"}, m.Args.Flags()...)...).CombinedOutput(); err != nil {
		t.Fatalf("nginx -t: %v: %s", err, out)
	}
	took := time.Since(start)
	t.Logf("nginx's own -t: %s", took.Round(time.Millisecond))
	return took
}

// trackedRun is a run of the command whose peak RSS is followed in /proc while it runs.
type trackedRun struct {
	ctlResult
	peakRSS int64 // VmHWM, bytes, as last seen before it exited
	took    time.Duration
}

// ctlTracked runs the command as ctl does, calling during (when not nil) with the helper's pid
// once it runs, and samples the helper's VmHWM (its own peak RSS: the rusage of a waited process
// would include nginx's -t, its child) until it exits.
func ctlTracked(t *testing.T, during func(pid int), args ...string) trackedRun {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	cmd := ctlCommand(ctx, t, args...)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	start := time.Now()
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	if during != nil {
		during(cmd.Process.Pid)
	}
	var r trackedRun
	tick := time.NewTicker(20 * time.Millisecond)
	defer tick.Stop()
	var err error
sample:
	for {
		if hwm, ok := vmHWM(cmd.Process.Pid); ok {
			r.peakRSS = hwm
		}
		select {
		case err = <-done:
			break sample
		case <-tick.C:
		}
	}
	r.took = time.Since(start)
	r.ctlResult = ctlResultOf(t, cmd, err, args)
	t.Logf("$ nginx-upgradectl %v → exit %d after %s, peak RSS %.1f MiB\n%s%s", args, r.code, r.took.Round(time.Millisecond), float64(r.peakRSS)/(1<<20), r.stderr, r.stdout)
	return r
}

// vmHWM reads a process's peak resident set size from /proc/PID/status.
func vmHWM(pid int) (int64, bool) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0, false
	}
	for line := range strings.SplitSeq(string(b), "\n") {
		if rest, ok := strings.CutPrefix(line, "VmHWM:"); ok {
			kb, err := strconv.ParseInt(strings.TrimSuffix(strings.TrimSpace(rest), " kB"), 10, 64)
			return kb << 10, err == nil
		}
	}
	return 0, false
}

// configTestOf waits for the helper's `nginx -T` child and returns it. It looks through all of
// /proc: the helper is multi-threaded, and /proc/PID/task/PID/children lists only what its main
// thread started.
func configTestOf(t *testing.T, helper int) nginx.Proc {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	var test nginx.Proc
	err := wait.Until(ctx, 10*time.Millisecond, func() (bool, error) {
		entries, err := os.ReadDir("/proc")
		if err != nil {
			return false, err
		}
		for _, e := range entries {
			pid, err := strconv.Atoi(e.Name())
			if err != nil {
				continue
			}
			p, err := nginx.ReadProc(pid)
			if err != nil || p.PPid != helper {
				continue
			}
			if cmdline, err := os.ReadFile(fmt.Sprintf("/proc/%d/cmdline", pid)); err == nil && bytes.Contains(cmdline, []byte("\x00-T\x00")) {
				test = p
				return true, nil
			}
		}
		return false, nil
	})
	if err != nil {
		t.Fatalf("the helper never ran nginx -T: %v", err)
	}
	return test
}

// TestBigConfiguration: on a configuration nginx needs seconds to test and start, a SIGTERM during
// preflight signals nothing and kills nginx's -T; then a swap under load succeeds with deadlines
// scaled from -T (no false rollback), within a small multiple of nginx's own -t, and the helper
// stays within 20 MiB.
func TestBigConfiguration(t *testing.T) {
	b := testbed.BuildsT(t)
	n := startBig(t, b, bigServers)
	old := n.Master()
	tTest := nginxTest(t, n)

	t.Run("SIGTERM during preflight signals nothing", func(t *testing.T) {
		var test nginx.Proc
		r := ctlTracked(t, func(helper int) {
			test = configTestOf(t, helper)
			if err := syscall.Kill(helper, syscall.SIGTERM); err != nil {
				t.Fatal(err)
			}
		}, "upgrade", "--pid-file", n.PidFile, "--soak", "2s", "--json")
		if r.code != 2 || r.json.Outcome != upgrade.Refused || !strings.Contains(r.json.Error, "interrupted before USR2") {
			t.Fatalf("exit %d outcome %s (%s), want 2 refused: interrupted before USR2", r.code, r.json.Outcome, r.json.Error)
		}
		if r.took > tTest/2+5*time.Second {
			t.Errorf("the helper took %s to act on SIGTERM; nginx's -t takes %s: it waited for the test", r.took, tTest)
		}
		if nginx.Alive(test) {
			t.Errorf("nginx -T (pid %d) still runs after the helper exited", test.Pid)
		}
		servingAlone(t, n, old, b.Old)
	})

	t.Run("swap under load", func(t *testing.T) {
		tr := testbed.TrafficT(t, n.Site(), testbed.TrafficConfig{})
		r := ctlTracked(t, nil, "upgrade", "--pid-file", n.PidFile, "--soak", "2s", "--health", n.URL("/health"), "--json", "--timeout", "10m")
		labtest.NoLoss(t, tr)
		if r.code != 0 || r.json.Outcome != upgrade.Success {
			t.Fatalf("exit %d outcome %s (%s), want 0 success", r.code, r.json.Outcome, r.json.Error)
		}
		servingAlone(t, n, r.json.NewMasterPID, b.New)
		var deadline string
		for _, s := range r.json.Steps {
			if s.Step == upgrade.StepPreflight && strings.Contains(s.Message, "start and settle deadline") {
				deadline = s.Message
			}
		}
		if 3*tTest > 15*time.Second && !strings.Contains(deadline, "3 × the test, above the 15s floor") {
			t.Errorf("preflight said %q; with nginx -t at %s, want a start deadline of 3 × the test", deadline, tTest)
		}
		start := r.elapsedAt(t, upgrade.StepWorkers, "ok") - r.elapsedAt(t, upgrade.StepUSR2, "sent")
		t.Logf("USR2 to the new master's workers settled: %s (the old fixed start deadline: 15s)", start)
		// Preflight's -T (1×), the new master's start (about 1.3×), then settle, health and soak.
		if quit := r.elapsedAt(t, upgrade.StepQUIT, "sent"); quit > 4*tTest+15*time.Second {
			t.Errorf("QUIT sent %s into the run; nginx's own -t takes %s: want within 4 × that + 15 s", quit, tTest)
		}
		if r.peakRSS > helperRSSMax {
			t.Errorf("helper peak RSS %.1f MiB, want ≤ 20 MiB", float64(r.peakRSS)/(1<<20))
		}
	})
}

// memoryCgroupT makes a v1 memory cgroup under the test's own (this host mounts the memory
// controller on v1 only: its cgroup2 hierarchy has no memory.max to set) and removes it when the
// test ends, after nginx has stopped: call it before starting nginx.
func memoryCgroupT(t *testing.T) string {
	t.Helper()
	own, err := os.ReadFile("/proc/self/cgroup")
	if err != nil {
		t.Fatal(err)
	}
	var dir string
	for line := range strings.SplitSeq(string(own), "\n") {
		if f := strings.SplitN(line, ":", 3); len(f) == 3 && slices.Contains(strings.Split(f[1], ","), "memory") {
			dir = filepath.Join("/sys/fs/cgroup/memory", f[2], fmt.Sprintf("nginx-upgrade-test-%d", os.Getpid()))
		}
	}
	if dir == "" {
		t.Fatalf("no v1 memory controller in /proc/self/cgroup:\n%s", own)
	}
	if err := os.Mkdir(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	// After nginx's Stop: whatever is left in the cgroup is this test's nginx (a worker whose
	// master the OOM killer took keeps running, and keeps the fds it inherited, such as the
	// e2e lock's), so it is killed.
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		wait.Until(ctx, 20*time.Millisecond, func() (bool, error) {
			procs, err := os.ReadFile(filepath.Join(dir, "cgroup.procs"))
			for _, f := range strings.Fields(string(procs)) {
				if pid, err := strconv.Atoi(f); err == nil {
					syscall.Kill(pid, syscall.SIGKILL)
				}
			}
			return len(bytes.TrimSpace(procs)) == 0, err
		})
		if err := os.Remove(dir); err != nil {
			t.Errorf("remove cgroup: %v", err)
		}
	})
	return dir
}

func writeCgroup(t *testing.T, dir, file string, v any) {
	t.Helper()
	if err := os.WriteFile(filepath.Join(dir, file), []byte(fmt.Sprint(v)), 0o644); err != nil {
		t.Fatalf("write %s: %v", file, err)
	}
}

func readCgroup(t *testing.T, dir, file string) int64 {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(dir, file))
	if err != nil {
		t.Fatal(err)
	}
	v, err := strconv.ParseInt(strings.TrimSpace(string(b)), 10, 64)
	if err != nil {
		t.Fatal(err)
	}
	return v
}

// pssOf sums the Pss of a master and its children, as the helper measures a generation.
func pssOf(t *testing.T, master int) int64 {
	t.Helper()
	pids := []int{master}
	kids, _ := nginx.Children(master)
	for _, k := range kids {
		pids = append(pids, k.Pid)
	}
	var sum int64
	for _, pid := range pids {
		b, err := os.ReadFile(fmt.Sprintf("/proc/%d/smaps_rollup", pid))
		if err != nil {
			t.Fatal(err)
		}
		for line := range strings.SplitSeq(string(b), "\n") {
			if rest, ok := strings.CutPrefix(line, "Pss:"); ok {
				kb, _ := strconv.ParseInt(strings.TrimSuffix(strings.TrimSpace(rest), " kB"), 10, 64)
				sum += kb << 10
			}
		}
	}
	return sum
}

// TestMemoryHeadroom: nginx in a memory cgroup whose limit leaves room for less than the old
// generation's footprint plus the margin: the run is refused with how much is needed and there,
// nothing signalled; --ignore-memory goes on to USR2. What follows is up to the kernel: here the
// OOM killer took the new master while it parsed the configuration, and the run rolled back (or
// it took the old master: the hazard the check is for), so only the USR2 is asserted.
func TestMemoryHeadroom(t *testing.T) {
	b := testbed.BuildsT(t)
	cg := memoryCgroupT(t)
	n := startBig(t, b, 3_000)
	old := n.Master()
	pids := []int{old}
	kids, _ := nginx.Children(old)
	for _, k := range kids {
		pids = append(pids, k.Pid)
	}
	for _, pid := range pids {
		writeCgroup(t, cg, "cgroup.procs", pid)
	}
	footprint := pssOf(t, old)
	margin := max(footprint/10, 32<<20)
	usage := readCgroup(t, cg, "memory.usage_in_bytes")
	// Room for the footprint and half the margin: less than the helper asks for.
	limit := usage + footprint + margin/2
	writeCgroup(t, cg, "memory.limit_in_bytes", limit)
	t.Logf("nginx generation: Pss %.1f MiB; cgroup usage %.1f MiB, limit %.1f MiB", float64(footprint)/(1<<20), float64(usage)/(1<<20), float64(limit)/(1<<20))

	r := ctl(t, "upgrade", "--pid-file", n.PidFile, "--soak", "1s", "--json")
	if r.code != 2 || r.json.Outcome != upgrade.Refused || !strings.Contains(r.json.Error, "not enough memory for a second generation") ||
		!strings.Contains(r.json.Error, "memory.limit_in_bytes") || !strings.Contains(r.json.Error, "need ") {
		t.Fatalf("exit %d outcome %s (%s), want 2 refused: not enough memory, need and available from the cgroup", r.code, r.json.Outcome, r.json.Error)
	}
	for _, s := range r.json.Steps {
		if s.Step == upgrade.StepUSR2 {
			t.Fatalf("refused, but USR2 was sent: %+v", s)
		}
	}
	servingAlone(t, n, old, b.Old)

	r = ctl(t, "upgrade", "--pid-file", n.PidFile, "--soak", "1s", "--ignore-memory", "--json")
	r.elapsedAt(t, upgrade.StepUSR2, "sent")
	t.Logf("with --ignore-memory the swap went on: exit %d, outcome %s (%s)", r.code, r.json.Outcome, r.json.Error)
}
