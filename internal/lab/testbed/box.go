package testbed

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/nginx-upgrade/nginx-upgrade/internal/lab/load"
	"github.com/nginx-upgrade/nginx-upgrade/internal/lab/nspawn"
	"github.com/nginx-upgrade/nginx-upgrade/internal/wait"
)

// BoxPort is where the test site of a box on the host's network listens (on the host's
// loopback), clear of the host's own port 80. A box with a network of its own serves it on port
// 80 of its loopback, as a host of a fleet would.
const BoxPort = 8080

// boxSite adds, beside Debian's default site, a server with the slow file and a health URL. It
// goes in conf.d, which no package owns, so package upgrades stay non-interactive. Debian's
// default site listens on *:80; nginx picks the server of the more specific 127.0.0.1:80.
func boxSite(port int) string {
	return fmt.Sprintf(`server {
    listen 127.0.0.1:%d;
    root /var/www/html;
    index index.html index.nginx-debian.html;
    location = /health { return 200 "ok\n"; }
    location /slow/ { limit_rate %s; }
}
`, port, SlowRate)
}

// Box is a real systemd (PID 1, journald, D-Bus) in a container, running the older Debian nginx
// build installed with dpkg under its stock nginx.service.
//
// The methods that return no error (Sh, Copy, Write, Unit, ...) fail the test of a box made by
// BoxWithT; a box made by NewBox has no test and uses the error-returning ones.
type Box struct {
	*nspawn.Container
	Builds Builds
	Site   Site
	tmp    string // host files for the box (the slow file, what Write copies in); gone at Close
	t      testing.TB
}

// BoxOptions configure a box.
type BoxOptions struct {
	// Deb, when not empty, is our nginx-upgrade .deb on the host (labtest.PackageT builds it
	// from the binary under test), installed with dpkg -i as `make install` installs it: every
	// file of nfpm.yaml's list, the maintainer scripts run. There is no other way to put the
	// helper into a box, so that the boxes test what ships.
	Deb string
	// Binds are more host paths bound into the box, e.g. a directory that a host tool writes
	// into while a unit in the box watches it. The nginx debs are always at /debs.
	Binds []nspawn.Bind
	// OwnNetwork gives the box a network namespace of its own: its site is on port 80 of its
	// loopback, and boxes with networks of their own run side by side, like a fleet's hosts.
	OwnNetwork bool
	// Release is the Debian release the box runs, with that release's nginx builds; default
	// nspawn.Bookworm.
	Release nspawn.Release
}

// boxSetupTimeout bounds setting up a booted box: dpkg, the slow file, a restart, the site.
const boxSetupTimeout = 3 * time.Minute

// NewBox boots a box as opts say and sets it up, within ctx (which also bounds the wait for the
// host's container lock). Close tears it down.
func NewBox(ctx context.Context, opts BoxOptions) (*Box, error) {
	b, err := LoadBuilds(opts.Release.OrDefault())
	if err != nil {
		return nil, err
	}
	c, err := nspawn.Boot(ctx, bootOptions(b, opts))
	if err != nil {
		return nil, err
	}
	box, err := setUpBox(ctx, c, b, opts)
	if err != nil {
		return nil, errors.Join(err, c.Close())
	}
	return box, nil
}

// Close halts the box and removes its host files.
func (b *Box) Close() error {
	err := b.Container.Close()
	if rerr := os.RemoveAll(b.tmp); rerr != nil {
		err = errors.Join(err, fmt.Errorf("remove box files: %w", rerr))
	}
	return err
}

// BoxT boots a box on the host's network; deb is as in BoxOptions. The box is torn down when the
// test ends.
func BoxT(t testing.TB, deb string) *Box {
	t.Helper()
	return BoxWithT(t, BoxOptions{Deb: deb})
}

// BoxBindT is BoxT with more host paths bound into the box.
func BoxBindT(t testing.TB, deb string, binds ...nspawn.Bind) *Box {
	t.Helper()
	return BoxWithT(t, BoxOptions{Deb: deb, Binds: binds})
}

