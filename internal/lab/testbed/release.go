package testbed

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"time"

	"github.com/nginx-upgrade/nginx-upgrade/internal/lab/nspawn"
	"github.com/nginx-upgrade/nginx-upgrade/internal/wait"
)

// A release upgrade of a box, as Debian's release notes give it: the sources switched to the next
// release, `apt-get update`, a minimal `apt-get upgrade --without-new-pkgs`, then `apt-get
// full-upgrade`, non-interactive, keeping the box's own configuration files. The next release's
// archive comes from the host's mirror (the sources testdata/container/release.sh computed), so a
// box doing one needs the host's network; what apt downloads is kept on the host between runs.

// ReleaseUpgradeBinds are the host directories a box upgrading to release `to` keeps apt's
// downloads in, made when missing: the archive cache (/var/cache/apt/archives) and the package
// lists (/var/lib/apt/lists), under to's cache. A second run on one machine downloads no package.
// apt gives their partial directories to its sandbox user (_apt) itself.
func ReleaseUpgradeBinds(to nspawn.Release) ([]nspawn.Bind, error) {
	dir := filepath.Join(to.Dir(), "release-upgrade")
	binds := []nspawn.Bind{
		{Host: filepath.Join(dir, "archives"), Container: "/var/cache/apt/archives"},
		{Host: filepath.Join(dir, "lists"), Container: "/var/lib/apt/lists"},
	}
	for _, b := range binds {
		if err := os.MkdirAll(filepath.Join(b.Host, "partial"), 0o755); err != nil {
			return nil, fmt.Errorf("apt cache for the upgrade to %s: %w", to.Name(), err)
		}
	}
	return binds, nil
}

// UpgradeStep is one command of a release upgrade and what it did.
type UpgradeStep struct {
	Name     string
	Command  string
	Timeout  time.Duration
	Output   string
	Start    time.Time
	Took     time.Duration
	ExitCode int
}

// aptCounts is apt's summary line of what it changes.
var aptCounts = regexp.MustCompile(`(?m)^(\d+) upgraded, (\d+) newly installed, (\d+) to remove and (\d+) not upgraded\.$`)

// aptNeed is apt's line of what it downloads ("Need to get 0 B/98.2 MB of archives." when the
// archive cache has every package).
var aptNeed = regexp.MustCompile(`(?m)^Need to get .*$`)

// Summary is apt's own lines of what the step changed and downloaded, when it printed them.
func (s UpgradeStep) Summary() string {
	var parts []string
	if m := aptCounts.FindString(s.Output); m != "" {
		parts = append(parts, m)
	}
	if m := aptNeed.FindString(s.Output); m != "" {
		parts = append(parts, m)
	}
	return strings.Join(parts, " ")
}

// Upgraded is the number of packages apt upgraded in the step (0 when it printed no summary).
func (s UpgradeStep) Upgraded() int {
	var n int
	if m := aptCounts.FindStringSubmatch(s.Output); m != nil {
		fmt.Sscan(m[1], &n)
	}
	return n
}

func (s UpgradeStep) String() string {
	return fmt.Sprintf("%s: exit %d in %s %s", s.Name, s.ExitCode, s.Took.Round(time.Millisecond), s.Summary())
}

// releaseUpgradeSteps are the commands of the upgrade to `to`, each bounded: the first run on a
// machine downloads some 130 packages, and the load on the box slows dpkg down.
func releaseUpgradeSteps(to nspawn.Release) []UpgradeStep {
	const apt = "DEBIAN_FRONTEND=noninteractive APT_LISTCHANGES_FRONTEND=none apt-get -y -q -o Acquire::Retries=3 " +
		"-o Dpkg::Options::=--force-confdef -o Dpkg::Options::=--force-confold "
	return []UpgradeStep{
		{Name: "sources", Timeout: 30 * time.Second, Command: "rm -f /etc/apt/sources.list.d/*.list /etc/apt/sources.list.d/*.sources && " +
			"mv /etc/apt/sources.list." + to.String() + " /etc/apt/sources.list && cat /etc/apt/sources.list"},
		{Name: "update", Timeout: 5 * time.Minute, Command: apt + "update"},
		{Name: "upgrade --without-new-pkgs", Timeout: 20 * time.Minute, Command: apt + "upgrade --without-new-pkgs"},
		{Name: "full-upgrade", Timeout: 25 * time.Minute, Command: apt + "full-upgrade"},
	}
}

