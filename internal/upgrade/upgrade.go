// Package upgrade replaces the executable of a running nginx the way nginx allows, without
// dropping a connection, and checks every step instead of sleeping and hoping:
//
//	preflight → keep → USR2 → new master → its workers → health → WINCH → health → soak → hand-over → QUIT → verify
//
// USR2 makes the old master exec the binary on disk as a second master sharing the listening
// sockets; WINCH makes the old workers stop accepting and finish what they serve; QUIT ends the old
// master. Until QUIT, HUP to the old master and QUIT to the new one undo it all, so any failed
// check before QUIT rolls back by itself. The state is never stored: it is read from the pid files
// and /proc (see state.go), so a run killed anywhere leaves something status can name and
// Rollback or Commit can finish.
package upgrade

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"golang.org/x/sys/unix"

	"github.com/nginx-upgrade/nginx-upgrade/internal/health"
	"github.com/nginx-upgrade/nginx-upgrade/internal/keep"
	"github.com/nginx-upgrade/nginx-upgrade/internal/nginx"
	"github.com/nginx-upgrade/nginx-upgrade/internal/wait"
)

// Options configure a run. Zero durations take the defaults in setDefaults.
type Options struct {
	PidFile string
	Binary  string // must be the file the master re-executes; "" means that file
	Soak    time.Duration
	Pause   bool // stop after WINCH, leaving both masters for an audit
	Health  health.Checker

	StartTimeout    time.Duration // USR2 until the new master's workers are up
	DrainTimeout    time.Duration // WINCH until the old workers stop accepting
	Settle          time.Duration // how long new workers must stay up before they count
	HealthEvery     time.Duration // health checks during the soak
	HealthTimeout   time.Duration // one round of health checks
	RollbackTimeout time.Duration // a rollback gets its own budget: it must run even after a timeout
	DrainWait       time.Duration // QUIT until the old master is gone; after it, it drains on its own
	Poll            time.Duration

	// Wait is how long a run waits, from its start, for another run's lock and for a previous
	// swap's old master to finish draining; 0 refuses at once.
	Wait time.Duration

	// AllowUntrusted accepts pid files and binaries that someone other than root could have
	// written; only for a deliberate, unusual layout.
	AllowUntrusted bool
	// IgnoreMemory swaps even when the memory available to nginx looks too small for a second
	// generation beside the running one.
	IgnoreMemory bool
	memory       memorySource // where memory is read; fixtures in tests

	LockDir    string
	StateDir   string     // kept builds and the record of a failed swap (keep.DefaultDir when "")
	UpgradeID  string     // the run's UPGRADE_ID in the audit trail, for the record of a failed swap
	Supervisor Supervisor // the service manager tracking nginx; nil when there is none
	OnEvent    Observer   // called with every event as it happens
}

// Supervisor is the service manager that tracks nginx's main process (systemd). It is told of the
// new master before the old one exits, and asked afterwards whether it agrees.
type Supervisor interface {
	// HandOver says how it made to the main process: "" when the supervisor already tracked it.
	HandOver(ctx context.Context, from, to nginx.Proc) (string, error)
	Verify(ctx context.Context, master int) error
}

func (o *Options) setDefaults() {
	def := func(d *time.Duration, v time.Duration) {
		if *d == 0 {
			*d = v
		}
	}
	def(&o.StartTimeout, 15*time.Second)
	def(&o.DrainTimeout, 15*time.Second)
	def(&o.Settle, time.Second)
	def(&o.HealthEvery, time.Second)
	def(&o.HealthTimeout, 10*time.Second) // a lost SYN costs 1 s, then 2 s more, on a busy host
	def(&o.RollbackTimeout, time.Minute)
	def(&o.DrainWait, 5*time.Second)
	def(&o.Poll, 20*time.Millisecond)
	if o.memory == (memorySource{}) {
		o.memory = systemMemory
	}
	if o.LockDir == "" {
		o.LockDir = DefaultLockDir
	}
}

