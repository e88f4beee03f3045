package upgrade

import (
	"context"
	"errors"
	"fmt"
	"os"
	"time"

	"golang.org/x/sys/unix"

	"github.com/nginx-upgrade/nginx-upgrade/internal/nginx"
	"github.com/nginx-upgrade/nginx-upgrade/internal/wait"
)

// resolveStart is what Rollback and Commit do before deciding anything: take the run lock, check
// the pid files can be trusted, and let a starting new master settle. A non-nil Result ends the
// run; otherwise release must be called.
func resolveStart(ctx context.Context, opts *Options) (*recorder, Snapshot, func(), *Result) {
	opts.setDefaults()
	rec := newRecorder(opts.OnEvent)
	release, err := lock(opts.LockDir, opts.PidFile)
	if err != nil {
		return rec, Snapshot{}, nil, rec.finish(Refused, err, "refused: %v", err)
	}
	if err := trustPidFiles(*opts); err != nil && !errors.Is(err, os.ErrNotExist) {
		release()
		return rec, Snapshot{}, nil, rec.finish(Refused, err, "refused, nothing signalled: %v", err)
	}
	sctx, cancel := context.WithTimeout(ctx, opts.StartTimeout)
	s := Settle(sctx, opts.PidFile, opts.Poll)
	cancel()
	noteMasters(rec, s)
	return rec, s, release, nil
}

// Rollback finishes a half-done upgrade by going back: the old master serves alone again.
func Rollback(ctx context.Context, opts Options) *Result {
	rec, s, release, res := resolveStart(ctx, &opts)
	if res != nil {
		return res
	}
	defer release()
	switch s.State {
	case Running:
		return rec.finish(Noop, nil, "nothing to roll back: master %d serves alone", s.Current.Pid)
	case Stopped:
		return rec.finish(Refused, s.CurrentErr, "refused: no nginx master (%v)", s.CurrentErr)
	case StaleOldbin:
		err := fmt.Errorf("the old master is gone; new master %d is the only one", s.Current.Pid)
		return rec.finish(NeedsOperator, err, "cannot roll back: %v; run commit to keep it, or install the old build and upgrade to it", err)
	case Inconsistent:
		err := fmt.Errorf("master %d (pid file) is not a child of old master %d (.oldbin)", s.Current.Pid, s.Old.Pid)
		return rec.finish(NeedsOperator, err, "cannot roll back safely: %v; inspect with status", err)
	}
	if err := restoreOld(ctx, opts, rec, s.Old.Proc, 0); err != nil {
		return rec.finish(NeedsOperator, err, "rollback did not finish: %v; run status", err)
	}
	return rec.finish(RolledBack, nil, "rolled back: old master %d serves alone", s.Old.Pid)
}

// Commit finishes a paused or interrupted upgrade by going forward: the old master quits.
func Commit(ctx context.Context, opts Options) *Result {
	rec, s, release, res := resolveStart(ctx, &opts)
	if res != nil {
		return res
	}
	defer release()
	switch s.State {
	case Running:
		return rec.finish(Noop, nil, "nothing to commit: master %d serves alone", s.Current.Pid)
	case Stopped:
		return rec.finish(Refused, s.CurrentErr, "refused: no nginx master (%v)", s.CurrentErr)
	case StaleOldbin:
		if err := removeStaleOldbin(opts.PidFile); err != nil {
			return rec.finish(NeedsOperator, err, "commit: %v", err)
		}
		rec.record(StepCommit, "ok", nil, "removed stale %s", nginx.OldbinPath(opts.PidFile))
		return commitVerify(ctx, opts, rec, s.Current.Proc)
	case NewMasterStarting, Inconsistent:
		err := fmt.Errorf("state %s: no new master to commit to", s.State)
		return rec.finish(NeedsOperator, err, "%v; run rollback", err)
	}
	nm := s.Current.Proc
	// A new master that has just come up starts its workers a moment later: wait for them.
	if err := waitServing(ctx, opts, nm, 0); err != nil {
		err := fmt.Errorf("new master %d has no serving workers: %w", nm.Pid, err)
		return rec.finish(NeedsOperator, err, "not committing: %v; run rollback", err)
	}
	hctx, cancel := context.WithTimeout(ctx, opts.HealthTimeout)
	defer cancel()
	if err := opts.Health.Check(hctx, nm.Pid); err != nil {
		return rec.finish(NeedsOperator, err, "not committing, the new build fails its health check: %v; run rollback", err)
	}
	if opts.Supervisor != nil {
		if err := opts.Supervisor.HandOver(ctx, s.Old.Pid, nm.Pid); err != nil {
			return rec.finish(NeedsOperator, err, "not committing: %v", err)
		}
		rec.record(StepHandOver, "ok", nil, "supervisor tracks new master %d", nm.Pid)
	}
	if err := quitAndWait(ctx, opts, rec, s.Old.Proc, "old"); err != nil {
		return rec.finish(NeedsOperator, err, "commit did not finish: %v; run status", err)
	}
	return commitVerify(ctx, opts, rec, nm)
}