// BoxWithT boots a box as opts say; it is torn down when the test ends (nspawn.BootT prints the
// box's journal then if the test failed).
func BoxWithT(t testing.TB, opts BoxOptions) *Box {
	t.Helper()
	b := ReleaseBuildsT(t, opts.Release.OrDefault())
	c := nspawn.BootT(t, bootOptions(b, opts))
	ctx, cancel := context.WithTimeout(context.Background(), boxSetupTimeout)
	defer cancel()
	box, err := setUpBox(ctx, c, b, opts)
	if err != nil {
		t.Fatal(err)
	}
	box.t = t
	t.Cleanup(func() { os.RemoveAll(box.tmp) })
	return box
}

func bootOptions(b Builds, opts BoxOptions) nspawn.Options {
	binds := append([]nspawn.Bind{{Host: filepath.Dir(b.OldDebs), Container: "/debs", ReadOnly: true}}, opts.Binds...)
	return nspawn.Options{Release: b.Release, Binds: binds, PrivateNetwork: opts.OwnNetwork}
}

// setUpBox installs the older nginx with dpkg in a booted container, adds the test site and,
// with opts.Deb, our package, and waits until the site serves.
func setUpBox(ctx context.Context, c *nspawn.Container, b Builds, opts BoxOptions) (*Box, error) {
	port, netns := BoxPort, ""
	if opts.OwnNetwork {
		port, netns = 80, c.NetNS()
	}
	tmp, err := os.MkdirTemp("", "box-")
	if err != nil {
		return nil, fmt.Errorf("box files: %w", err)
	}
	box := &Box{Container: c, Builds: b, Site: Site{Base: fmt.Sprintf("http://127.0.0.1:%d", port), NetNS: netns}, tmp: tmp}
	if err := box.setUp(ctx, port, opts.Deb); err != nil {
		os.RemoveAll(tmp)
		return nil, fmt.Errorf("set up box %s: %w", c.Name(), err)
	}
	return box, nil
}

func (b *Box) setUp(ctx context.Context, port int, deb string) error {
	old := b.Builds.OldVersion
	if _, err := b.Shell(ctx, fmt.Sprintf("dpkg -i /debs/%s/nginx-common_*.deb /debs/%[1]s/nginx_*.deb >/dev/null", old)); err != nil {
		return fmt.Errorf("install nginx %s: %w", old, err)
	}
	slow := filepath.Join(b.tmp, "big.bin")
	sum, err := load.WriteFile(slow, SlowSize)
	if err != nil {
		return err
	}
	b.Site.SlowSHA = sum
	if _, err := b.Shell(ctx, "mkdir -p /var/www/html/slow"); err != nil {
		return err
	}
	if err := b.CopyIn(slow, "/var/www/html/slow/big.bin"); err != nil {
		return err
	}
	if err := b.WriteFile("/etc/nginx/conf.d/nginx-upgrade-test.conf", boxSite(port)); err != nil {
		return err
	}
	if _, err := b.Shell(ctx, "systemctl restart nginx"); err != nil {
		return err
	}
	if deb != "" {
		if _, err := b.installDeb(ctx, deb); err != nil {
			return err
		}
	}
	return b.AwaitServing(ctx)
}

// InstallDeb installs a .deb of the host with dpkg -i (our package: labtest.PackageT) and
// returns dpkg's output.
func (b *Box) InstallDeb(deb string) string {
	b.t.Helper()
	var out string
	b.must(b.withTimeout(func(ctx context.Context) (err error) {
		out, err = b.installDeb(ctx, deb)
		return err
	}))
	return out
}

func (b *Box) installDeb(ctx context.Context, deb string) (string, error) {
	in := "/root/" + filepath.Base(deb)
	if err := b.CopyIn(deb, in); err != nil {
		return "", err
	}
	return b.Shell(ctx, "DEBIAN_FRONTEND=noninteractive dpkg -i "+in+" 2>&1")
}

// shTimeout bounds each command of the methods that fail the test.
const shTimeout = 2 * time.Minute

// withTimeout runs f with a context bounded by shTimeout.
func (b *Box) withTimeout(f func(ctx context.Context) error) error {
	ctx, cancel := context.WithTimeout(context.Background(), shTimeout)
	defer cancel()
	return f(ctx)
}

// must fails the test of the box on err.
func (b *Box) must(err error) {
	b.t.Helper()
	if err != nil {
		b.t.Fatal(err)
	}
}

// Sh runs a shell script in the box and fails the test if it fails.
func (b *Box) Sh(script string) string {
	b.t.Helper()
	var out string
	b.must(b.withTimeout(func(ctx context.Context) (err error) {
		out, err = b.Shell(ctx, script)
		return err
	}))
	return out
}