// run is one command in progress: its options, its record and, for an upgrade, what it has found
// so far.
type run struct {
	opts       Options
	rec        *recorder
	old        nginx.Master
	oldWorkers int                          // serving workers of the old master before USR2
	bin        nginx.Binary                 // the new build, as tested in preflight
	workers    int                          // workers the new master must have
	nm         nginx.Proc                   // the new master
	newWorkers []nginx.Proc                 // its workers, as first seen settled
	staleAfter []string                     // code files the new master and its workers map that were replaced during the run
	oldBuild   func() keep.Build            // the old master's build as keep describes it; waits for the checks beside the -T
	staged     func() (*keep.Staged, error) // the old master's build, copied into the store beside the -T

	waitUntil       time.Time     // the end of Options.Wait
	shutdownTimeout time.Duration // worker_shutdown_timeout of the configuration, 0 when unset
}

var (
	errOldGone        = errors.New("old master exited")
	errWorkersMissing = errors.New("workers missing")
)

// begin is how Upgrade, Reload, Commit and Rollback start: the defaults filled in, a recorder for
// the events, and the run lock on this nginx held until body returns.
func begin(ctx context.Context, opts Options, body func(r *run) *Result) *Result {
	opts.setDefaults()
	r := &run{opts: opts, rec: newRecorder(opts.OnEvent), waitUntil: time.Now().Add(opts.Wait)}
	release, waited, err := lockWithin(ctx, opts.LockDir, opts.PidFile, r.waitUntil, opts.Poll)
	if err != nil {
		return r.rec.finish(Refused, err, "refused: %v", err)
	}
	defer release()
	if waited > 0 {
		r.rec.record(StepLock, "ok", nil, "waited %s for the run in progress to finish; deciding afresh", waited.Round(time.Millisecond))
	}
	return body(r)
}

// Upgrade swaps the running nginx to the binary on disk.
func Upgrade(ctx context.Context, opts Options) *Result {
	return begin(ctx, opts, func(r *run) *Result { return r.upgrade(ctx) })
}

// upgrade is the sequence itself, one state after the other.
func (r *run) upgrade(ctx context.Context) *Result {
	defer r.dropStaged()
	if res := r.findMaster(ctx); res != nil {
		return res
	}
	if res := r.countOldWorkers(); res != nil {
		return res
	}
	if res := r.preflight(ctx); res != nil {
		return res
	}
	if res := r.keepRunning(); res != nil {
		return res
	}
	if res := r.interrupted(ctx, "USR2"); res != nil {
		return res
	}
	if err := nginx.Signal(r.old.Proc, unix.SIGUSR2); err != nil {
		return r.rec.finish(Refused, err, "nothing changed: %v", err)
	}
	r.rec.record(StepUSR2, "sent", nil, "sent USR2 to old master %d", r.old.Pid)

	if err := r.waitNewMaster(ctx); err != nil {
		return r.fail(ctx, StepNewMaster, err)
	}
	if err := r.waitWorkers(ctx); err != nil {
		return r.fail(ctx, StepWorkers, err)
	}
	if err := r.checkHealth(ctx, "both builds serving"); err != nil {
		return r.fail(ctx, StepHealth, err)
	}
	if err := r.drainOld(ctx); err != nil {
		return r.fail(ctx, StepWINCH, err)
	}
	// Now only the new workers accept: this round proves the new build answers on its own.
	if err := r.checkHealth(ctx, "new build serving alone"); err != nil {
		return r.fail(ctx, StepHealth, err)
	}
	if r.opts.Pause {
		return r.rec.finish(Paused, nil, "paused: new master %d serves, old master %d is kept without workers; run commit or rollback", r.nm.Pid, r.old.Pid)
	}
	switch err := r.soak(ctx); {
	case errors.Is(err, errOldGone):
		return r.adoptNew(ctx)
	case err != nil:
		return r.fail(ctx, StepSoak, err)
	}
	if err := r.handOver(ctx, r.old.Proc, r.nm); err != nil {
		return r.fail(ctx, StepHandOver, err)
	}
	if err := r.quitOld(ctx); err != nil {
		return r.rec.finish(NeedsOperator, err, "new master %d serves, but the old master did not finish: %v; run status, then commit", r.nm.Pid, err)
	}
	if err := r.verify(ctx); err != nil {
		return r.rec.finish(NeedsOperator, err, "swap done but not verified: %v; run status", err)
	}
	if err := r.forgetFailed(); err != nil {
		r.rec.record(StepKeep, "failed", err, "the record of an earlier failed swap stays, and status still warns of it: %v", err)
	}
	if !r.bin.SameFileAt(r.bin.Path) {
		return r.rec.finish(Success, nil, "upgraded: master %d runs the tested build (sha256 %.12s)%s; %s changed on disk during the run, so run upgrade again", r.nm.Pid, r.bin.SHA256, r.drainNote(), r.bin.Path)
	}
	// The new build serves and a second run fixes the rest: a success that says so, as above.
	if len(r.staleAfter) > 0 {
		return r.rec.finish(Success, nil, "upgraded: master %d runs %s (sha256 %.12s)%s; %s replaced again during the run, so run upgrade again", r.nm.Pid, r.bin.Path, r.bin.SHA256, r.drainNote(), strings.Join(r.staleAfter, ", "))
	}
	if !slices.Contains(r.rec.info.Reasons, ReasonBinary) {
		return r.rec.finish(Success, nil, "re-executed: master %d runs %s (sha256 %.12s) with the libraries and modules now on disk%s", r.nm.Pid, r.bin.Path, r.bin.SHA256, r.drainNote())
	}
	return r.rec.finish(Success, nil, "upgraded: master %d runs %s (sha256 %.12s)%s", r.nm.Pid, r.bin.Path, r.bin.SHA256, r.drainNote())
}

