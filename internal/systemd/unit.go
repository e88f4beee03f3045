package systemd

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	sd "github.com/coreos/go-systemd/v22/dbus"
	"github.com/godbus/dbus/v5"

	"github.com/nginx-upgrade/nginx-upgrade/internal/wait"
)

// Client talks to systemd over D-Bus. A swap must outlast the bus: during a release upgrade dbus
// is restarted (every connection to it drops) and systemd re-executes itself (for a moment it
// owns no bus name and answers nothing). So every call is retried, over a fresh connection when
// the old one dropped, until its context ends; an answer that is an error of systemd's own (no
// such unit, access denied) ends it at once. A Client is not safe for concurrent use.
type Client struct {
	conn *sd.Conn
	dial func(context.Context) (*sd.Conn, error)
	// Missed counts the times a call found its connection dropped or got no answer, and was tried
	// again: how often a run met a bus or a systemd that did not answer.
	Missed int
	// LastMiss says what the last of them was, "" when there was none.
	LastMiss string
}

const (
	retryEvery = 50 * time.Millisecond
	// attemptTimeout bounds one call: a systemd busy re-executing itself may take a call and
	// never answer it, and the next attempt may reach it awake.
	attemptTimeout = 2 * time.Second
)

// Connect opens the system bus, or systemd's private socket where no bus daemon runs.
func Connect(ctx context.Context) (*Client, error) {
	c := &Client{dial: dial}
	conn, err := c.dial(ctx)
	if err != nil {
		return nil, err
	}
	c.conn = conn
	return c, nil
}

// dial connects to the system bus, or to systemd's private socket when the bus does not answer
// (dbus may be the very thing being restarted). The connection lives on after ctx: godbus closes
// a connection when the context it was made with ends, and ctx bounds only this dial.
func dial(ctx context.Context) (*sd.Conn, error) {
	type dialled struct {
		conn *sd.Conn
		err  error
	}
	got := make(chan dialled, 1)
	go func() {
		life := context.WithoutCancel(ctx)
		conn, err := sd.NewSystemConnectionContext(life)
		if err != nil {
			var perr error
			if conn, perr = sd.NewSystemdConnectionContext(life); perr != nil {
				err = fmt.Errorf("connect to systemd over D-Bus: %w (its private socket: %v)", err, perr)
			} else {
				err = nil
			}
		}
		got <- dialled{conn, err}
	}()
	select {
	case d := <-got:
		return d.conn, d.err
	case <-ctx.Done():
		go func() {
			if d := <-got; d.conn != nil {
				d.conn.Close()
			}
		}()
		return nil, fmt.Errorf("connect to systemd over D-Bus: %w", ctx.Err())
	}
}

// Close closes the connection.
func (c *Client) Close() {
	if c.conn != nil {
		c.conn.Close()
	}
}

// call runs f over a live connection until it succeeds, fails for good, or ctx ends. Each
// attempt gets attemptTimeout at most.
func (c *Client) call(ctx context.Context, what string, f func(context.Context, *sd.Conn) error) error {
	var last error
	err := wait.Until(ctx, retryEvery, func() (bool, error) {
		if c.conn == nil || !c.conn.Connected() {
			if c.conn != nil {
				c.miss("the connection dropped")
				c.Close()
				c.conn = nil
			}
			conn, err := c.dial(ctx)
			if err != nil {
				last = err
				return false, nil
			}
			c.conn = conn
		}
		actx, cancel := context.WithTimeout(ctx, attemptTimeout)
		defer cancel()
		err := f(actx, c.conn)
		if err == nil {
			return true, nil
		}
		if ctx.Err() == nil && (unanswered(err) || !c.conn.Connected()) {
			last = err
			c.miss(err.Error())
			return false, nil
		}
		return false, fmt.Errorf("%s over D-Bus: %w", what, err)
	})
	if err != nil && last != nil && ctx.Err() != nil {
		return fmt.Errorf("%s: neither D-Bus nor systemd answered before the deadline (last: %v): %w", what, last, err)
	}
	return err
}

func (c *Client) miss(what string) {
	c.Missed++
	c.LastMiss = what
}

