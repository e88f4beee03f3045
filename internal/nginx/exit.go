package nginx

import (
	"context"
	"errors"
	"fmt"
	"time"

	"golang.org/x/sys/unix"

	"github.com/nginx-upgrade/nginx-upgrade/internal/wait"
)

// WaitExit waits until p exits, or ctx ends (then it returns ctx's error). It waits on a pidfd,
// which the kernel makes readable when the process exits, so the end is seen at once without
// polling; where pidfds are missing (kernels before 5.3) it polls /proc every interval. A
// process already gone, or a pid recycled since p was read, counts as exited.
func WaitExit(ctx context.Context, p Proc, every time.Duration) error {
	fd, err := unix.PidfdOpen(p.Pid, 0)
	switch {
	case errors.Is(err, unix.ESRCH):
		return nil
	case err != nil:
		return wait.Until(ctx, every, func() (bool, error) { return !Alive(p), nil })
	}
	defer unix.Close(fd)
	// Opened after p was read: the pid may name another process by now.
	if !Alive(p) {
		return nil
	}
	for {
		if err := ctx.Err(); err != nil {
			return err
		}
		// A bounded poll, so that a cancelled ctx is seen within one interval.
		ms := int(every.Milliseconds())
		if dl, ok := ctx.Deadline(); ok {
			ms = min(ms, int(time.Until(dl).Milliseconds())+1)
		}
		n, err := unix.Poll([]unix.PollFd{{Fd: int32(fd), Events: unix.POLLIN}}, max(ms, 1))
		switch {
		case errors.Is(err, unix.EINTR):
		case err != nil:
			return fmt.Errorf("wait for pid %d to exit: %w", p.Pid, err)
		case n > 0:
			return nil
		}
	}
}

// userHZ is the unit of /proc/PID/stat's times: USER_HZ, 100 on every Linux architecture.
const userHZ = 100

// Age is how long p has been running: now on the boot-time clock, which /proc's start times
// count from, less its start time.
func Age(p Proc) (time.Duration, error) {
	var ts unix.Timespec
	if err := unix.ClockGettime(unix.CLOCK_BOOTTIME, &ts); err != nil {
		return 0, fmt.Errorf("read the boot-time clock: %w", err)
	}
	started := time.Duration(p.StartTime) * time.Second / userHZ
	return max(time.Duration(ts.Nano())-started, 0), nil
}
