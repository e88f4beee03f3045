package systemd

import (
	"context"
	"fmt"
	"os"
	"time"

	"github.com/nginx-upgrade/nginx-upgrade/internal/wait"
)

// Supervisor tells systemd about a master hand-over and checks it agreed. It implements
// upgrade.Supervisor for one service unit.
type Supervisor struct {
	Client *Client
	Unit   string
	Socket string        // default NotifySocket
	Poll   time.Duration // default 20ms
	// InReload: the helper runs as the unit's own ExecReload=, so the unit shows reloading until
	// the helper exits; that counts as running.
	InReload bool
}

// HandOver makes to the unit's main process while from, the current one, still runs. The
// notification is sent in from's name, so NotifyAccess=main accepts it (none refuses it: the
// package installs a drop-in). Nothing is sent when systemd already tracks to.
func (s *Supervisor) HandOver(ctx context.Context, from, to int) error {
	socket := s.Socket
	if socket == "" {
		socket = NotifySocket
	}
	now, err := s.Client.Service(ctx, s.Unit)
	switch {
	case err != nil:
		return err
	case now.MainPID == to:
		return nil
	case now.MainPID != from:
		return fmt.Errorf("%s tracks MainPID %d, neither master %d nor %d: hand-over refused", s.Unit, now.MainPID, from, to)
	}
	if err := NotifyAs(socket, from, fmt.Sprintf("MAINPID=%d", to)); err != nil {
		return err
	}
	var last Service
	err = s.poll(ctx, func() (bool, error) {
		var err error
		last, err = s.Client.Service(ctx, s.Unit)
		return err == nil && last.MainPID == to, err
	})
	if err != nil {
		return fmt.Errorf("systemd did not take MAINPID=%d for %s (now %s; does the unit allow notifications? NotifyAccess=%q): %w", to, s.Unit, last, last.NotifyAccess, err)
	}
	return nil
}

// Verify checks that the unit's main process is master and the unit is active and running.
func (s *Supervisor) Verify(ctx context.Context, master int) error {
	var last Service
	err := s.poll(ctx, func() (bool, error) {
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

// poll checks until done, bounded: systemd applies a notification asynchronously.
func (s *Supervisor) poll(ctx context.Context, check func() (bool, error)) error {
	every := s.Poll
	if every == 0 {
		every = 20 * time.Millisecond
	}
	ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	return wait.Until(ctx, every, check)
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