// unanswered reports whether err means the bus or systemd did not answer, rather than that
// systemd answered with an error: a dropped connection, a call that timed out, a bus that knows
// no systemd1 (it is re-executing), a caller that left without replying.
func unanswered(err error) bool {
	var derr dbus.Error
	if !errors.As(err, &derr) {
		return true // transport: EOF, a reset, a closed connection, a timed-out call
	}
	switch derr.Name {
	case "org.freedesktop.DBus.Error.NoReply",
		"org.freedesktop.DBus.Error.ServiceUnknown",
		"org.freedesktop.DBus.Error.NameHasNoOwner",
		"org.freedesktop.DBus.Error.Disconnected",
		"org.freedesktop.DBus.Error.NoServer",
		"org.freedesktop.DBus.Error.Timeout",
		"org.freedesktop.DBus.Error.TimedOut":
		return true
	}
	return false
}

// Service is what systemd says about a service unit at one moment.
type Service struct {
	Unit         string
	MainPID      int
	ActiveState  string // active, reloading, inactive, failed, ...
	SubState     string // running, reload, exited, ...
	Type         string // forking, simple, notify, ...
	PIDFile      string
	NotifyAccess string
	ActiveEnter  uint64 // ActiveEnterTimestampMonotonic, µs: changes when the unit is (re)started
}

// Running reports whether systemd sees the service as up.
func (s Service) Running() bool { return s.ActiveState == "active" && s.SubState == "running" }

func (s Service) String() string {
	return fmt.Sprintf("%s: MainPID %d, %s/%s", s.Unit, s.MainPID, s.ActiveState, s.SubState)
}

// Service reads a service unit's state.
func (c *Client) Service(ctx context.Context, unit string) (Service, error) {
	var u, sv map[string]any
	err := c.call(ctx, "read unit "+unit, func(ctx context.Context, conn *sd.Conn) error {
		var err error
		if u, err = conn.GetUnitPropertiesContext(ctx, unit); err != nil {
			return err
		}
		sv, err = conn.GetUnitTypePropertiesContext(ctx, unit, "Service")
		return err
	})
	if err != nil {
		return Service{}, err
	}
	s := Service{Unit: unit}
	s.ActiveState, _ = u["ActiveState"].(string)
	s.SubState, _ = u["SubState"].(string)
	s.ActiveEnter, _ = u["ActiveEnterTimestampMonotonic"].(uint64)
	pid, _ := sv["MainPID"].(uint32)
	s.MainPID = int(pid)
	s.Type, _ = sv["Type"].(string)
	s.PIDFile, _ = sv["PIDFile"].(string)
	s.NotifyAccess, _ = sv["NotifyAccess"].(string)
	return s, nil
}

// Version returns the version systemd reports of itself (the Manager's Version property, such as
// "257.9-1~deb13u1"). It is read each time: a release upgrade re-executes a newer systemd.
func (c *Client) Version(ctx context.Context) (string, error) {
	var v string
	err := c.call(ctx, "read systemd's version", func(ctx context.Context, conn *sd.Conn) error {
		// go-systemd reads manager properties without a context: bound the wait here.
		type answer struct {
			v   string
			err error
		}
		got := make(chan answer, 1)
		go func() {
			s, err := conn.GetManagerProperty("Version")
			got <- answer{s, err}
		}()
		select {
		case a := <-got:
			v = a.v
			return a.err
		case <-ctx.Done():
			return ctx.Err()
		}
	})
	if err != nil {
		return "", err
	}
	return strings.Trim(v, `"`), nil
}

// UnitOf returns the service unit pid belongs to, by its cgroup; "" when it is not in a service
// (a scope, such as a login session, where nothing tracks a main process).
func (c *Client) UnitOf(ctx context.Context, pid int) (string, error) {
	var unit string
	err := c.call(ctx, fmt.Sprintf("find the unit of pid %d", pid), func(ctx context.Context, conn *sd.Conn) error {
		var err error
		unit, err = conn.GetUnitNameByPID(ctx, uint32(pid))
		return err
	})
	if err != nil {
		return "", err
	}
	if !strings.HasSuffix(unit, ".service") {
		return "", nil
	}
	return unit, nil
}
