package bench

import (
	"context"
	"fmt"
	"os/exec"
	"time"

	"github.com/nginx-upgrade/nginx-upgrade/internal/lab/bench/report"
	"github.com/nginx-upgrade/nginx-upgrade/internal/lab/testbed"
	"github.com/nginx-upgrade/nginx-upgrade/internal/nginx"
)

// coldStarts times n's build starting from cold, tries times, in milliseconds: from exec of
// `nginx` (which daemonizes) until the pid file names a master with all its workers, polled as a
// swap is. That is the floor for "time to new build serving": the new master's own start-up. n
// must be stopped.
func coldStarts(ctx context.Context, n *testbed.Nginx, workers, tries int) ([]float64, error) {
	var times []float64
	for range tries {
		d, err := coldStart(ctx, n, workers)
		if err != nil {
			n.Stop() // a start that failed may have left a master its pid file does not name
			return times, err
		}
		n.StopNamed()
		times = append(times, report.Millis(d))
	}
	return times, nil
}

func coldStart(ctx context.Context, n *testbed.Nginx, workers int) (time.Duration, error) {
	// A generated configuration of 20,000 server blocks takes seconds to start under load.
	ctx, cancel := context.WithTimeout(ctx, time.Minute)
	defer cancel()
	start := time.Now()
	if out, err := exec.CommandContext(ctx, n.Binary, prefixArgs(n)...).CombinedOutput(); err != nil {
		return 0, fmt.Errorf("floor: start nginx: %w: %s", err, out)
	}
	t := time.NewTicker(pollEvery)
	defer t.Stop()
	for {
		now := time.Now()
		if _, ok := serving(n.PidFile, nginx.Proc{}, workers); ok {
			return now.Sub(start), nil
		}
		select {
		case <-ctx.Done():
			return 0, fmt.Errorf("floor: nginx in %s not serving: %w", n.Dir, ctx.Err())
		case <-t.C:
		}
	}
}
