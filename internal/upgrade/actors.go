package upgrade

import (
	"context"
	"fmt"
	"slices"
	"time"

	"github.com/nginx-upgrade/nginx-upgrade/internal/nginx"
)

// Other actors signal nginx while a swap runs: certbot's deploy hook and operators run `systemctl
// reload nginx` (Debian's ExecReload is `nginx -s reload`: a HUP to the pid in the pid file,
// which names the new master from the moment it is up), logrotate sends USR1 the same way, and
// a unit whose reload is `kill -HUP $MAINPID` reaches the old master, which systemd still tracks
// until the hand-over. What nginx does with each (src/os/unix/ngx_process_cycle.c):
//
//   - HUP to the new master: a configuration reload. It starts a new generation of workers and
//     tells the previous one to finish and exit: the workers the run watched go, new ones serve.
//     That is not a crash, and is told apart from one: after a crash nginx respawns the one
//     worker that died, and the others keep serving.
//   - HUP to the old master while its new master lives: it does not reread anything, it starts
//     its workers again and accepts again (what a rollback uses); after WINCH that undoes the
//     drain, so the run drains it again.
//   - USR1: masters and workers reopen their log files; no process starts or ends.

// newWorkersIntact checks that the new master lives and that the workers the run settled on
// still serve. When one stopped serving, the workers are let settle first (a reload's previous
// generation stops one worker after the other, so one look can catch it half-way): a complete
// new generation is a configuration reload (a HUP from another actor), and the run goes on with
// it and says so in a step line of step; anything else is a crash.
func (r *run) newWorkersIntact(ctx context.Context, step Step) error {
	if !nginx.Alive(r.nm) {
		return fmt.Errorf("new master %d exited", r.nm.Pid)
	}
	serving, _, err := nginx.Workers(r.nm.Pid)
	if err != nil {
		return fmt.Errorf("read the workers of new master %d: %w", r.nm.Pid, err)
	}
	gone := slices.DeleteFunc(slices.Clone(r.newWorkers), func(w nginx.Proc) bool { return containsProc(serving, w) })
	if len(gone) == 0 {
		return nil
	}
	return r.newGeneration(ctx, step, gone[0])
}

// newGeneration waits for the new master's workers after worker gone stopped serving: a complete
// generation, none of the previous one, settled, is a configuration reload. One that keeps a
// worker of the previous generation is a crash (nginx respawns the one worker that died, the
// others serve on); one that does not come up is a reload nginx could not finish. With a single
// worker, a crash whose respawned worker then stays up for the settle time looks like a reload:
// it is let pass, since the replacement serves.
func (r *run) newGeneration(ctx context.Context, step Step, gone nginx.Proc) error {
	prev := r.newWorkers
	last, err := r.waitSettled(ctx, r.nm, func(serving []nginx.Proc, _ time.Duration) (bool, error) {
		if !nginx.Alive(r.nm) {
			return false, fmt.Errorf("new master %d exited", r.nm.Pid)
		}
		return len(serving) == r.workers, nil
	})
	if err != nil {
		return fmt.Errorf("worker %d of new master %d stopped serving, and no complete new generation settled within %s (%d of %d workers): a worker that crashes, or a configuration reload (HUP) nginx could not finish: %w; nginx's error log says why", gone.Pid, r.nm.Pid, r.opts.StartTimeout, len(last), r.workers, err)
	}
	if slices.ContainsFunc(last, func(w nginx.Proc) bool { return containsProc(prev, w) }) {
		return fmt.Errorf("worker %d of new master %d exited (nginx's error log says why)", gone.Pid, r.nm.Pid)
	}
	r.newWorkers = last
	r.rec.record(step, "ok", nil, "new master %d reloaded its configuration during the %s: new generation of %d workers, up for %s", r.nm.Pid, phase(step), len(last), r.opts.Settle)
	return nil
}

// phase names the part of the run a step line is about, for the reload message.
func phase(step Step) string {
	if step == StepSoak {
		return "soak"
	}
	return "swap"
}

// oldStillDrained drains the old master again when it serves again during the soak: a HUP reached
// it (its workers start again while it has a new master), so the new build no longer serves
// alone. WINCH again puts things back; the step lines say what happened.
func (r *run) oldStillDrained(ctx context.Context) error {
	serving, _, err := nginx.Workers(r.old.Pid)
	if err != nil || len(serving) == 0 {
		return nil // gone or drained: the soak's own check of the old master tells which
	}
	r.rec.record(StepSoak, "ok", nil, "old master %d serves again with %d workers during the soak: a HUP reached it (nginx starts the workers of an old master again while its new master lives); draining it again", r.old.Pid, len(serving))
	return r.drainOld(ctx)
}

// recountOld is asked when the new master settled with fewer workers than the run expects. The
// old master's workers were counted before USR2; a configuration reload in flight then (another
// actor's HUP just before the run) shows both of its generations serving until the previous one
// takes its shutdown signal, and under `worker_processes auto` that count is what the new master
// must reach. When the old master now serves with exactly as many workers as the new one settled
// with, the first count was that moment: the run expects the new count, says so, and reports
// true. A build whose workers die still fails: its count stays below the old master's.
func (r *run) recountOld(settled []nginx.Proc) bool {
	serving, _, err := nginx.Workers(r.old.Pid)
	if err != nil || len(serving) != len(settled) || len(serving) == 0 || len(serving) >= r.oldWorkers {
		return false
	}
	r.rec.record(StepWorkers, "ok", nil, "old master %d serves with %d workers now, not the %d counted before USR2 (a configuration reload was under way then: two generations were serving); expecting %d", r.old.Pid, len(serving), r.oldWorkers, len(serving))
	r.oldWorkers, r.workers = len(serving), len(serving)
	return true
}

func containsProc(ps []nginx.Proc, p nginx.Proc) bool {
	return slices.ContainsFunc(ps, func(q nginx.Proc) bool { return q.Pid == p.Pid && q.StartTime == p.StartTime })
}
