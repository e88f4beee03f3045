package upgrade

import (
	"context"
	"errors"
	"fmt"

	"golang.org/x/sys/unix"

	"github.com/nginx-upgrade/nginx-upgrade/internal/nginx"
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
			how, err := r.opts.Supervisor.HandOver(ctx, nm, old)
			if err != nil {
				return err
			}
			if how != "" {
				r.rec.record(StepRollback, "ok", nil, "supervisor tracks old master %d again: %s", old.Pid, how)
			}
		}
		// A new master that has exited by itself needs no QUIT.
		if err := r.quit(ctx, nm, "new"); err != nil && !errors.Is(err, nginx.ErrNoProcess) {
			return err
		}
	}
	return r.verifyEnd(ctx, old, nginx.Binary{}, workers)
}

// Rollback finishes a half-done upgrade by going back: the old master serves alone again.
func Rollback(ctx context.Context, opts Options) *Result {
	return resolve(ctx, opts, "roll back", func(r *run, s Snapshot) *Result { return r.rollback(ctx, s) })
}

// rollback goes back from the half-done state s.
func (r *run) rollback(ctx context.Context, s Snapshot) *Result {
	switch s.State {
	case OldDraining:
		err := fmt.Errorf("%s: it got QUIT and closed its listeners, so it cannot serve again; new master %d serves alone", readDraining(s.Old.Proc, s.Current.Proc), s.Current.Pid)
		return r.rec.finish(NeedsOperator, err, "cannot roll back: %v; install the old build and upgrade to it", err)
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
