package bench

import (
	"context"
	"errors"
	"path/filepath"
	"strings"
	"time"

	"github.com/nginx-upgrade/nginx-upgrade/internal/lab/bench/report"
	"github.com/nginx-upgrade/nginx-upgrade/internal/lab/nspawn"
	"github.com/nginx-upgrade/nginx-upgrade/internal/lab/testbed"
)

// Lengthy is a BoxMethod whose swap takes minutes, not seconds: it boots the box it needs, bounds
// its own swap, runs once per bench whatever -n says, and the load (wrk and back-to-back
// downloads) lasts until it ends.
type Lengthy interface {
	BoxMethod
	BoxOptions() (testbed.BoxOptions, error)
	Within() time.Duration
}

// releaseUpgradeWithin bounds a release upgrade in the bench (testbed's steps have their own).
const releaseUpgradeWithin = 55 * time.Minute

// ReleaseUpgrade is the upgrade of a Debian 12 box to 13 (testbed.UpgradeRelease: sources
// switched to the host's mirror of 13, `apt-get upgrade --without-new-pkgs`, `apt-get
// full-upgrade`), with OLD's nginx 12 build serving and libnginx-mod-stream loaded. Stock, the
// packages restart nginx.service; with Ours, this project's package swaps nginx live. The
// downloaded packages are cached on the host between runs.
type ReleaseUpgrade struct {
	Ours bool
	Deb  string // the nginx-upgrade .deb, with Ours
}

func (p ReleaseUpgrade) Name() string {
	if p.Ours {
		return "release-upgrade-12-13-ours"
	}
	return "release-upgrade-12-13-stock"
}

func (p ReleaseUpgrade) Describe() string {
	const what = "Debian 12 → 13 release upgrade under systemd with libnginx-mod-stream loaded (apt-get upgrade --without-new-pkgs, then full-upgrade; one run: it takes minutes)"
	if p.Ours {
		return what + " with the nginx-upgrade package: nginx 1.26 swapped in live once apt is done (soak 10s as shipped, --health /health)"
	}
	return what + ", stock: the packages restart nginx.service"
}

// BoxOptions boot Debian 12 with the apt caches of the upgrade bound in, on the host's network
// (for its mirror).
func (p ReleaseUpgrade) BoxOptions() (testbed.BoxOptions, error) {
	binds, err := testbed.ReleaseUpgradeBinds(nspawn.Trixie)
	return testbed.BoxOptions{Release: nspawn.Bookworm, Binds: binds}, err
}

func (p ReleaseUpgrade) Within() time.Duration { return releaseUpgradeWithin }

// Prepare loads the stream module and, with Ours, installs our package.
func (p ReleaseUpgrade) Prepare(ctx context.Context, box *testbed.Box) error {
	if err := box.LoadStreamModule(ctx); err != nil {
		return err
	}
	return DebianPackage(p).Prepare(ctx, box)
}

// Swap upgrades the release, marking each step's start, and reads the moments systemd and the
// helper logged from the box's journal afterwards.
func (p ReleaseUpgrade) Swap(ctx context.Context, env Env) (Outcome, error) {
	box := env.Box
	var helpers *helperSampler
	if p.Ours {
		helpers = sampleHelpers(filepath.Join(box.Root(), "proc"))
	}
	start := time.Now()
	steps, runErr := box.UpgradeRelease(ctx, nspawn.Trixie, func(string, ...any) {})
	var o Outcome
	if helpers != nil {
		o.Usage = helpers.stop()
	}
	var said []string
	for _, s := range steps {
		o.Marks = append(o.Marks, report.Mark{Label: s.Name, At: env.Clock(s.Start)})
		said = append(said, s.String())
		o.ExitCode = s.ExitCode
	}
	o.Detail = strings.Join(said, "; ")
	if err := journalMarks(ctx, box, env, start, &o); err != nil {
		return o, errors.Join(runErr, err)
	}
	return o, runErr
}