func commitVerify(ctx context.Context, opts Options, rec *recorder, nm nginx.Proc) *Result {
	if err := verifyEnd(ctx, opts, nm, nginx.Binary{}, 0); err != nil {
		return rec.finish(NeedsOperator, err, "commit not verified: %v; run status", err)
	}
	rec.record(StepVerify, "ok", nil, "one master %d", nm.Pid)
	return rec.finish(Success, nil, "committed: master %d serves alone", nm.Pid)
}

// restoreOld makes old the only master again: HUP gives it workers again if WINCH took them, then
// every new master it started is told to QUIT, and nginx hands the pid file back to old.
// workers is how many workers old must have (0: at least one).
func restoreOld(ctx context.Context, opts Options, rec *recorder, old nginx.Proc, workers int) error {
	if !nginx.Alive(old) {
		return fmt.Errorf("old master %d is gone: nothing to roll back to", old.Pid)
	}
	serving, _, err := nginx.Workers(old.Pid)
	if err != nil {
		return err
	}
	if len(serving) == 0 {
		if err := nginx.Signal(old, unix.SIGHUP); err != nil {
			return err
		}
		rec.record(StepRollback, "sent", nil, "sent HUP to old master %d: it starts workers again", old.Pid)
		if err := waitServing(ctx, opts, old, workers); err != nil {
			return err
		}
		rec.record(StepRollback, "ok", nil, "old master %d serves again", old.Pid)
	}
	children, err := nginx.ChildMasters(old.Pid)
	if err != nil {
		return err
	}
	for _, nm := range children {
		if opts.Supervisor != nil {
			if err := opts.Supervisor.HandOver(ctx, nm.Pid, old.Pid); err != nil {
				return err
			}
		}
		if err := quitAndWait(ctx, opts, rec, nm, "new"); err != nil {
			return err
		}
	}
	return verifyEnd(ctx, opts, old, nginx.Binary{}, workers)
}

// waitServing waits until master has the wanted number of serving workers (at least one when
// want is 0) and they have stayed up for the settle time.
func waitServing(ctx context.Context, opts Options, master nginx.Proc, want int) error {
	ctx, cancel := context.WithTimeout(ctx, opts.StartTimeout)
	defer cancel()
	var last []nginx.Proc
	var since time.Time
	err := wait.Until(ctx, opts.Poll, func() (bool, error) {
		serving, _, err := nginx.Workers(master.Pid)
		if err != nil {
			return false, err
		}
		if len(serving) == 0 || (want > 0 && len(serving) != want) || !samePids(serving, last) {
			last, since = serving, time.Now()
			return false, nil
		}
		return time.Since(since) >= opts.Settle, nil
	})
	if err != nil {
		return fmt.Errorf("master %d has %d serving workers, want %d: %w", master.Pid, len(last), max(want, 1), err)
	}
	return nil
}

// quitAndWait sends QUIT to a master and waits until it has exited.
func quitAndWait(ctx context.Context, opts Options, rec *recorder, m nginx.Proc, role string) error {
	if err := nginx.Signal(m, unix.SIGQUIT); err != nil && !errors.Is(err, nginx.ErrNoProcess) {
		return err
	}
	rec.record(StepQUIT, "sent", nil, "sent QUIT to %s master %d", role, m.Pid)
	if err := wait.Until(ctx, opts.Poll, func() (bool, error) { return !nginx.Alive(m), nil }); err != nil {
		return fmt.Errorf("%s master %d still running after QUIT: %w", role, m.Pid, err)
	}
	rec.record(StepQUIT, "ok", nil, "%s master %d exited", role, m.Pid)
	return nil
}

// verifyEnd waits (briefly: nginx renames pid files as masters exit) for master to be the one
// master, on bin (any, when bin is zero) with workers workers (at least one when 0), then asks
// the supervisor.
func verifyEnd(ctx context.Context, opts Options, master nginx.Proc, bin nginx.Binary, workers int) error {
	vctx, cancel := context.WithTimeout(ctx, opts.StartTimeout)
	defer cancel()
	var last string
	if err := wait.Until(vctx, opts.Poll, func() (bool, error) {
		last = verifyMaster(ReadState(opts.PidFile), master, bin, workers)
		return last == "", nil
	}); err != nil {
		return errors.New(last)
	}
	if opts.Supervisor != nil {
		return opts.Supervisor.Verify(ctx, master.Pid)
	}
	return nil
}

func noteMasters(rec *recorder, s Snapshot) {
	if s.Old != nil {
		rec.info.OldMaster = s.Old.Pid
		if s.Current != nil && s.Current.Pid != s.Old.Pid {
			rec.info.NewMaster = s.Current.Pid
		}
	} else if s.Current != nil {
		rec.info.NewMaster = s.Current.Pid
	}
}
