package bench

import (
	"context"
	"time"

	"github.com/nginx-upgrade/nginx-upgrade/internal/nginx"
)

// pollEvery is how often the bench looks at the pid file and /proc while timing a swap or a cold
// start: both are timed the same way, so the ratio between them is fair to within this.
const pollEvery = 2 * time.Millisecond

// serving returns the master the pid file names if it is not old and has all its workers.
func serving(pidFile string, old nginx.Proc, workers int) (nginx.Proc, bool) {
	pid, err := nginx.ReadPidFile(pidFile)
	if err != nil {
		return nginx.Proc{}, false
	}
	p, err := nginx.ReadProc(pid)
	if err != nil {
		return nginx.Proc{}, false
	}
	return p, newServing(p, old, workers)
}

// newServing reports whether p, a master a pid file names, is not old and has all its workers.
func newServing(p, old nginx.Proc, workers int) bool {
	if p.Pid == 0 || (p.Pid == old.Pid && p.StartTime == old.StartTime) {
		return false
	}
	ws, _, err := nginx.Workers(p.Pid)
	return err == nil && len(ws) == workers
}

// watch records, on the load's timeline, the first moment a new master has all its workers and
// the moment the old master is gone.
type watch struct {
	done                chan struct{}
	newServing, oldGone time.Duration // -1 until seen
	newMaster           nginx.Proc
}

// startWatch polls until both were seen or ctx ends. newServing returns a new master once it has
// all its workers.
func startWatch(ctx context.Context, newServing func() (nginx.Proc, bool), old nginx.Proc, clock func(time.Time) time.Duration) *watch {
	w := &watch{done: make(chan struct{}), newServing: -1, oldGone: -1}
	go func() {
		defer close(w.done)
		t := time.NewTicker(pollEvery)
		defer t.Stop()
		for w.newServing < 0 || w.oldGone < 0 {
			now := time.Now()
			if w.newServing < 0 {
				if p, ok := newServing(); ok {
					w.newServing, w.newMaster = clock(now), p
				}
			}
			if w.oldGone < 0 && !nginx.Alive(old) {
				w.oldGone = clock(now)
			}
			select {
			case <-ctx.Done():
				return
			case <-t.C:
			}
		}
	}()
	return w
}

// wait returns once both moments were seen, or ctx ended; unseen ones stay -1.
func (w *watch) wait() (newServing, oldGone time.Duration, newMaster nginx.Proc) {
	<-w.done
	return w.newServing, w.oldGone, w.newMaster
}
