package bench

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"time"

	"github.com/nginx-upgrade/nginx-upgrade/internal/lab/bench/report"
	"github.com/nginx-upgrade/nginx-upgrade/internal/lab/nspawn"
	"github.com/nginx-upgrade/nginx-upgrade/internal/lab/testbed"
)

// LibraryUpdate is a security update of libssl3 on a Debian host under systemd, in a box: the
// older of the two newest libssl3 builds apt knows (testdata/container/lib-debs.sh caches them)
// installed before nginx starts, the newer one installed by apt-get during the load. Stock,
// nginx keeps running the deleted library (the row's end state says so); with Needrestart,
// needrestart in automatic mode restarts nginx.service from apt's hook; with Ours, this
// project's package re-executes nginx live from its apt hook.
type LibraryUpdate struct {
	Needrestart bool
	Ours        bool
	Deb         string // the nginx-upgrade .deb, with Ours
}

func (p LibraryUpdate) Name() string {
	switch {
	case p.Ours:
		return "libssl3-update-ours"
	case p.Needrestart:
		return "libssl3-update-stock-needrestart"
	}
	return "libssl3-update-stock"
}

func (p LibraryUpdate) Describe() string {
	switch {
	case p.Ours:
		return "libssl3 update with our package: apt-get install libssl3=NEWER, its apt hook re-executes nginx live (soak 10s as shipped, --health /health)"
	case p.Needrestart:
		return "libssl3 update, stock + needrestart automatic: apt-get install libssl3=NEWER, NEEDRESTART_MODE=a restarts nginx.service"
	}
	return "libssl3 update, stock: apt-get install libssl3=NEWER; nothing swaps nginx, which keeps running the deleted library"
}

// libssl3Versions are OLDER and NEWER as lib-debs.sh cached them, run when missing.
func libssl3Versions() (older, newer string, err error) {
	versions := filepath.Join(nspawn.HostRelease.LibsDir(), "libssl3/versions")
	if _, err := os.Stat(versions); err != nil {
		root, err := testbed.RepoRoot()
		if err != nil {
			return "", "", err
		}
		if out, err := exec.Command("bash", filepath.Join(root, "testdata/container/lib-debs.sh"), string(nspawn.HostRelease)).CombinedOutput(); err != nil {
			return "", "", fmt.Errorf("testdata/container/lib-debs.sh: %w\n%s", err, out)
		}
	}
	b, err := os.ReadFile(versions)
	if err != nil {
		return "", "", err
	}
	v := strings.Fields(string(b))
	if len(v) != 2 {
		return "", "", fmt.Errorf("%s: want OLDER and NEWER, got %q", versions, b)
	}
	return v[0], v[1], nil
}

// libDeb is the box path of the cached libssl3 .deb of version v (/debs is the cache's debs).
func libDeb(v string) string { return fmt.Sprintf("/debs/libs/libssl3/%s/libssl3_*.deb", v) }

// Prepare installs the older libssl3 and restarts nginx on it, needrestart (from the cache,
// offline) with Needrestart, and our package with Ours.
func (p LibraryUpdate) Prepare(ctx context.Context, box *testbed.Box) error {
	older, _, err := libssl3Versions()
	if err != nil {
		return err
	}
	script := "export DEBIAN_FRONTEND=noninteractive; dpkg -i " + libDeb(older) + " >/dev/null && systemctl restart nginx"
	if p.Needrestart {
		script += " && dpkg -i /debs/libs/needrestart/*.deb >/dev/null"
	}
	if _, err := box.Shell(ctx, script); err != nil {
		return fmt.Errorf("older libssl3 %s: %w", older, err)
	}
	if p.Ours {
		if err := (DebianPackage{Ours: true, Deb: p.Deb}).Prepare(ctx, box); err != nil {
			return err
		}
	}
	return box.AwaitServing(ctx)
}

// Swap runs apt-get install of the newer libssl3 (a local .deb, no sources: apt's hooks run as
// for any install) and reads the moments to mark from the box's journal afterwards.
func (p LibraryUpdate) Swap(ctx context.Context, env Env) (Outcome, error) {
	box := env.Box
	_, newer, err := libssl3Versions()
	if err != nil {
		return Outcome{}, err
	}
	var helpers *helperSampler
	if p.Ours {
		helpers = sampleHelpers(filepath.Join(box.Root(), "proc"))
	}
	start := time.Now()
	o := Outcome{Marks: []report.Mark{{Label: "apt-get", At: env.Clock(start)}}}
	out, runErr := box.Shell(ctx, "mkdir -p /tmp/nolists/partial /tmp/nosources && : >/tmp/nosources.list && "+
		"NEEDRESTART_MODE=a DEBIAN_FRONTEND=noninteractive apt-get install -y -q "+
		"-o Dir::Etc::SourceList=/tmp/nosources.list -o Dir::Etc::SourceParts=/tmp/nosources -o Dir::State::Lists=/tmp/nolists "+
		libDeb(newer)+" 2>&1")
	if helpers != nil {
		o.Usage = helpers.stop()
	}
	var ee *exec.ExitError
	if errors.As(runErr, &ee) {
		o.ExitCode = ee.ExitCode()
	}
	o.Detail = fmt.Sprintf("apt-get install libssl3=%s exit %d: %s", newer, o.ExitCode, lastLine(out))
	if err := journalMarks(ctx, box, env, start, &o); err != nil {
		return o, errors.Join(runErr, err)
	}
	if runErr != nil {
		return o, fmt.Errorf("apt-get in the box: %w", runErr)
	}
	return o, nil
}
