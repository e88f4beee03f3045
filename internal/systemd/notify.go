// Package systemd keeps systemd's view of nginx true across a binary swap. systemd tracks one
// main process per service; when it exits, the service is over unless systemd already knows the
// new master. So before the old master quits, the new one is handed over with sd_notify
// MAINPID=, and afterwards the unit is checked over D-Bus.
package systemd

import (
	"errors"
	"fmt"
	"os"

	"golang.org/x/sys/unix"
)

// NotifySocket is systemd's notification socket.
const NotifySocket = "/run/systemd/notify"

// NotifyAs sends state to systemd in the name of pid: the datagram carries SCM_CREDENTIALS naming
// pid, so systemd attributes it to pid's unit although the sender (this helper) may run outside
// that unit's cgroup. Naming another process requires CAP_SYS_ADMIN: root.
func NotifyAs(socket string, pid int, state string) error {
	fd, err := unix.Socket(unix.AF_UNIX, unix.SOCK_DGRAM|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		return fmt.Errorf("notify systemd: socket: %w", err)
	}
	defer unix.Close(fd)
	cred := unix.UnixCredentials(&unix.Ucred{Pid: int32(pid), Uid: uint32(os.Getuid()), Gid: uint32(os.Getgid())})
	if err := unix.Sendmsg(fd, []byte(state), cred, &unix.SockaddrUnix{Name: socket}, 0); err != nil {
		if errors.Is(err, unix.ESRCH) {
			return fmt.Errorf("notify systemd %q as pid %d: the process is gone: %w", state, pid, err)
		}
		return fmt.Errorf("notify systemd %q as pid %d through %s: %w", state, pid, socket, err)
	}
	return nil
}
