// Package systemd keeps systemd's view of nginx true across a binary swap. systemd tracks one
// main process per service; when it exits, the service is over unless systemd already knows the
// new master. So before the old master quits, the new one is handed over with sd_notify
// (MAINPIDFD=1 with a pidfd where systemd takes one, MAINPID= before), and afterwards the unit is
// checked over D-Bus.
package systemd

import (
	"errors"
	"fmt"
	"os"
	"strconv"
	"strings"

	"golang.org/x/sys/unix"
)

// NotifySocket is systemd's notification socket.
const NotifySocket = "/run/systemd/notify"

// NotifyAs sends state to systemd in the name of pid: the datagram carries SCM_CREDENTIALS naming
// pid, so systemd attributes it to pid's unit although the sender (this helper) may run outside
// that unit's cgroup. Naming another process requires CAP_SYS_ADMIN: root. fds, if any, travel
// with it as SCM_RIGHTS.
func NotifyAs(socket string, pid int, state string, fds ...int) error {
	fd, err := unix.Socket(unix.AF_UNIX, unix.SOCK_DGRAM|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		return fmt.Errorf("notify systemd: socket: %w", err)
	}
	defer unix.Close(fd)
	if err := unix.Sendmsg(fd, []byte(state), controlAs(pid, fds), &unix.SockaddrUnix{Name: socket}, 0); err != nil {
		if errors.Is(err, unix.ESRCH) {
			return fmt.Errorf("notify systemd %q as pid %d: the process is gone: %w", state, pid, err)
		}
		return fmt.Errorf("notify systemd %q as pid %d through %s: %w", state, pid, socket, err)
	}
	return nil
}

// controlAs is the ancillary data of a notification sent as pid, with fds attached.
func controlAs(pid int, fds []int) []byte {
	oob := unix.UnixCredentials(&unix.Ucred{Pid: int32(pid), Uid: uint32(os.Getuid()), Gid: uint32(os.Getgid())})
	if len(fds) > 0 {
		oob = append(oob, unix.UnixRights(fds...)...)
	}
	return oob
}

// PidfdSince is the first systemd that takes a new main process as a pidfd (MAINPIDFD=1) and so
// cannot adopt a process that reused the pid of a master that died.
const PidfdSince = 257

// Handover is how a new main process is named to one systemd.
type Handover struct {
	Manager string // systemd's version, as it reports it
	Pidfd   bool   // MAINPIDFD=1 with a pidfd; MAINPID=<pid> otherwise
}

// ChooseHandover picks the hand-over a systemd of version v takes: by pidfd from PidfdSince on,
// by pid before it and when v does not parse (every systemd since 233 takes MAINPID=).
func ChooseHandover(v string) Handover {
	major := v // "257.9-1~deb13u1": the number before the first non-digit
	if i := strings.IndexFunc(v, func(r rune) bool { return r < '0' || r > '9' }); i >= 0 {
		major = v[:i]
	}
	n, err := strconv.Atoi(major)
	return Handover{Manager: v, Pidfd: err == nil && n >= PidfdSince}
}

// State is the notification's text for a new main process pid.
func (h Handover) State(pid int) string {
	if h.Pidfd {
		return "MAINPIDFD=1"
	}
	return "MAINPID=" + strconv.Itoa(pid)
}

func (h Handover) String() string {
	if h.Pidfd {
		return fmt.Sprintf("by pidfd (MAINPIDFD, systemd %s)", h.Manager)
	}
	return fmt.Sprintf("by pid (MAINPID=, systemd %s)", h.Manager)
}
