package upgrade

import (
	"context"
	"fmt"
	"time"

	"golang.org/x/sys/unix"

	"github.com/nginx-upgrade/nginx-upgrade/internal/health"
	"github.com/nginx-upgrade/nginx-upgrade/internal/nginx"
)

// A swap is done when the new build serves alone and the supervisor tracks it, not when the last
// old connection closes: websockets, long polls and slow downloads keep an old master draining
// for minutes or hours after QUIT. The run waits DrainWait for it, then succeeds and says so;
// status names that state old-draining. A swap asked for meanwhile cannot work (nginx's new master
// ignores USR2 while its parent, the old master, lives), so it is refused, or with Wait it
// waits for the old master's exit first.

// Draining is an old master that got QUIT and still finishes the connections its workers serve.
type Draining struct {
	Pid              int    `json:"pid"`
	Connections      int    `json:"connections"` // established, on its workers
	ConnectionsError string `json:"connections_error,omitempty"`
	// SwapAgeSeconds is the new master's age: the old one has drained for at most that long.
	SwapAgeSeconds float64 `json:"swap_age_seconds"`
	// ShutdownTimeout is nginx's worker_shutdown_timeout, which bounds the drain; known to an
	// upgrade run (from -T), "" when unset or unknown.
	ShutdownTimeout string `json:"worker_shutdown_timeout,omitempty"`
}

func (d Draining) String() string {
	if d.ConnectionsError != "" {
		return fmt.Sprintf("old master %d draining (connections not counted: %s)", d.Pid, d.ConnectionsError)
	}
	return fmt.Sprintf("old master %d draining %d connections", d.Pid, d.Connections)
}

// quitting reports whether master pid holds no listening socket: nginx's master closes them all
// on QUIT, while WINCH leaves them to it for a rollback. It asks for listeners alone (sock_diag):
// every state read after WINCH asks, and the whole socket tables of a host with many
// connections cost a read per asking.
func quitting(pid int) bool {
	ls, err := health.Listeners(pid)
	return err == nil && len(ls) == 0
}

// readDraining describes old, a quitting master, with nm its new master.
func readDraining(old, nm nginx.Proc) Draining {
	d := Draining{Pid: old.Pid}
	serving, stopping, err := nginx.Workers(old.Pid)
	if err == nil {
		// The master first: CountSockets reads the first pid's network tables, and a draining
		// worker may exit at any moment; the master holds no connection of its own.
		pids := []int{old.Pid}
		for _, w := range append(serving, stopping...) {
			pids = append(pids, w.Pid)
		}
		var c health.Sockets
		c, err = health.CountSockets(pids)
		d.Connections = c.Connections
	}
	if err != nil {
		d.ConnectionsError = err.Error()
	}
	if age, err := nginx.Age(nm); err == nil {
		d.SwapAgeSeconds = age.Round(time.Second).Seconds()
	}
	return d
}

// quitOld sends QUIT to the old master and waits DrainWait for it to exit. One still draining
// then is no failure: the run records how many connections it drains and what bounds them.
func (r *run) quitOld(ctx context.Context) error {
	if err := nginx.Signal(r.old.Proc, unix.SIGQUIT); err != nil {
		return err
	}
	r.rec.record(StepQUIT, "sent", nil, "sent QUIT to old master %d", r.old.Pid)
	dctx, cancel := context.WithTimeout(ctx, r.opts.DrainWait)
	defer cancel()
	err := nginx.WaitExit(dctx, r.old.Proc, r.opts.Poll)
	switch {
	case err == nil:
		r.rec.record(StepQUIT, "ok", nil, "old master %d exited", r.old.Pid)
		return nil
	case ctx.Err() != nil:
		return fmt.Errorf("old master %d still running after QUIT: %w", r.old.Pid, err)
	}
	d := readDraining(r.old.Proc, r.nm)
	bound := "no worker_shutdown_timeout: they last until their clients close them (set it to bound the drain)"
	if r.shutdownTimeout > 0 {
		d.ShutdownTimeout = r.shutdownTimeout.String()
		bound = fmt.Sprintf("worker_shutdown_timeout %s bounds it: nginx closes what is left then", r.shutdownTimeout)
	}
	r.rec.info.Draining = &d
	r.rec.record(StepQUIT, "draining", nil, "%s after %s (--drain-wait); the new build serves alone; %s", d, r.opts.DrainWait, bound)
	return nil
}

// drainNote is what the outcome adds when the old master still drains.
func (r *run) drainNote() string {
	if d := r.rec.info.Draining; d != nil {
		return "; " + d.String()
	}
	return ""
}

// steadyState reads the state for a new swap. While a previous swap's old master drains, USR2
// would do nothing: when there is something to swap, the run is refused, or waits (up to Wait,
// counted from the start of the run) for the old master's exit and reads the state again. With
// nothing to swap it goes on: preflight finds nothing to do, and a configuration reload (HUP to
// the new master, certbot's deploy hook) works during a drain.
func (r *run) steadyState(ctx context.Context) (Snapshot, *Result) {
	s := ReadState(r.opts.PidFile)
	if s.State != OldDraining || !swapPending(*s.Current) {
		return s, nil
	}
	d := readDraining(s.Old.Proc, s.Current.Proc)
	left := time.Until(r.waitUntil)
	if left <= 0 {
		err := fmt.Errorf("%s from a previous swap: nginx's new master %d ignores USR2 until it exits", d, s.Current.Pid)
		return s, r.rec.finish(Refused, err, "refused, nothing signalled: %v; retry once it has exited (status shows it), or pass --wait DURATION to wait for it", err)
	}
	r.rec.record(StepWait, "wait", nil, "%s from a previous swap; waiting for its exit, at most %s (--wait)", d, left.Round(time.Second))
	wctx, cancel := context.WithDeadline(ctx, r.waitUntil)
	defer cancel()
	if err := nginx.WaitExit(wctx, s.Old.Proc, r.opts.Poll); err != nil {
		err = fmt.Errorf("old master %d of a previous swap still drains after --wait %s: %w", s.Old.Pid, r.opts.Wait, err)
		return s, r.rec.finish(Refused, err, "refused, nothing signalled: %v; retry later, or wait longer", err)
	}
	r.rec.record(StepWait, "ok", nil, "old master %d exited", s.Old.Pid)
	return ReadState(r.opts.PidFile), nil
}
