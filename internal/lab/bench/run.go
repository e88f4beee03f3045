package bench

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"syscall"
	"time"

	"github.com/nginx-upgrade/nginx-upgrade/internal/lab/bench/report"
	"github.com/nginx-upgrade/nginx-upgrade/internal/lab/testbed"
	"github.com/nginx-upgrade/nginx-upgrade/internal/nginx"
)

// Bed is what every run shares: the builds, where prefixes go, the load and the timeline.
type Bed struct {
	Builds     testbed.Builds
	TmpDir     string
	Load       testbed.TrafficConfig
	SwapAt     time.Duration // when the swap starts on the load's timeline, unless the floor ran late
	SteadyFrom time.Duration // the steady window is [SteadyFrom, swap): past the load's start-up and the floor
	MinSteady  time.Duration // the swap waits until the steady window is at least this long
	FloorAt    time.Duration // when the new build's cold starts under load begin
	FloorTries int           // cold starts of the new build per run, idle and under load
	Bucket     time.Duration // timeline resolution
	Nofile     uint64        // the open-file limit nginx inherits (see RaiseNofile)
	IdleHolder []string      // the command line of an idle holder (see HoldIdle), for runs with idle connections
	QuietBelow float64       // a run waits for the machine to be at most this % busy...
	QuietWait  time.Duration // ...for at most this long
}

// DefaultBed returns the settings of `make bench`.
func DefaultBed(b testbed.Builds, tmp string) Bed {
	return Bed{Builds: b, TmpDir: tmp, Load: DefaultLoad(), SwapAt: 5 * time.Second,
		SteadyFrom: 1500 * time.Millisecond, MinSteady: 2500 * time.Millisecond, FloorAt: 300 * time.Millisecond, FloorTries: 3,
		Bucket: 100 * time.Millisecond, QuietBelow: 25, QuietWait: 30 * time.Second}
}

// SettingsOf records bed's settings.
func SettingsOf(bed Bed, reps int, downloadRate string) report.Settings {
	l := bed.Load
	return report.Settings{Reps: reps, StreamRate: l.Rate, StreamTimeout: report.Millis(l.Timeout), LoadDurationMS: report.Millis(l.WrkDuration),
		WrkConns: l.WrkConns, Downloads: l.Downloads, DownloadBytes: l.DownloadSize, DownloadRate: downloadRate,
		SwapAtMS: report.Millis(bed.SwapAt), SteadyFromMS: report.Millis(bed.SteadyFrom), FloorAtMS: report.Millis(bed.FloorAt), BucketMS: report.Millis(bed.Bucket),
		FloorTries: bed.FloorTries, PollMS: report.Millis(pollEvery), QuietBelowPct: bed.QuietBelow, QuietWaitS: bed.QuietWait.Seconds(),
		BusySampleMS: report.Millis(busySample)}
}

// Spec is one run to do.
type Spec struct {
	Method  Method
	Rep     int
	Workers int
	Idle    int // idle keep-alive connections held open across the swap (0: none)
	// Point, on a scale axis, is what the run varies (server blocks, certificates, sleeping
	// processes; its Idle is Idle's); the run then also measures the axis's extras. TLS adds
	// an HTTPS server and returning TLS visitors.
	Point *report.Point
	TLS   *TLSPoint
}

// RunOnce runs spec once. A BoxMethod runs in a box of its own (see runInBox); any other method
// runs on the host: see runOnHost.
func RunOnce(ctx context.Context, bed Bed, spec Spec) (report.Run, error) {
	if m, ok := spec.Method.(BoxMethod); ok {
		return runInBox(ctx, bed, spec, m)
	}
	return runOnHost(ctx, bed, spec)
}