// UpgradeRelease upgrades the box's Debian to release `to` (its binds from ReleaseUpgradeBinds)
// and returns each step it ran; the first that fails ends it with an error. ctx bounds the whole,
// each step has its own timeout too.
func (b *Box) UpgradeRelease(ctx context.Context, to nspawn.Release, logf func(format string, args ...any)) ([]UpgradeStep, error) {
	sources := filepath.Join(to.Dir(), "apt", "sources.list")
	if _, err := os.Stat(sources); err != nil {
		return nil, fmt.Errorf("the sources of %s from the host's mirror: %w (run: bash testdata/container/golden.sh %s)", to.Name(), err, to)
	}
	if err := b.CopyIn(sources, "/etc/apt/sources.list."+to.String()); err != nil {
		return nil, err
	}
	var done []UpgradeStep
	for _, s := range releaseUpgradeSteps(to) {
		sctx, cancel := context.WithTimeout(ctx, s.Timeout)
		s.Start = time.Now()
		out, err := b.Shell(sctx, s.Command+" 2>&1; echo rc=$?")
		s.Took = time.Since(s.Start)
		cancel()
		s.Output = out
		if err == nil {
			i := strings.LastIndex(out, "rc=")
			fmt.Sscanf(out[i:], "rc=%d", &s.ExitCode)
			s.Output = out[:i]
		}
		done = append(done, s)
		logf("$ %s → exit %d in %s\n%s", s.Command, s.ExitCode, s.Took.Round(time.Millisecond), s.Output)
		switch {
		case err != nil:
			return done, fmt.Errorf("release upgrade to %s, step %s (within %s): %w", to.Name(), s.Name, s.Timeout, err)
		case s.ExitCode != 0:
			return done, fmt.Errorf("release upgrade to %s, step %s: exit %d", to.Name(), s.Name, s.ExitCode)
		}
	}
	return done, nil
}

// LoadStreamModule installs libnginx-mod-stream of the box's NEW build (it loads into OLD's nginx
// when their module ABI matches) through the package's modules-enabled, reloads nginx, and waits
// until the master maps the module.
func (b *Box) LoadStreamModule(ctx context.Context) error {
	mods, _ := filepath.Glob(filepath.Join(b.Builds.NewDebs, "libnginx-mod-stream_*.deb"))
	if len(mods) != 1 {
		return fmt.Errorf("want one libnginx-mod-stream .deb of %s in %s (run: bash testdata/container/nginx-debs.sh %s), got %v", b.Builds.NewVersion, b.Builds.NewDebs, b.Builds.Release, mods)
	}
	deb := "/debs/" + b.Builds.NewVersion + "/" + filepath.Base(mods[0])
	if out, err := b.Shell(ctx, "DEBIAN_FRONTEND=noninteractive dpkg -i "+deb+" 2>&1 && systemctl reload nginx"); err != nil {
		return fmt.Errorf("install and load libnginx-mod-stream: %w\n%s", err, out)
	}
	err := wait.Until(ctx, 100*time.Millisecond, func() (bool, error) {
		u, err := b.ReadUnit(ctx, "nginx")
		if err != nil {
			return false, err
		}
		maps, _ := b.Shell(ctx, fmt.Sprintf("grep -qF ngx_stream_module.so /proc/%d/maps && echo mapped || true", u.MainPID))
		return u.Running() && strings.TrimSpace(maps) == "mapped", nil
	})
	if err != nil {
		return errors.Join(fmt.Errorf("nginx's master does not map ngx_stream_module.so after the reload"), err)
	}
	return b.AwaitServing(ctx)
}
