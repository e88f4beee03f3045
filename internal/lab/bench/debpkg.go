package bench

import (
	"context"
	"errors"
	"fmt"
	"os/exec"
	"path/filepath"
	"strings"
	"time"

	"github.com/nginx-upgrade/nginx-upgrade/internal/lab/bench/report"
	"github.com/nginx-upgrade/nginx-upgrade/internal/lab/testbed"
)

// DebianPackage upgrades nginx as apt does on a Debian host under systemd, in a box: `dpkg -i`
// of the newer nginx-common and nginx packages. With Deb empty that is Debian's stock upgrade:
// nginx-common's postinst restarts nginx.service, then nginx's runs the init script's `upgrade`.
// With Ours, this project's package Deb is installed first (as shipped, plus a health URL like
// the Ctl rows'): its dpkg hooks refuse that restart and its trigger swaps nginx live.
type DebianPackage struct {
	Ours bool
	Deb  string // the nginx-upgrade .deb, with Ours
}

func (p DebianPackage) Name() string {
	if !p.Ours {
		return "debian-package-stock"
	}
	return "debian-package-ours"
}

func (p DebianPackage) Describe() string {
	if !p.Ours {
		return "Debian's package upgrade under systemd, stock: dpkg -i nginx-common nginx (its postinst restarts nginx.service, then runs the init script's upgrade)"
	}
	return "the same dpkg -i with the nginx-upgrade package installed: the restart refused, its trigger runs nginx-upgradectl upgrade (soak 10s as shipped, --health /health)"
}

// Prepare installs the nginx-upgrade package, with Ours, with dpkg.
func (p DebianPackage) Prepare(ctx context.Context, box *testbed.Box) error {
	if !p.Ours {
		return nil
	}
	in := "/root/" + filepath.Base(p.Deb)
	if err := box.CopyIn(p.Deb, in); err != nil {
		return err
	}
	health := fmt.Sprintf("HEALTH_FLAGS=\"--health %s/health\"\n", box.Site.Base)
	_, err := box.Shell(ctx, "dpkg -i "+in+" && cat >>/etc/default/nginx-upgrade <<'EOF'\n"+health+"EOF")
	return err
}

// Swap runs dpkg in the box and reads the moments to mark from the box's journal afterwards.
func (p DebianPackage) Swap(ctx context.Context, env Env) (Outcome, error) {
	box := env.Box
	debs := fmt.Sprintf("/debs/%s/nginx-common_*.deb /debs/%[1]s/nginx_*.deb", box.Builds.NewVersion)
	var helpers *helperSampler
	if p.Ours {
		helpers = sampleHelpers(filepath.Join(box.Root(), "proc"))
	}
	start := time.Now()
	o := Outcome{Marks: []report.Mark{{Label: "dpkg", At: env.Clock(start)}}}
	out, runErr := box.Shell(ctx, "DEBIAN_FRONTEND=noninteractive dpkg -i "+debs)
	if helpers != nil {
		o.Usage = helpers.stop()
	}
	var ee *exec.ExitError
	if errors.As(runErr, &ee) {
		o.ExitCode = ee.ExitCode()
	}
	o.Detail = fmt.Sprintf("dpkg -i exit %d: %s", o.ExitCode, lastLine(out))

	if err := journalMarks(ctx, box, env, start, &o); err != nil {
		return o, errors.Join(runErr, err)
	}
	if runErr != nil {
		return o, fmt.Errorf("dpkg -i in the box: %w", runErr)
	}
	return o, nil
}

// journalMarks reads the moments to mark since start from the box's journal into o: systemd
// stopping and starting nginx.service, the helper's steps, and its outcome into o.Detail.
func journalMarks(ctx context.Context, box *testbed.Box, env Env, start time.Time, o *Outcome) error {
	// Whole seconds: the records before start are left out below, to the microsecond.
	js, err := box.Shell(ctx, fmt.Sprintf("journalctl -o json --no-pager --since @%d %s=%s + UNIT=nginx.service",
		start.Unix()-1, "SYSLOG_IDENTIFIER", ctlIdentifier))
	if err != nil {
		return fmt.Errorf("read the box's journal: %w", err)
	}
	entries, err := parseJournal(js)
	if err != nil {
		return err
	}
	for _, e := range entries {
		if e.At.Before(start) {
			continue
		}
		if label := journalMark(e.Fields); label != "" {
			o.Marks = append(o.Marks, report.Mark{Label: label, At: env.Clock(e.At)})
		}
		if e.Fields["SYSLOG_IDENTIFIER"] == ctlIdentifier && e.Fields["STEP"] == "outcome" {
			o.Detail += fmt.Sprintf("; helper outcome %s (%s): %s", e.Fields["RESULT"], e.Fields["INVOKED_BY"], e.Fields["MESSAGE"])
		}
	}
	return nil
}

// lastLine is the last non-empty line of out.
func lastLine(out string) string {
	lines := strings.Split(strings.TrimSpace(out), "\n")
	return strings.TrimSpace(lines[len(lines)-1])
}