// findMaster reads the pid file and checks it names a lone nginx master, in trusted pid files,
// that the supervisor agrees is nginx's main process.
func (r *run) findMaster(ctx context.Context) *Result {
	s, res := r.steadyState(ctx)
	if res != nil {
		return res
	}
	switch {
	case s.State.HalfDone():
		err := fmt.Errorf("an upgrade of this nginx is half-done (state %s)", s.State)
		return r.rec.finish(NeedsOperator, err, "%v: run status, then commit or rollback", err)
	case s.Current == nil:
		return r.rec.finish(Refused, s.CurrentErr, "refused: %v; is nginx running with pid file %s?", s.CurrentErr, r.opts.PidFile)
	}
	if err := trustPidFiles(r.opts); err != nil {
		return r.rec.finish(Refused, err, "refused, nothing signalled: %v", err)
	}
	r.old = *s.Current
	if r.opts.Supervisor != nil {
		if err := r.opts.Supervisor.Verify(ctx, r.old.Pid); err != nil {
			return r.rec.finish(Refused, err, "refused, nothing signalled: the pid file names master %d but %v", r.old.Pid, err)
		}
	}
	r.rec.info.OldMaster = r.old.Pid
	return nil
}

// countOldWorkers checks the old master serves: a rollback needs something to return to.
func (r *run) countOldWorkers() *Result {
	serving, _, err := nginx.Workers(r.old.Pid)
	if err != nil || len(serving) == 0 {
		err = fmt.Errorf("old master %d has no serving workers (%v)", r.old.Pid, err)
		return r.rec.finish(Refused, err, "refused: %v; fix the running nginx first", err)
	}
	r.oldWorkers = len(serving)
	r.rec.record(StepFind, "ok", nil, "master %d runs %s with %d workers", r.old.Pid, r.old.Exe.Path, r.oldWorkers)
	return nil
}

