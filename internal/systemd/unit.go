package systemd

import (
	"context"
	"fmt"
	"strings"

	sd "github.com/coreos/go-systemd/v22/dbus"
)

// Client talks to systemd over D-Bus.
type Client struct{ conn *sd.Conn }

// Connect opens the system bus, or systemd's private socket where no bus daemon runs.
func Connect(ctx context.Context) (*Client, error) {
	conn, err := sd.NewSystemConnectionContext(ctx)
	if err != nil {
		var perr error
		if conn, perr = sd.NewSystemdConnectionContext(ctx); perr != nil {
			return nil, fmt.Errorf("connect to systemd over D-Bus: %w", err)
		}
	}
	return &Client{conn: conn}, nil
}

// Close closes the connection.
func (c *Client) Close() { c.conn.Close() }

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
	u, err := c.conn.GetUnitPropertiesContext(ctx, unit)
	if err != nil {
		return Service{}, fmt.Errorf("read unit %s over D-Bus: %w", unit, err)
	}
	sv, err := c.conn.GetUnitTypePropertiesContext(ctx, unit, "Service")
	if err != nil {
		return Service{}, fmt.Errorf("read service %s over D-Bus: %w", unit, err)
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

// UnitOf returns the service unit pid belongs to, by its cgroup; "" when it is not in a service
// (a scope, such as a login session, where nothing tracks a main process).
func (c *Client) UnitOf(ctx context.Context, pid int) (string, error) {
	unit, err := c.conn.GetUnitNameByPID(ctx, uint32(pid))
	if err != nil {
		return "", fmt.Errorf("find the unit of pid %d over D-Bus: %w", pid, err)
	}
	if !strings.HasSuffix(unit, ".service") {
		return "", nil
	}
	return unit, nil
}
