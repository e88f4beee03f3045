package systemd

import (
	"context"
	"fmt"
	"os"
	"time"

	"golang.org/x/sys/unix"

	"github.com/nginx-upgrade/nginx-upgrade/internal/nginx"
	"github.com/nginx-upgrade/nginx-upgrade/internal/wait"
)

// Supervisor tells systemd about a master hand-over and checks it agreed. It implements
// upgrade.Supervisor for one service unit.
type Supervisor struct {
	Client *Client
	Unit   string
	Socket string        // default NotifySocket
	Poll   time.Duration // default 20ms
	// Deadline bounds a hand-over, and a check, with its retries over D-Bus; default 10s. A
	// release upgrade restarts dbus and re-executes systemd: each takes a second or two.
	Deadline time.Duration
	// InReload: the helper runs as the unit's own ExecReload=, so the unit shows reloading until
	// the helper exits; that counts as running.
	InReload bool
}

// HandOver makes to the unit's main process while from, the current one, still runs, and says
// how it did: "" when systemd already tracked to and nothing was sent. The notification is sent in
// from's name, so NotifyAccess=main accepts it (none refuses it: the package installs a drop-in).
// A systemd that takes a pidfd gets one (MAINPIDFD=1): it then cannot adopt another process that
// got to's pid, as it could from MAINPID=<pid> if to died before systemd read the message.
func (s *Supervisor) HandOver(ctx context.Context, from, to nginx.Proc) (string, error) {
	ctx, cancel := s.bounded(ctx)
	defer cancel()
	missed := s.Client.Missed
	now, err := s.Client.Service(ctx, s.Unit)
	switch {
	case err != nil:
		return "", err
	case now.MainPID == to.Pid:
		return "", nil
	case now.MainPID != from.Pid:
		return "", fmt.Errorf("%s tracks MainPID %d, neither master %d nor %d: hand-over refused", s.Unit, now.MainPID, from.Pid, to.Pid)
	}
	// Read each time: a release upgrade re-executes a newer systemd while nginx runs.
	version, err := s.Client.Version(ctx)
	if err != nil {
		return "", err
	}
	h := ChooseHandover(version)
	if err := s.notify(h, from, to); err != nil {
		return "", err
	}
	var last Service
	err = wait.Until(ctx, s.every(), func() (bool, error) {
		var err error
		last, err = s.Client.Service(ctx, s.Unit)
		return err == nil && last.MainPID == to.Pid, err
	})
	if err != nil {
		return "", fmt.Errorf("systemd %s did not take %s for %s (now %s; does the unit allow notifications? NotifyAccess=%q): %w", version, h.State(to.Pid), s.Unit, last, last.NotifyAccess, err)
	}
	how := "handed over " + h.String()
	if n := s.Client.Missed - missed; n > 0 {
		how += fmt.Sprintf("; D-Bus did not answer at first: %d retries (last: %s)", n, s.Client.LastMiss)
	}
	return how, nil
}

// notify sends systemd the hand-over h from master from to master to.
func (s *Supervisor) notify(h Handover, from, to nginx.Proc) error {
	socket := s.Socket
	if socket == "" {
		socket = NotifySocket
	}
	if !h.Pidfd {
		return NotifyAs(socket, from.Pid, h.State(to.Pid))
	}
	fd, err := unix.PidfdOpen(to.Pid, 0)
	if err != nil {
		return fmt.Errorf("open a pidfd of new main process %d: %w", to.Pid, err)
	}
	defer unix.Close(fd)
	// The pidfd names whichever process has the pid now: it must still be the master checked.
	if !nginx.Alive(to) {
		return fmt.Errorf("hand-over to master %d: it exited or was replaced: %w", to.Pid, nginx.ErrNoProcess)
	}
	return NotifyAs(socket, from.Pid, h.State(to.Pid), fd)
}

// Verify checks that the unit's main process is master and the unit is active and running.
func (s *Supervisor) Verify(ctx context.Context, master int) error {
	ctx, cancel := s.bounded(ctx)
	defer cancel()
	var last Service
	err := wait.Until(ctx, s.every(), func() (bool, error) {
		var err error
		last, err = s.Client.Service(ctx, s.Unit)
		up := last.Running() || (s.InReload && last.ActiveState == "reloading")
		return err == nil && last.MainPID == master && up, err
	})
	if err != nil {
		return fmt.Errorf("systemd disagrees: %s, want MainPID %d active/running: %w", last, master, err)
	}
	return nil
}

// bounded gives a hand-over or a check its deadline: systemd applies a notification
// asynchronously, and D-Bus may be down for a moment.
func (s *Supervisor) bounded(ctx context.Context) (context.Context, context.CancelFunc) {
	d := s.Deadline
	if d == 0 {
		d = 10 * time.Second
	}
	return context.WithTimeout(ctx, d)
}

func (s *Supervisor) every() time.Duration {
	if s.Poll == 0 {
		return 20 * time.Millisecond
	}
	return s.Poll
}

// Booted reports whether systemd is the init system (sd_booted).
func Booted() bool {
	_, err := os.Stat("/run/systemd/system")
	return err == nil
}

// Discover finds the service unit tracking master: unit when given, else the unit whose cgroup
// holds master. It returns nil, nil when systemd is not running or master is in no service.
func Discover(ctx context.Context, unit string, master int) (*Supervisor, error) {
	if !Booted() {
		if unit != "" {
			return nil, fmt.Errorf("--unit %s: systemd is not running here", unit)
		}
		return nil, nil
	}
	c, err := Connect(ctx)
	if err != nil {
		return nil, err
	}
	if unit == "" && master > 0 {
		if unit, err = c.UnitOf(ctx, master); err != nil {
			c.Close()
			return nil, err
		}
	}
	if unit == "" {
		c.Close()
		return nil, nil
	}
	own, _ := c.UnitOf(ctx, os.Getpid())
	return &Supervisor{Client: c, Unit: unit, InReload: own == unit}, nil
}
