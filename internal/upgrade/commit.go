package upgrade

import (
	"context"
	"errors"
	"fmt"

	"github.com/nginx-upgrade/nginx-upgrade/internal/nginx"
)

// Commit finishes a paused or interrupted upgrade by going forward: the old master quits.
func Commit(ctx context.Context, opts Options) *Result {
	return resolve(ctx, opts, "commit", func(r *run, s Snapshot) *Result { return r.commit(ctx, s) })
}

// commit goes forward from the half-done state s.
func (r *run) commit(ctx context.Context, s Snapshot) *Result {
	switch s.State {
	case OldDraining:
		return r.rec.finish(Noop, nil, "nothing to commit: new master %d serves alone; %s, it quits on its own", s.Current.Pid, readDraining(s.Old.Proc, s.Current.Proc))
	case NewMasterStarting, Inconsistent:
		err := fmt.Errorf("state %s: no new master to commit to", s.State)
		return r.rec.finish(NeedsOperator, err, "%v; run rollback", err)
	case StaleOldbin:
		if err := removeStaleOldbin(r.opts.PidFile); err != nil {
			return r.rec.finish(NeedsOperator, err, "commit: %v", err)
		}
		r.rec.record(StepCommit, "ok", nil, "removed stale %s", nginx.OldbinPath(r.opts.PidFile))
		return r.commitVerify(ctx, s.Current.Proc)
	}
	nm := s.Current.Proc
	// A new master that has just come up starts its workers a moment later: wait for them.
	if err := r.waitServing(ctx, nm, 0); err != nil {
		err := fmt.Errorf("new master %d has no serving workers: %w", nm.Pid, err)
		return r.rec.finish(NeedsOperator, err, "not committing: %v; run rollback", err)
	}
	if err := r.health(ctx, nm.Pid); err != nil {
		return r.rec.finish(NeedsOperator, err, "not committing, the new build fails its health check: %v; run rollback", err)
	}
	if err := r.handOver(ctx, s.Old.Proc, nm); err != nil {
		return r.rec.finish(NeedsOperator, err, "not committing: %v", err)
	}
	// An old master that has exited by itself needs no QUIT.
	if err := r.quit(ctx, s.Old.Proc, "old"); err != nil && !errors.Is(err, nginx.ErrNoProcess) {
		return r.rec.finish(NeedsOperator, err, "commit did not finish: %v; run status", err)
	}
	return r.commitVerify(ctx, nm)
}

func (r *run) commitVerify(ctx context.Context, nm nginx.Proc) *Result {
	if err := r.verifyEnd(ctx, nm, nginx.Binary{}, 0); err != nil {
		return r.rec.finish(NeedsOperator, err, "commit not verified: %v; run status", err)
	}
	r.rec.record(StepVerify, "ok", nil, "one master %d", nm.Pid)
	return r.rec.finish(Success, nil, "committed: master %d serves alone", nm.Pid)
}
