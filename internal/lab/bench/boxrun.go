package bench

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"github.com/nginx-upgrade/nginx-upgrade/internal/lab/bench/report"
	"github.com/nginx-upgrade/nginx-upgrade/internal/lab/testbed"
	"github.com/nginx-upgrade/nginx-upgrade/internal/nginx"
)

// boxTimeout bounds booting and readying a box, the wait for the host's container lock included:
// the project's container tests hold that lock for minutes at a time.
const boxTimeout = 20 * time.Minute

// boxPidFile is where Debian's nginx.service keeps the master's pid, in the box.
const boxPidFile = "/run/nginx.pid"

// runInBox is RunOnce for a BoxMethod. Each run boots a box of its own: every run then starts
// from the same freshly booted system, as the packaging tests do, and a boot with the older
// build installed takes a few seconds, little next to the load's length. The load comes from the
// host, on the box's site on the host's loopback. There is no floor here: the time to the new
// build serving is from the method's start (dpkg's), and the steady window starts at
// bed.SteadyFrom as for a host run whose floor was quick.
func runInBox(ctx context.Context, bed Bed, spec Spec, m BoxMethod) (_ report.Run, err error) {
	r := report.Run{Method: m.Name(), Rep: spec.Rep, Workers: spec.Workers, FloorMS: -1, FloorIdleMS: -1}
	box, err := readyBox(ctx, m)
	if err != nil {
		return r, err
	}
	defer func() {
		if cerr := box.Close(); cerr != nil && err == nil {
			err = fmt.Errorf("close box: %w", cerr)
		}
	}()
	if err := boxSlow(box, bed.TmpDir, bed.Load.DownloadSize); err != nil {
		return r, err
	}
	// After the boot: a box's start-up work must settle too.
	if r.BusyBeforePct, err = WaitQuiet(ctx, bed.QuietBelow, bed.QuietWait); err != nil {
		return r, err
	}
	pf := &boxPids{box: box, path: filepath.Join(box.Root(), boxPidFile), procs: map[int]nginx.Proc{}}
	old, ok := pf.master()
	if !ok {
		return r, fmt.Errorf("no nginx master named by %s in box %s", boxPidFile, box.Name())
	}
	// Debian's nginx.conf says `worker_processes auto`: expect as many workers as it runs now.
	ws, _, err := nginx.Workers(old.Pid)
	if err != nil {
		return r, fmt.Errorf("workers of the old master: %w", err)
	}
	r.Workers = len(ws)

	load, stop := bed.Load, (*testbed.Traffic).Stop
	if l, ok := m.(Lengthy); ok {
		// The load lasts as long as the method, however long that is.
		load.WrkDuration, load.KeepDownloading, stop = bed.SwapAt+l.Within(), true, (*testbed.Traffic).StopNow
	}
	tr, err := testbed.StartTraffic(ctx, box.Site, load)
	if err != nil {
		return r, fmt.Errorf("start load: %w", err)
	}
	pf.clock = tr.Clock
	r.SteadyFromMS = report.Millis(bed.SteadyFrom)
	subj := subject{
		env:      Env{Box: box, Workers: r.Workers, Clock: tr.Clock},
		old:      old,
		serving:  func() (nginx.Proc, bool) { return pf.serving(old, r.Workers) },
		endState: func(nginx.Proc) string { return boxEndState(ctx, box, r.Workers) },
	}
	pctx, stopPids := context.WithCancel(ctx)
	polled := pf.poll(pctx)
	err = swap(ctx, &r, bed, m, subj, tr)
	stopPids()
	<-polled
	if err != nil {
		stop(tr)
		return r, err
	}
	r.Events = pf.newMasters()
	measure(&r, bed, stop(tr))
	if r.BusyAfterPct, err = Busy(ctx, busySample); err != nil {
		return r, err
	}
	return r, nil
}

// readyBox boots a box with the older build serving and lets m ready it.
func readyBox(ctx context.Context, m BoxMethod) (*testbed.Box, error) {
	bctx, cancel := context.WithTimeout(ctx, boxTimeout)
	defer cancel()
	var opts testbed.BoxOptions
	if l, ok := m.(Lengthy); ok {
		var err error
		if opts, err = l.BoxOptions(); err != nil {
			return nil, fmt.Errorf("box for %s: %w", m.Name(), err)
		}
	}
	box, err := testbed.NewBox(bctx, opts)
	if err != nil {
		return nil, fmt.Errorf("box: %w", err)
	}
	if err := m.Prepare(bctx, box); err != nil {
		return nil, errors.Join(fmt.Errorf("prepare box for %s: %w", m.Name(), err), box.Close())
	}
	return box, nil
}

