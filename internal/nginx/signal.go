package nginx

import (
	"fmt"

	"golang.org/x/sys/unix"
)

// Signal sends sig to p only if p is still the process that was seen: a pidfd is opened first and
// the start time checked through it, so a pid recycled since p was read is never signalled.
func Signal(p Proc, sig unix.Signal) error {
	fd, err := unix.PidfdOpen(p.Pid, 0)
	if err != nil {
		return fmt.Errorf("send %s to pid %d: %w", unix.SignalName(sig), p.Pid, ErrNoProcess)
	}
	defer unix.Close(fd)
	if !Alive(p) {
		return fmt.Errorf("send %s to pid %d: it exited or was replaced: %w", unix.SignalName(sig), p.Pid, ErrNoProcess)
	}
	if err := unix.PidfdSendSignal(fd, sig, nil, 0); err != nil {
		return fmt.Errorf("send %s to pid %d: %w", unix.SignalName(sig), p.Pid, err)
	}
	return nil
}