// Copy copies a host file into the box (write and rename, as dpkg does), keeping its mode.
func (b *Box) Copy(host, path string) {
	b.t.Helper()
	b.must(b.CopyIn(host, path))
}

// Write writes text to path in the box.
func (b *Box) Write(path, text string) {
	b.t.Helper()
	b.must(b.WriteFile(path, text))
}

// WriteFile writes text to path in the box, through a host file as Copy does.
func (b *Box) WriteFile(path, text string) error {
	tmp, err := os.CreateTemp(b.tmp, filepath.Base(path))
	if err != nil {
		return fmt.Errorf("write %s in the box: %w", path, err)
	}
	defer os.Remove(tmp.Name())
	_, err = tmp.WriteString(text)
	if cerr := tmp.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Chmod(tmp.Name(), 0o644)
	}
	if err != nil {
		return fmt.Errorf("write %s in the box: %w", path, err)
	}
	return b.CopyIn(tmp.Name(), path)
}

// WaitServing waits until nginx.service is active and the test site answers, asked from inside
// the box (which sees the site whatever network the box has).
func (b *Box) WaitServing() {
	b.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	b.must(b.AwaitServing(ctx))
}

// AwaitServing is WaitServing within ctx, returning an error.
func (b *Box) AwaitServing(ctx context.Context) error {
	var last Unit
	err := wait.Until(ctx, 50*time.Millisecond, func() (bool, error) {
		u, err := b.ReadUnit(ctx, "nginx")
		if err != nil || !u.Running() {
			last = u
			return false, nil
		}
		_, _, err = b.Exec(ctx, "curl", "-fsS", "-o", "/dev/null", "--max-time", "2", b.Site.Base+"/health")
		return err == nil, nil
	})
	if err != nil {
		return fmt.Errorf("nginx in the box does not serve: %w; unit: %+v", err, last)
	}
	return nil
}

// Unit is what `systemctl show` says about a unit.
type Unit struct {
	MainPID     int
	ActiveState string
	SubState    string
	ActiveEnter string // ActiveEnterTimestampMonotonic: changes when the unit is (re)started
}

// Running reports active/running.
func (u Unit) Running() bool { return u.ActiveState == "active" && u.SubState == "running" }

// Unit reads a unit's state with systemctl.
func (b *Box) Unit(name string) Unit {
	b.t.Helper()
	var u Unit
	b.must(b.withTimeout(func(ctx context.Context) (err error) {
		u, err = b.ReadUnit(ctx, name)
		return err
	}))
	return u
}

// ReadUnit reads a unit's state with systemctl.
func (b *Box) ReadUnit(ctx context.Context, name string) (Unit, error) {
	out, err := b.Shell(ctx, "systemctl show -p MainPID -p ActiveState -p SubState -p ActiveEnterTimestampMonotonic "+name)
	if err != nil {
		return Unit{}, err
	}
	var u Unit
	for line := range strings.Lines(out) {
		k, v, _ := strings.Cut(strings.TrimSpace(line), "=")
		switch k {
		case "MainPID":
			u.MainPID, _ = strconv.Atoi(v)
		case "ActiveState":
			u.ActiveState = v
		case "SubState":
			u.SubState = v
		case "ActiveEnterTimestampMonotonic":
			u.ActiveEnter = v
		}
	}
	return u, nil
}

// Masters returns the container pids of every nginx master in the box.
func (b *Box) Masters() []int {
	b.t.Helper()
	var pids []int
	for _, f := range strings.Fields(b.Sh("pgrep -f '^nginx: master process' || true")) {
		if n, err := strconv.Atoi(f); err == nil {
			pids = append(pids, n)
		}
	}
	return pids
}

// PidFile reads /run/nginx.pid in the box (0 when missing).
func (b *Box) PidFile() int {
	n, _ := strconv.Atoi(strings.TrimSpace(b.Sh("cat /run/nginx.pid 2>/dev/null || true")))
	return n
}

// RunningSHA returns the sha256 of the binary a master in the box runs.
func (b *Box) RunningSHA(pid int) string {
	return strings.Fields(b.Sh(fmt.Sprintf("sha256sum /proc/%d/exe", pid)) + " -")[0]
}