// preflight checks the new binary before anything is signalled: it is the file nginx will exec,
// it runs, there is a reason to swap (it differs from the running one, or the master or its
// workers map libraries or modules replaced on disk since: a swap to the same binary re-executes
// it, loading the files now on disk), and it accepts the running configuration.
func (r *run) preflight(ctx context.Context) *Result {
	path := r.old.Args.Binary
	if !filepath.IsAbs(path) {
		err := fmt.Errorf("master %d was started as %q, a relative path nginx resolves at exec time", r.old.Pid, path)
		return r.rec.finish(Refused, err, "refused: %v; start nginx by its absolute path", err)
	}
	if r.opts.Binary != "" && r.opts.Binary != path {
		if want, err := nginx.StatBinary(path); err != nil || !want.SameFileAt(r.opts.Binary) {
			err := fmt.Errorf("--binary %s is not %s, the file master %d re-executes on USR2", r.opts.Binary, path, r.old.Pid)
			return r.rec.finish(Refused, err, "refused: %v; install the new build at %s", err, path)
		}
	}
	// The running build's `-v` only completes the record and the keep: it runs beside the checks
	// below, off the swap's path (on a 2-core host under load, an nginx exec takes ~50 ms).
	oldVersion := beside(func() (string, error) { return nginx.Version(ctx, fmt.Sprintf("/proc/%d/exe", r.old.Pid)) })
	r.rec.fillLater(func() {
		if v, err := oldVersion(); err == nil {
			r.rec.info.Old = BinaryInfo{Path: r.old.Exe.Path, Version: v, SHA256: r.runningSum()}
		}
	})
	if _, err := nginx.StatBinary(path); err != nil {
		r.rec.record(StepPreflight, "failed", err, "")
		return r.rec.finish(Rejected, err, "new binary not taken: %v; old master %d serves as before", err, r.old.Pid)
	}
	if !r.opts.AllowUntrusted {
		if err := nginx.TrustBinary(path); err != nil {
			return r.rec.finish(Refused, err, "refused, nothing run or signalled: %v; install it owned by root and not writable by others (or pass --allow-untrusted-paths)", err)
		}
	}
	bin, err := nginx.HashBinary(path)
	if err != nil {
		r.rec.record(StepPreflight, "failed", err, "")
		return r.rec.finish(Rejected, err, "new binary not taken: %v; old master %d serves as before", err, r.old.Pid)
	}
	r.rec.info.New = BinaryInfo{Path: bin.Path, SHA256: bin.SHA256}
	stale, err := staleness(r.old, bin)
	if err != nil && !stale.NewBinary {
		return r.rec.finish(Refused, err, "refused, nothing signalled: cannot tell whether master %d runs replaced libraries or modules: %v; run as root", r.old.Pid, err)
	}
	r.rec.info.Reasons, r.rec.info.Replaced = stale.Reasons(), stale.Paths()
	// The new build must run: its `-v` runs beside its -T, which takes longer.
	version := beside(func() (string, error) { return nginx.Version(ctx, path) })
	if len(r.rec.info.Reasons) == 0 {
		if res := r.takeBinary(bin, version); res != nil {
			return res
		}
		return r.rec.finish(Noop, nil, "nothing to do: master %d already runs %s, and neither it nor its workers map a replaced library or module", r.old.Pid, path)
	}
	// The dpkg queries naming the running build's package, which keep only records, run beside
	// the -T too: dpkg-query -S reads every package's file list (0.3 s on a host of 900
	// packages). Not for a run with nothing to do, which needs no keep.
	pkg := beside(func() (string, error) { return runningPackage(ctx, r.old.Exe), nil })
	r.oldBuild = func() keep.Build {
		v, _ := oldVersion()
		p, _ := pkg()
		return keep.Build{Path: r.old.Exe.Path, Version: v, Package: p}
	}
	footprint := r.oldFootprint()
	r.stageKeep()
	tested := time.Now()
	cfg, err := nginx.TestConfig(ctx, path, r.old.Args)
	took := time.Since(tested)
	if res := r.interrupted(ctx, "USR2, while nginx -t ran"); res != nil {
		version()
		return res
	}
	if res := r.takeBinary(bin, version); res != nil {
		return res
	}
	if err != nil {
		r.rec.record(StepPreflight, "failed", err, "")
		return r.rec.finish(Rejected, err, "new binary not taken: %v; old master %d serves as before", err, r.old.Pid)
	}
	if cfg.Foreground {
		err := errors.New("nginx runs in the foreground (daemon off or master_process off), where it ignores USR2")
		return r.rec.finish(Refused, err, "refused, nothing signalled: %v; a live swap needs `daemon on;` under a Type=forking unit with PIDFile=%s; until then restart nginx to take the new build", err, r.opts.PidFile)
	}
	r.scaleDeadlines(took)
	if note := resumptionNote(cfg); note != "" {
		r.rec.record(StepPreflight, "note", nil, "%s", note)
	}
	if res := r.checkMemory(footprint); res != nil {
		return res
	}
	r.workers, r.shutdownTimeout = cfg.Workers, cfg.ShutdownTimeout
	if r.workers == 0 { // worker_processes auto: as many as the running master started
		r.workers = r.oldWorkers
	}
	// The binary must still be the one tested when USR2 makes nginx exec it.
	if !bin.SameFileAt(path) {
		err := fmt.Errorf("%s changed during preflight", path)
		return r.rec.finish(Refused, err, "refused, nothing signalled: %v; run again once the install has finished", err)
	}
	r.rec.record(StepPreflight, "ok", nil, "%s (%s, sha256 %.12s) accepts the configuration; expecting %d workers; %s", path, bin.Version, bin.SHA256, r.workers, stale)
	return nil
}

