package bench

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/nginx-upgrade/nginx-upgrade/internal/lab/bench/report"
	"github.com/nginx-upgrade/nginx-upgrade/internal/lab/testbed"
	"github.com/nginx-upgrade/nginx-upgrade/internal/nginx"
)

// Restart stops nginx and starts the new build, as `systemctl restart nginx` does with Debian's
// nginx.service: ExecStop is `start-stop-daemon --stop --retry QUIT/5` (here `nginx -s quit`, the
// same QUIT, then up to 5 s for the master to exit); if it has not, systemd sends SIGTERM (fast
// shutdown) to the main process and after TimeoutStopSec=5 SIGKILL to all that is left
// (KillMode=mixed); then ExecStartPre `nginx -t -q` and ExecStart. Listeners close at QUIT, so
// new connections are refused until the new master listens.
type Restart struct{}

func (Restart) Name() string { return "restart" }
func (Restart) Describe() string {
	return "systemctl restart as Debian's unit does it: QUIT, ≤5 s, TERM, ≤5 s, KILL; nginx -t; start"
}

// The stop schedule of Debian's nginx.service.
const (
	quitGrace = 5 * time.Second // --retry QUIT/5
	termGrace = 5 * time.Second // TimeoutStopSec=5
)

func (Restart) Swap(ctx context.Context, env Env) (Outcome, error) {
	n := env.Nginx
	var o Outcome
	mark := func(label string) { o.Marks = append(o.Marks, report.Mark{Label: label, At: env.Clock(time.Now())}) }
	pid, err := nginx.ReadPidFile(n.PidFile)
	if err != nil {
		return o, fmt.Errorf("restart: %w", err)
	}
	master, err := nginx.ReadProc(pid)
	if err != nil {
		return o, fmt.Errorf("restart: %w", err)
	}
	mark("QUIT")
	if out, err := exec.CommandContext(ctx, n.Binary, append(prefixArgs(n), "-s", "quit")...).CombinedOutput(); err != nil {
		return o, fmt.Errorf("nginx -s quit: %w: %s", err, out)
	}
	if !waitGone(ctx, master, quitGrace) {
		mark("TERM")
		syscall.Kill(master.Pid, syscall.SIGTERM)
		if !waitGone(ctx, master, termGrace) {
			mark("KILL")
		}
	}
	// KillMode=mixed: whatever is left of the service (workers still draining) is killed.
	for _, p := range PrefixProcs(n.Binary) {
		syscall.Kill(p.Pid, syscall.SIGKILL)
	}
	if out, err := exec.CommandContext(ctx, n.Binary, append(prefixArgs(n), "-t", "-q")...).CombinedOutput(); err != nil {
		return o, fmt.Errorf("nginx -t: %w: %s", err, out)
	}
	mark("start")
	if err := n.Start(ctx, testbed.Config{Workers: env.Workers}); err != nil {
		return o, fmt.Errorf("restart: %w", err)
	}
	o.Detail = "restarted"
	return o, nil
}

// prefixArgs are the flags the test bed starts nginx with (see testbed.Nginx.Start).
func prefixArgs(n *testbed.Nginx) []string {
	return []string{"-p", n.Dir, "-c", n.Conf(), "-e", filepath.Join(n.Dir, "logs/error.log"),
		"-g", "daemon on; master_process on;"}
}

// waitGone waits up to d for p to exit; it reports whether it did.
func waitGone(ctx context.Context, p nginx.Proc, d time.Duration) bool {
	deadline := time.Now().Add(d)
	for nginx.Alive(p) {
		if time.Now().After(deadline) || ctx.Err() != nil {
			return false
		}
		time.Sleep(5 * time.Millisecond)
	}
	return true
}

// PrefixProcs lists the live processes running binary (as installed now or replaced since): the
// masters and workers of one test-bed prefix, whichever build they run. It scans /proc.
func PrefixProcs(binary string) []nginx.Proc {
	entries, _ := os.ReadDir("/proc")
	var ps []nginx.Proc
	for _, e := range entries {
		pid, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		exe, err := os.Readlink("/proc/" + e.Name() + "/exe")
		if err != nil || strings.TrimSuffix(exe, " (deleted)") != binary {
			continue
		}
		if p, err := nginx.ReadProc(pid); err == nil {
			ps = append(ps, p)
		}
	}
	return ps
}
