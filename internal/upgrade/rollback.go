package upgrade

import (
	"context"
	"errors"
	"fmt"
	"time"

	"golang.org/x/sys/unix"

	"github.com/nginx-upgrade/nginx-upgrade/internal/nginx"
	"github.com/nginx-upgrade/nginx-upgrade/internal/wait"
)

// restoreOld makes old the only master again: HUP gives it workers again if WINCH took them, then
// every new master it started is told to QUIT, and nginx hands the pid file back to old.
// workers is how many workers old must have (0: at least one).
func (r *run) restoreOld(ctx context.Context, old nginx.Proc, workers int) error {
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
		r.rec.record(StepRollback, "sent", nil, "sent HUP to old master %d: it starts workers again", old.Pid)
		if err := r.waitServing(ctx, old, workers); err != nil {
			return err
		}
		r.rec.record(StepRollback, "ok", nil, "old master %d serves again", old.Pid)
	}
	children, err := nginx.ChildMasters(old.Pid)
	if err != nil {
		return err
	}
	for _, nm := range children {
		if r.opts.Supervisor != nil {
			if err := r.opts.Supervisor.HandOver(ctx, nm.Pid, old.Pid); err != nil {
				return err
			}
		}
		// A new master that has exited by itself needs no QUIT.
		if err := r.quit(ctx, nm, "new"); err != nil && !errors.Is(err, nginx.ErrNoProcess) {
			return err
		}
	}
	return r.verifyEnd(ctx, old, nginx.Binary{}, workers)
}

// waitServing waits until master has the wanted number of serving workers (at least one when
// want is 0) and they have stayed up for the settle time.
func (r *run) waitServing(ctx context.Context, master nginx.Proc, want int) error {
	ctx, cancel := context.WithTimeout(ctx, r.opts.StartTimeout)
	defer cancel()
	var last []nginx.Proc
	var since time.Time
	err := wait.Until(ctx, r.opts.Poll, func() (bool, error) {
		serving, _, err := nginx.Workers(master.Pid)
		if err != nil {
			return false, err
		}
		if len(serving) == 0 || (want > 0 && len(serving) != want) || !samePids(serving, last) {
			last, since = serving, time.Now()
			return false, nil
		}
		return time.Since(since) >= r.opts.Settle, nil
	})
	if err != nil {
		return fmt.Errorf("master %d has %d serving workers, want %d: %w", master.Pid, len(last), max(want, 1), err)
	}
	return nil
}

// Rollback finishes a half-done upgrade by going back: the old master serves alone again.
func Rollback(ctx context.Context, opts Options) *Result {
	return resolve(ctx, opts, "roll back", func(r *run, s Snapshot) *Result { return r.rollback(ctx, s) })
}

// rollback goes back from the half-done state s.
func (r *run) rollback(ctx context.Context, s Snapshot) *Result {
	switch s.State {
	case StaleOldbin:
		err := fmt.Errorf("the old master is gone; new master %d is the only one", s.Current.Pid)
		return r.rec.finish(NeedsOperator, err, "cannot roll back: %v; run commit to keep it, or install the old build and upgrade to it", err)
	case Inconsistent:
		err := fmt.Errorf("master %d (pid file) is not a child of old master %d (.oldbin)", s.Current.Pid, s.Old.Pid)
		return r.rec.finish(NeedsOperator, err, "cannot roll back safely: %v; inspect with status", err)
	}
	if err := r.restoreOld(ctx, s.Old.Proc, 0); err != nil {
		return r.rec.finish(NeedsOperator, err, "rollback did not finish: %v; run status", err)
	}
	return r.rec.finish(RolledBack, nil, "rolled back: old master %d serves alone", s.Old.Pid)
}