// takeBinary makes bin, once its `-v` has answered, the build to swap to; one that cannot say its
// version does not run.
func (r *run) takeBinary(bin nginx.Binary, version func() (string, error)) *Result {
	v, err := version()
	if err != nil {
		r.rec.record(StepPreflight, "failed", err, "")
		return r.rec.finish(Rejected, err, "new binary not taken: %v; old master %d serves as before", err, r.old.Pid)
	}
	bin.Version, r.rec.info.New.Version = v, v
	r.bin = bin
	return nil
}

// waitNewMaster waits for the new master: .oldbin names the old master, the pid file a child of
// it that runs the tested binary.
func (r *run) waitNewMaster(ctx context.Context) error {
	ctx, cancel := context.WithTimeout(ctx, r.opts.StartTimeout)
	defer cancel()
	var sawOldbin bool
	err := wait.Until(ctx, r.opts.Poll, func() (bool, error) {
		if !nginx.Alive(r.old.Proc) {
			return false, errOldGone
		}
		s := ReadState(r.opts.PidFile)
		switch {
		case s.Old != nil && s.Old.Pid == r.old.Pid:
			sawOldbin = true
		case sawOldbin && s.State == Running && s.Current.Pid == r.old.Pid:
			return false, errors.New("the new master exited at start and nginx restored the pid file; nginx's error log says why")
		}
		if s.State != BothServing && s.State != OldDrained {
			return false, nil
		}
		if !s.Current.Exe.SameFile(r.bin) {
			return false, fmt.Errorf("new master %d runs %s (inode %d), not the tested binary (inode %d): it was replaced after preflight", s.Current.Pid, s.Current.Exe.Path, s.Current.Exe.Ino, r.bin.Ino)
		}
		r.nm = s.Current.Proc
		return true, nil
	})
	if err != nil {
		if isTimeout(err) && ctx.Err() != nil {
			return fmt.Errorf("no new master within %s after USR2 (%w); nginx's error log says why", r.opts.StartTimeout, err)
		}
		return err
	}
	r.rec.info.NewMaster = r.nm.Pid
	r.rec.record(StepNewMaster, "ok", nil, "new master %d runs %s", r.nm.Pid, r.bin.Path)
	return nil
}

// waitWorkers waits until the new master has all its workers and they have stayed up for the
// settle time. nginx does not respawn a worker that fails to start, so a build whose workers die
// leaves a master with too few of them; one whose workers crash later shows new pids. A master
// forks all its workers as soon as it has written its pid file, so a count that stays short and
// unchanged for three settle times will not grow: fail then rather than at the deadline.
func (r *run) waitWorkers(ctx context.Context) error {
	last, err := r.waitSettled(ctx, r.nm, func(serving []nginx.Proc, unchanged time.Duration) (bool, error) {
		if !nginx.Alive(r.nm) {
			return false, fmt.Errorf("new master %d exited", r.nm.Pid)
		}
		if len(serving) < r.workers && unchanged >= 3*r.opts.Settle && !r.recountOld(serving) {
			return false, errWorkersMissing
		}
		return len(serving) == r.workers, nil
	})
	if err != nil {
		if isTimeout(err) || errors.Is(err, errWorkersMissing) {
			return fmt.Errorf("new master %d has %d of %d workers: its workers exit at start (nginx's error log says why)", r.nm.Pid, len(last), r.workers)
		}
		return err
	}
	r.newWorkers = last
	r.rec.record(StepWorkers, "ok", nil, "new master %d has %d workers, up for %s", r.nm.Pid, len(last), r.opts.Settle)
	return nil
}