// runOnHost sets up a fresh prefix on the old build, starts the load, times the new build's cold
// start in a prefix of its own (under that load, and before it with none), lets the load settle,
// swaps with spec.Method, and measures. A failed setup is an error; a failed swap is recorded in
// the Run.
func runOnHost(ctx context.Context, bed Bed, spec Spec) (report.Run, error) {
	r := report.Run{Method: spec.Method.Name(), Rep: spec.Rep, Workers: spec.Workers, Point: spec.Point}
	var dir string
	var err error
	if r.BusyBeforePct, dir, err = quietDir(ctx, bed, "run"); err != nil {
		return r, err
	}
	defer os.RemoveAll(dir)
	var p report.Point
	if spec.Point != nil {
		p = *spec.Point
		r.Axis = &report.AxisRun{HelperTestMS: -1, PreflightMS: -1, OverheadMS: -1, OwnCPUMS: -1, WallMS: -1}
	}
	certDir := filepath.Join(bed.TmpDir, "certs")
	if p.Certs > 0 {
		if err := ensureCerts(certDir, p.Certs); err != nil {
			return r, err
		}
	}
	if p.Sleepers > 0 {
		start := time.Now()
		sl, err := StartSleepers(ctx, p.Sleepers)
		if err != nil {
			return r, err
		}
		fmt.Fprintf(os.Stderr, "sleepers: %d started in %v\n", p.Sleepers, time.Since(start).Round(time.Second))
		defer func() {
			start := time.Now()
			err := sl.Stop()
			fmt.Fprintf(os.Stderr, "sleepers: %d stopped and reaped in %v (error: %v)\n", p.Sleepers, time.Since(start).Round(time.Second), err)
		}()
	}

	floor, err := testbed.Setup(filepath.Join(dir, "floor"), bed.Builds.New, testbed.Config{Workers: spec.Workers})
	if err != nil {
		return r, fmt.Errorf("floor: set up: %w", err)
	}
	defer stopAll(floor)
	if p.Servers > 0 {
		if err := writeBigconf(floor, p.Servers, p.Certs, certDir); err != nil {
			return r, err
		}
	}
	idleFloor, err := coldStarts(ctx, floor, spec.Workers, bed.FloorTries)
	if err != nil {
		return r, err
	}
	r.FloorIdleTries = idleFloor
	r.FloorIdleMS = report.Median(r.FloorIdleTries)

	n, err := testbed.Setup(filepath.Join(dir, "nginx"), bed.Builds.Old, testbed.Config{Workers: spec.Workers})
	if err != nil {
		return r, fmt.Errorf("set up nginx: %w", err)
	}
	defer stopAll(n)
	if spec.Idle > 0 {
		if err := tuneForIdle(n, bed.Nofile, spec.Idle); err != nil {
			return r, err
		}
	}
	if p.Servers > 0 {
		if err := writeBigconf(n, p.Servers, p.Certs, certDir); err != nil {
			return r, err
		}
	}
	var site tlsSite
	if spec.TLS != nil {
		if site, err = addTLSServer(n, *spec.TLS, certDir); err != nil {
			return r, err
		}
	}
	if err := prepareSlow(n, bed.Load.DownloadSize); err != nil {
		return r, err
	}
	sctx, cancel := context.WithTimeout(ctx, time.Minute) // a big configuration starts in seconds
	defer cancel()
	if err := n.Start(sctx, testbed.Config{Workers: spec.Workers}); err != nil {
		return r, err
	}
	old, err := nginx.ReadProc(n.Master())
	if err != nil {
		return r, fmt.Errorf("old master: %w", err)
	}
	// As a package upgrade does: the new build is on disk before anything is told to use it.
	if err := n.Install(bed.Builds.New); err != nil {
		return r, fmt.Errorf("install new build: %w", err)
	}
	if r.Axis != nil {
		if r.Axis.NginxTestMS, err = timeNginxTest(ctx, n); err != nil {
			return r, err
		}
	}
	var idle *idleHolders
	var landed []int
	if spec.Idle > 0 {
		if idle, err = openIdle(ctx, bed.IdleHolder, n.Port, spec.Idle); err != nil {
			return r, err
		}
		defer idle.close()
		if landed, err = workerFDs(old.Pid); err != nil {
			return r, err
		}
	}

	tr, err := testbed.StartTraffic(ctx, n.Site(), bed.Load)
	if err != nil {
		return r, fmt.Errorf("start load: %w", err)
	}
	var visitors *visitorLoad
	if spec.TLS != nil {
		if visitors, err = startVisitors(ctx, site, n.Binary, tr); err != nil {
			tr.Stop()
			return r, err
		}
		defer visitors.stop()
	}
	if err := floorUnderLoad(ctx, &r, bed, floor, spec.Workers, tr); err != nil {
		tr.Stop()
		return r, err
	}
	subj := subject{
		env:      Env{Nginx: n, Workers: spec.Workers, Clock: tr.Clock},
		old:      old,
		serving:  func() (nginx.Proc, bool) { return serving(n.PidFile, old, spec.Workers) },
		endState: func(nm nginx.Proc) string { return endState(n, nm, spec.Workers) },
	}
	if err := swap(ctx, &r, bed, spec.Method, subj, tr); err != nil {
		tr.Stop()
		return r, err
	}
	if idle != nil {
		// Give the server a moment after the swap to close what it will, then look.
		time.Sleep(time.Second)
		ir, err := idle.snapshot(ctx, tr.Clock)
		if err != nil {
			tr.Stop()
			return r, err
		}
		ir.NginxNofile, ir.WorkerFDs = bed.Nofile, landed
		r.Idle = &ir
	}
	if visitors != nil {
		if r.Axis.TLS, err = visitors.measure(ctx, r); err != nil {
			tr.Stop()
			return r, err
		}
	}
	measure(&r, bed, tr.Stop())
	if r.Axis != nil && r.Axis.HelperTestMS >= 0 && r.USR2ToServingMS >= 0 && r.NewServingMS >= 0 {
		r.Axis.OverheadMS = r.NewServingMS - r.USR2ToServingMS - r.Axis.HelperTestMS
	}
	if r.BusyAfterPct, err = Busy(ctx, busySample); err != nil {
		return r, err
	}
	return r, nil
}

