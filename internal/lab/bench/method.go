package bench

import (
	"context"
	"time"

	"github.com/nginx-upgrade/nginx-upgrade/internal/lab/bench/report"
	"github.com/nginx-upgrade/nginx-upgrade/internal/lab/testbed"
)

// Method is one way of swapping nginx's binary: a row of the benchmark. Swap is called with the
// old build serving under load and the new build already installed at Env.Nginx.Binary (as a
// package upgrade leaves it); it returns when the method considers the swap done.
//
// This is the extension point for more rows: anything that can be pointed at a running nginx
// and report when it sent which signal fits; under systemd, see BoxMethod.
type Method interface {
	Name() string     // short and file-name safe: used in the table, the JSON and the SVG's name
	Describe() string // one line for the report
	Swap(ctx context.Context, env Env) (Outcome, error)
}

// BoxMethod is a Method that upgrades Debian's nginx under systemd: each run boots a box of its
// own (Debian's older nginx installed with dpkg, serving under its stock nginx.service), Prepare
// readies it before the load starts, and Swap is called with Env.Box.
type BoxMethod interface {
	Method
	Prepare(ctx context.Context, box *testbed.Box) error
}

// Env is what a method acts on: a test-bed prefix on the host (Nginx), or a box (Box).
type Env struct {
	Nginx   *testbed.Nginx
	Box     *testbed.Box
	Workers int
	// Clock turns a wall-clock moment into an offset on the load's timeline, where marks live.
	Clock func(time.Time) time.Duration
}

// Outcome is what a method reports about its own run.
type Outcome struct {
	Marks    []report.Mark // signals sent (USR2, WINCH, QUIT, ...), on the load's timeline
	ExitCode int           // of the helper or script; 0 for in-process methods
	Detail   string        // the helper's outcome and last message, or the script's output
	Usage    *Usage        // resources of the helper process; nil when the method runs in-process
	// Preflight is what the helper said of its preflight; nil for methods other than the helper.
	Preflight *Preflight
}

// Preflight is the helper's preflight as its --json steps tell it, in ms from its start.
type Preflight struct {
	EndMS  float64 // the last preflight step
	TestMS float64 // its `nginx -T` (-1: not said)
	Note   string  // its note line, if any (the TLS resumption one)
	// Steps are the helper's steps up to USR2 ("12 ms find_master ok"): where its overhead goes.
	Steps []string
}

// Ours reports whether m runs this project's helper: the goals apply to its row.
func Ours(m Method) bool {
	switch m := m.(type) {
	case Ctl:
		return true
	case DebianPackage:
		return m.Ours
	case LibraryUpdate:
		return m.Ours
	case ReleaseUpgrade:
		return m.Ours
	}
	return false
}