// waitSettled waits until master's serving workers are what ready accepts and have stayed the same
// for the settle time, and returns the workers last seen. ready is asked at every poll and told
// how long the workers have been unchanged, so it can also give up early.
func (r *run) waitSettled(ctx context.Context, master nginx.Proc, ready func(serving []nginx.Proc, unchanged time.Duration) (bool, error)) ([]nginx.Proc, error) {
	ctx, cancel := context.WithTimeout(ctx, r.opts.StartTimeout)
	defer cancel()
	var last []nginx.Proc
	since := time.Now()
	err := wait.Until(ctx, r.opts.Poll, func() (bool, error) {
		serving, _, err := nginx.Workers(master.Pid)
		if err != nil {
			return false, err
		}
		if !samePids(serving, last) {
			last, since = serving, time.Now()
		}
		unchanged := time.Since(since)
		ok, err := ready(serving, unchanged)
		return ok && unchanged >= r.opts.Settle, err
	})
	return last, err
}

// waitServing waits until master has want serving workers (at least one when want is 0), settled.
func (r *run) waitServing(ctx context.Context, master nginx.Proc, want int) error {
	last, err := r.waitSettled(ctx, master, func(serving []nginx.Proc, _ time.Duration) (bool, error) {
		return len(serving) > 0 && (want == 0 || len(serving) == want), nil
	})
	if err != nil {
		return fmt.Errorf("master %d has %d serving workers, want %d: %w", master.Pid, len(last), max(want, 1), err)
	}
	return nil
}

// checkHealth checks the listening sockets and health URLs, and that the new workers still run.
func (r *run) checkHealth(ctx context.Context, what string) error {
	if err := r.health(ctx, r.nm.Pid); err != nil {
		return err
	}
	if err := r.newWorkersIntact(ctx, StepHealth); err != nil {
		return err
	}
	r.rec.record(StepHealth, "ok", nil, "%s: listeners accept, %d health URLs answer", what, len(r.opts.Health.URLs))
	return nil
}

// health runs one round of health checks against master's listeners and the health URLs.
func (r *run) health(ctx context.Context, master int) error {
	ctx, cancel := context.WithTimeout(ctx, r.opts.HealthTimeout)
	defer cancel()
	return r.opts.Health.Check(ctx, master)
}

// drainOld sends WINCH and waits until no old worker accepts any more.
func (r *run) drainOld(ctx context.Context) error {
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("interrupted before WINCH: %w", err)
	}
	if err := nginx.Signal(r.old.Proc, unix.SIGWINCH); err != nil {
		return err
	}
	r.rec.record(StepWINCH, "sent", nil, "sent WINCH to old master %d", r.old.Pid)
	ctx, cancel := context.WithTimeout(ctx, r.opts.DrainTimeout)
	defer cancel()
	err := wait.Until(ctx, r.opts.Poll, func() (bool, error) {
		serving, _, err := nginx.Workers(r.old.Pid)
		return err == nil && len(serving) == 0, err
	})
	if err != nil {
		return fmt.Errorf("old workers still accepting after WINCH: %w", err)
	}
	r.rec.record(StepWINCH, "ok", nil, "old workers stopped accepting; in-flight requests finish on them")
	return nil
}

