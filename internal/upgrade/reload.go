package upgrade

import (
	"context"
	"fmt"
	"slices"
	"time"

	"golang.org/x/sys/unix"

	"github.com/nginx-upgrade/nginx-upgrade/internal/nginx"
)

// Reload is what `systemctl reload nginx` should do: a verified binary swap when the binary on
// disk is not the one running (a package upgrade installed a new build) or nginx maps libraries or
// modules replaced on disk (a re-exec of the same binary loads the new ones), else the usual
// configuration reload, tested first and checked after.
func Reload(ctx context.Context, opts Options) *Result {
	return begin(ctx, opts, func(r *run) *Result {
		if s := ReadState(r.opts.PidFile); s.State == Running && swapPending(*s.Current) {
			return r.upgrade(ctx)
		}
		return r.reloadConfig(ctx)
	})
}

func (r *run) reloadConfig(ctx context.Context) *Result {
	rec := r.rec
	if res := r.findMaster(ctx); res != nil {
		return res
	}
	m := r.old
	rec.info.NewMaster = m.Pid
	// Test with the very binary that runs, even if the file on disk is gone.
	cfg, err := nginx.TestConfig(ctx, fmt.Sprintf("/proc/%d/exe", m.Pid), m.Args)
	if err != nil {
		return rec.finish(Rejected, err, "configuration not reloaded: %v; master %d serves its old configuration", err, m.Pid)
	}
	before, _, err := nginx.Workers(m.Pid)
	if err != nil {
		return rec.finish(Refused, err, "refused: %v", err)
	}
	want := cfg.Workers
	if want == 0 {
		want = len(before)
	}
	if err := nginx.Signal(m.Proc, unix.SIGHUP); err != nil {
		return rec.finish(Refused, err, "refused: %v", err)
	}
	rec.record(StepReload, "sent", nil, "configuration accepted; sent HUP to master %d", m.Pid)
	if err := r.waitReplaced(ctx, m.Proc, before, want); err != nil {
		return rec.finish(Rejected, err, "configuration not taken: %v; see nginx's error log", err)
	}
	rec.record(StepReload, "ok", nil, "master %d runs %d new workers", m.Pid, want)
	if err := r.health(ctx, m.Pid); err != nil {
		return rec.finish(NeedsOperator, err, "reloaded, but the health check fails: %v", err)
	}
	return rec.finish(Success, nil, "reloaded configuration: master %d", m.Pid)
}

// waitReplaced waits until master's serving workers are want new ones, none of before, settled.
func (r *run) waitReplaced(ctx context.Context, master nginx.Proc, before []nginx.Proc, want int) error {
	last, err := r.waitSettled(ctx, master, func(serving []nginx.Proc, _ time.Duration) (bool, error) {
		fresh := !slices.ContainsFunc(serving, func(w nginx.Proc) bool {
			return slices.ContainsFunc(before, func(b nginx.Proc) bool { return b.Pid == w.Pid })
		})
		return fresh && len(serving) == want, nil
	})
	if err != nil {
		return fmt.Errorf("master %d has %d serving workers, %d new expected: %w", master.Pid, len(last), want, err)
	}
	return nil
}

// swapPending reports whether master m has a reason to swap: the binary on disk is another one,
// or m or its workers map libraries or modules replaced on disk. A binary that cannot be read, or
// a stale set that cannot be, gives no reason here: preflight says what is wrong when it runs.
func swapPending(m nginx.Master) bool {
	bin, err := nginx.StatBinary(m.Args.Binary)
	if err != nil {
		return false
	}
	stale, _ := staleness(m, bin)
	return len(stale.Reasons()) > 0
}