// boxPids follows the box's pid file from the host. The pids it names are the box's; each is
// translated to a host process once (a scan of the host's /proc, done only when the file names
// a pid not seen before), so polling it costs one small read. It also marks when the file first
// names each master after the old one: a restart's, a USR2's.
type boxPids struct {
	box   *testbed.Box
	path  string // the pid file, through the box's root
	clock func(time.Time) time.Duration

	mu    sync.Mutex
	procs map[int]nginx.Proc // box pid → host process (zero when none was found)
	seen  []report.Mark
}

// master returns the live master the pid file names now.
func (p *boxPids) master() (nginx.Proc, bool) {
	now := time.Now()
	pid, err := nginx.ReadPidFile(p.path)
	if err != nil {
		return nginx.Proc{}, false
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	proc, known := p.procs[pid]
	if !known {
		// nginx writes its own pid: the process exists when the file names it.
		if host, err := p.box.HostPID(pid); err == nil {
			proc, _ = nginx.ReadProc(host)
		}
		p.procs[pid] = proc
		if len(p.procs) > 1 && proc.Pid != 0 && p.clock != nil {
			p.seen = append(p.seen, report.Mark{Label: fmt.Sprintf("master %d", pid), At: p.clock(now)})
		}
	}
	return proc, proc.Pid != 0 && nginx.Alive(proc)
}

// serving returns the master the pid file names if it is not old and has all its workers.
func (p *boxPids) serving(old nginx.Proc, workers int) (nginx.Proc, bool) {
	m, ok := p.master()
	return m, ok && newServing(m, old, workers)
}

// poll looks at the pid file every pollEvery until ctx ends, so that every master it names is
// marked, also after the watch has seen the first new one serve; the channel closes then.
func (p *boxPids) poll(ctx context.Context) <-chan struct{} {
	done := make(chan struct{})
	go func() {
		defer close(done)
		t := time.NewTicker(pollEvery)
		defer t.Stop()
		for {
			p.master()
			select {
			case <-ctx.Done():
				return
			case <-t.C:
			}
		}
	}()
	return done
}

// newMasters are the moments the pid file first named each master after the old one.
func (p *boxPids) newMasters() []report.Mark {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.seen
}

// boxEndCheck prints what is wrong with the box's nginx after a swap, or nothing: the pid file's
// master runs the binary installed now and maps no deleted library or module, no .oldbin is
// left, one master and its workers run.
const boxEndCheck = `pid=$(cat ` + boxPidFile + `) || exit 0
[ /proc/$pid/exe -ef /usr/sbin/nginx ] || echo "master $pid runs a replaced binary"
d=$(awk '/ \(deleted\)$/ && $2 ~ /x/ && $6 ~ /^\// && $6 != "/dev/zero" && $6 !~ /^\/(memfd:|SYSV)/ { n = split($6, p, "/"); print p[n] }' /proc/$pid/maps | sort -u | tr '\n' ' ')
[ -z "$d" ] || echo "master $pid still runs deleted files: ${d% }"
[ ! -e ` + boxPidFile + `.oldbin ] || echo "` + boxPidFile + `.oldbin left behind"
echo "procs $(pgrep -c -x nginx)"`

// boxEndState checks the end of a swap in a box: nginx.service is active/running with the
// pid file's master as its MainPID, which runs the new build with all its workers and no other
// nginx process left. It returns "ok" or what is wrong.
func boxEndState(ctx context.Context, box *testbed.Box, workers int) string {
	u, err := box.ReadUnit(ctx, "nginx")
	if err != nil {
		return err.Error()
	}
	if !u.Running() {
		return fmt.Sprintf("nginx.service is %s/%s", u.ActiveState, u.SubState)
	}
	pid, err := nginx.ReadPidFile(filepath.Join(box.Root(), boxPidFile))
	if err != nil {
		return err.Error()
	}
	if pid != u.MainPID {
		return fmt.Sprintf("nginx.service's MainPID is %d, the pid file names %d", u.MainPID, pid)
	}
	out, err := box.Shell(ctx, boxEndCheck)
	if err != nil {
		return err.Error()
	}
	var problems []string
	for line := range strings.Lines(out) {
		line = strings.TrimSpace(line)
		if n, ok := strings.CutPrefix(line, "procs "); ok {
			if n != fmt.Sprint(1+workers) {
				problems = append(problems, fmt.Sprintf("%s nginx processes, want %d", n, 1+workers))
			}
			continue
		}
		problems = append(problems, line)
	}
	if host, err := box.HostPID(pid); err != nil {
		problems = append(problems, err.Error())
	} else if ws, _, err := nginx.Workers(host); err != nil || len(ws) != workers {
		problems = append(problems, fmt.Sprintf("master %d has %d of %d workers (%v)", pid, len(ws), workers, err))
	}
	if len(problems) > 0 {
		return strings.Join(problems, "; ")
	}
	return "ok"
}