// soak watches the new build serve alone for the soak time: its master and workers must stay up
// and the health checks pass. The old master waits, ready for a rollback.
func (r *run) soak(ctx context.Context) error {
	soakCtx, cancel := context.WithTimeout(ctx, r.opts.Soak)
	defer cancel()
	next := time.Now().Add(r.opts.HealthEvery)
	err := wait.Until(soakCtx, r.opts.Poll, func() (bool, error) {
		if err := r.newWorkersIntact(ctx, StepSoak); err != nil {
			return false, err
		}
		if !nginx.Alive(r.old.Proc) {
			return false, errOldGone
		}
		if err := r.oldStillDrained(ctx); err != nil {
			return false, err
		}
		if time.Now().After(next) {
			if err := r.health(ctx, r.nm.Pid); err != nil {
				return false, err
			}
			next = time.Now().Add(r.opts.HealthEvery)
		}
		return false, nil
	})
	if ctx.Err() != nil {
		return fmt.Errorf("interrupted during soak: %w", ctx.Err())
	}
	if !errors.Is(err, context.DeadlineExceeded) {
		return err
	}
	if err := r.checkHealth(ctx, "soak over"); err != nil {
		return err
	}
	r.rec.record(StepSoak, "ok", nil, "new build served alone for %s", r.opts.Soak)
	return nil
}

// handOver tells the supervisor that master to is nginx's main process now, before master from
// exits: systemd would otherwise stop the service when its main process ends.
func (r *run) handOver(ctx context.Context, from, to nginx.Proc) error {
	if r.opts.Supervisor == nil {
		return nil
	}
	how, err := r.opts.Supervisor.HandOver(ctx, from, to)
	if err != nil {
		return err
	}
	if how == "" {
		how = "it already did"
	}
	r.rec.record(StepHandOver, "ok", nil, "supervisor tracks new master %d: %s", to.Pid, how)
	return nil
}

// quit sends QUIT to master m, the "old" or the "new" one as role says, and waits until it and its
// draining workers are gone. A master already gone fails with nginx.ErrNoProcess.
func (r *run) quit(ctx context.Context, m nginx.Proc, role string) error {
	if err := nginx.Signal(m, unix.SIGQUIT); err != nil {
		return err
	}
	r.rec.record(StepQUIT, "sent", nil, "sent QUIT to %s master %d", role, m.Pid)
	if err := wait.Until(ctx, r.opts.Poll, func() (bool, error) { return !nginx.Alive(m), nil }); err != nil {
		return fmt.Errorf("%s master %d still running after QUIT (its workers finish downloads in flight): %w", role, m.Pid, err)
	}
	r.rec.record(StepQUIT, "ok", nil, "%s master %d exited", role, m.Pid)
	return nil
}

// verify checks the end state: one master, the new one, on the new binary, with all its workers,
// and the supervisor agrees. It also looks for libraries and modules the new processes map that
// were replaced on disk (again) during the run: they do not fail the swap, the run says so.
func (r *run) verify(ctx context.Context) error {
	if err := r.verifyEnd(ctx, r.nm, r.bin, r.workers); err != nil {
		return err
	}
	msg := fmt.Sprintf("one master %d on %s with %d workers", r.nm.Pid, r.bin.Path, r.workers)
	files, err := nginx.StaleCode(r.nm.Pid, r.bin.Path)
	for _, f := range files {
		if f.Kind != nginx.KindBinary { // a binary replaced again is told apart by its own check
			r.staleAfter = append(r.staleAfter, f.Path)
		}
	}
	switch {
	case err != nil:
		msg += fmt.Sprintf("; replaced files not checked: %v", err)
	case len(r.staleAfter) > 0:
		msg += fmt.Sprintf("; they map files replaced during the run: %s", strings.Join(r.staleAfter, ", "))
	default:
		msg += ", none mapping a replaced file"
	}
	r.rec.record(StepVerify, "ok", nil, "%s", msg)
	return nil
}

// verifyEnd waits (briefly: nginx renames pid files as masters exit) for master to be the one
// master, on bin (any, when bin is zero) with workers workers (at least one when 0), then asks
// the supervisor.
func (r *run) verifyEnd(ctx context.Context, master nginx.Proc, bin nginx.Binary, workers int) error {
	vctx, cancel := context.WithTimeout(ctx, r.opts.StartTimeout)
	defer cancel()
	var last string
	if err := wait.Until(vctx, r.opts.Poll, func() (bool, error) {
		last = verifyMaster(ReadState(r.opts.PidFile), master, bin, workers)
		return last == "", nil
	}); err != nil {
		return errors.New(last)
	}
	if r.opts.Supervisor != nil {
		return r.opts.Supervisor.Verify(ctx, master.Pid)
	}
	return nil
}