// quietDir waits for the machine to be quiet as bed says (see WaitQuiet), then makes a directory
// of the run's own under bed.TmpDir for the caller to remove. busy is the last sample, also when
// err is set.
func quietDir(ctx context.Context, bed Bed, name string) (busy float64, dir string, err error) {
	if busy, err = WaitQuiet(ctx, bed.QuietBelow, bed.QuietWait); err != nil {
		return busy, "", err
	}
	if dir, err = os.MkdirTemp(bed.TmpDir, name+"-"); err != nil {
		return busy, "", fmt.Errorf("%s dir: %w", name, err)
	}
	return busy, dir, nil
}

// floorUnderLoad times the new build's cold start while the load runs, before the steady
// window: the floor the swap is compared with, under the same conditions. The steady window
// starts after it, however long it took.
func floorUnderLoad(ctx context.Context, r *report.Run, bed Bed, floor *testbed.Nginx, workers int, tr *testbed.Traffic) error {
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-time.After(bed.FloorAt - tr.Clock(time.Now())):
	}
	times, err := coldStarts(ctx, floor, workers, bed.FloorTries)
	if err != nil {
		return err
	}
	r.FloorTriesMS = times
	r.FloorMS = report.Median(r.FloorTriesMS)
	r.SteadyFromMS = report.Millis(max(bed.SteadyFrom, tr.Clock(time.Now())+100*time.Millisecond))
	return nil
}

// subject is the nginx a run swaps, as the method, the watch and the check at the end see it.
type subject struct {
	env      Env
	old      nginx.Proc                // the old master, as the host sees it
	serving  func() (nginx.Proc, bool) // a new master once it has all its workers
	endState func(nginx.Proc) string   // "ok", or what is wrong after the swap with this new master
}

// swap runs the method while watching for the new master and the old one's end, into r.
func swap(ctx context.Context, r *report.Run, bed Bed, m Method, s subject, tr *testbed.Traffic) error {
	// A floor measurement slowed by a busy machine must not leave the steady window short.
	at := max(bed.SwapAt, report.Dur(r.SteadyFromMS)+bed.MinSteady)
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-time.After(at - tr.Clock(time.Now())):
	}
	wctx, stopWatch := context.WithCancel(ctx)
	defer stopWatch()
	w := startWatch(wctx, s.serving, s.old, tr.Clock)

	within := 2 * time.Minute
	if l, ok := m.(Lengthy); ok {
		within = l.Within()
	}
	mctx, cancel := context.WithTimeout(ctx, within)
	defer cancel()
	start := tr.Clock(time.Now())
	out, err := m.Swap(mctx, s.env)
	returned := tr.Clock(time.Now())
	if err != nil {
		r.Error = err.Error()
	}
	r.ExitCode, r.Detail, r.Marks = out.ExitCode, out.Detail, out.Marks
	if out.Usage != nil {
		r.HelperRSSKiB, r.HelperRusageRSS, r.HelperCPUMS = out.Usage.MaxRSSKiB, out.Usage.RusageMaxRSSKiB, report.Millis(out.Usage.CPU)
		if r.Axis != nil {
			r.Axis.OwnCPUMS, r.Axis.WallMS = report.Millis(out.Usage.OwnCPU), report.Millis(out.Usage.Wall)
		}
	}
	if p := out.Preflight; p != nil && r.Axis != nil {
		r.Axis.PreflightMS, r.Axis.HelperTestMS, r.Axis.Note, r.Axis.Steps = p.EndMS, p.TestMS, p.Note, p.Steps
	}
	// The old master outlives the method while its downloads finish: bounded by their length.
	timer := time.AfterFunc(30*time.Second, stopWatch)
	defer timer.Stop()
	newServing, oldGone, nm := w.wait()

	r.SwapStartMS = report.Millis(start)
	r.SwapEndMS = report.Millis(max(returned, newServing, oldGone))
	r.NewServingMS, r.OldGoneMS = since(start, newServing), since(start, oldGone)
	r.USR2ToServingMS = -1
	for _, m := range r.Marks {
		if m.Label == "USR2" {
			r.USR2ToServingMS = since(m.At, newServing)
			break
		}
	}
	r.EndState = s.endState(nm)
	r.Took = r.EndState == "ok"
	return nil
}

// stopAll stops the prefix's nginx and kills anything of it still left (a stray worker).
func stopAll(n *testbed.Nginx) {
	n.Stop()
	for _, p := range PrefixProcs(n.Binary) {
		syscall.Kill(p.Pid, syscall.SIGKILL)
	}
}