// verifyMaster says what is wrong with s as the end state of a swap to master m on bin, or "".
// workers 0 means at least one.
func verifyMaster(s Snapshot, m nginx.Proc, bin nginx.Binary, workers int) string {
	switch {
	case errors.Is(s.CurrentErr, nginx.ErrNoPidFile) && s.Old == nil && nginx.Alive(m):
		return fmt.Sprintf("the pid file %s was removed during the run; master %d serves; write it back: echo %d > %s", s.PidFile, m.Pid, m.Pid, s.PidFile)
	case s.State != Running && (s.State != OldDraining || s.Current.Pid != m.Pid):
		// OldDraining with m current is an end state: the old master quits on its own.
		return fmt.Sprintf("state is %s, not running", s.State)
	case s.Current.Pid != m.Pid:
		return fmt.Sprintf("pid file names %d, not master %d", s.Current.Pid, m.Pid)
	case bin.Path != "" && !s.Current.Exe.SameFile(bin):
		return fmt.Sprintf("master %d runs %s, not the new binary", m.Pid, s.Current.Exe.Path)
	}
	if kids, _ := nginx.ChildMasters(m.Pid); len(kids) > 0 {
		return fmt.Sprintf("master %d still has a new master %d", m.Pid, kids[0].Pid)
	}
	serving, _, err := nginx.Workers(m.Pid)
	switch {
	case err != nil:
		return err.Error()
	case workers > 0 && len(serving) != workers:
		return fmt.Sprintf("master %d has %d of %d workers", m.Pid, len(serving), workers)
	case len(serving) == 0:
		return fmt.Sprintf("master %d has no workers", m.Pid)
	}
	return ""
}

// adoptNew handles the old master dying during the soak: nothing is left to roll back to, so
// the new build is kept if it verifies clean.
func (r *run) adoptNew(ctx context.Context) *Result {
	r.rec.record(StepSoak, "failed", errOldGone, "old master %d exited during the soak; keeping new master %d", r.old.Pid, r.nm.Pid)
	if err := removeStaleOldbin(r.opts.PidFile); err != nil {
		return r.rec.finish(NeedsOperator, err, "old master gone, new master %d serves: %v; run status", r.nm.Pid, err)
	}
	if err := r.handOver(ctx, r.old.Proc, r.nm); err != nil {
		return r.rec.finish(NeedsOperator, err, "old master gone, new master %d serves, supervisor not told: %v", r.nm.Pid, err)
	}
	if err := r.verify(ctx); err != nil {
		return r.rec.finish(NeedsOperator, err, "old master gone, new master %d not verified: %v; run status", r.nm.Pid, err)
	}
	return r.rec.finish(Success, nil, "old master %d exited during the soak; new master %d verified and kept", r.old.Pid, r.nm.Pid)
}

// fail records a failed check and rolls back. The rollback gets its own time budget: it must
// still run when the failure was the run's deadline or an operator's Ctrl-C.
func (r *run) fail(ctx context.Context, step Step, err error) *Result {
	r.rec.record(step, "failed", err, "")
	rctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), r.opts.RollbackTimeout)
	defer cancel()
	if rbErr := r.restoreOld(rctx, r.old.Proc, r.oldWorkers); rbErr != nil {
		err = fmt.Errorf("%s failed: %w; rollback failed too: %v", step, err, rbErr)
		return r.rec.finish(NeedsOperator, err, "%v; run status", err)
	}
	// An interrupt or the run's deadline is no verdict on the build: nothing is recorded then.
	note := "; the run was interrupted, so the build on disk was not judged"
	if ctx.Err() == nil {
		note = r.markFailed()
	}
	return r.rec.finish(RolledBack, err, "new build not taken (%s: %v); rolled back, old master %d serves on its build%s", step, err, r.old.Pid, note)
}

func samePids(a, b []nginx.Proc) bool {
	return slices.EqualFunc(a, b, func(x, y nginx.Proc) bool { return x.Pid == y.Pid && x.StartTime == y.StartTime })
}
