package testbed

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/nginx-upgrade/nginx-upgrade/internal/load"
	"github.com/nginx-upgrade/nginx-upgrade/internal/nspawn"
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
type Box struct {
	*nspawn.Container
	Builds Builds
	Site   Site
	t      testing.TB
}

// BoxOptions configure a box.
type BoxOptions struct {
	// Ctl, when not empty, is an nginx-upgradectl binary installed with the units the way
	// `make install` does.
	Ctl string
	// Binds are more host paths bound into the box, e.g. a directory that a host tool writes
	// into while a unit in the box watches it. The nginx debs are always at /debs.
	Binds []nspawn.Bind
	// OwnNetwork gives the box a network namespace of its own: its site is on port 80 of its
	// loopback, and boxes with networks of their own run side by side, like a fleet's hosts.
	OwnNetwork bool
}

// BoxT boots a box on the host's network; ctl is as in BoxOptions. The box is torn down when the
// test ends.
func BoxT(t testing.TB, ctl string) *Box {
	t.Helper()
	return BoxWithT(t, BoxOptions{Ctl: ctl})
}

// BoxBindT is BoxT with more host paths bound into the box.
func BoxBindT(t testing.TB, ctl string, binds ...nspawn.Bind) *Box {
	t.Helper()
	return BoxWithT(t, BoxOptions{Ctl: ctl, Binds: binds})
}

// BoxWithT boots a box as opts say; it is torn down when the test ends.
func BoxWithT(t testing.TB, opts BoxOptions) *Box {
	t.Helper()
	b := BuildsT(t)
	debs := filepath.Dir(b.OldDebs)
	binds := append([]nspawn.Bind{{Host: debs, Container: "/debs", ReadOnly: true}}, opts.Binds...)
	c := nspawn.BootT(t, nspawn.Options{Binds: binds, PrivateNetwork: opts.OwnNetwork})
	port, netns := BoxPort, ""
	if opts.OwnNetwork {
		port, netns = 80, c.NetNS()
	}
	box := &Box{Container: c, Builds: b, Site: Site{Base: fmt.Sprintf("http://127.0.0.1:%d", port), NetNS: netns}, t: t}
	box.Sh(fmt.Sprintf("dpkg -i /debs/%s/nginx-common_*.deb /debs/%s/nginx_*.deb >/dev/null", b.OldVersion, b.OldVersion))

	slow := filepath.Join(t.TempDir(), "big.bin")
	sum, err := load.WriteFile(slow, SlowSize)
	if err != nil {
		t.Fatal(err)
	}
	box.Site.SlowSHA = sum
	box.Sh("mkdir -p /var/www/html/slow")
	box.Copy(slow, "/var/www/html/slow/big.bin")
	box.Write("/etc/nginx/conf.d/nginx-upgrade-test.conf", boxSite(port))
	box.Sh("systemctl restart nginx")
	if opts.Ctl != "" {
		box.InstallHelper(opts.Ctl)
	}
	box.WaitServing()
	return box
}

// InstallHelper installs nginx-upgradectl and the units as `make install` does.
func (b *Box) InstallHelper(ctl string) {
	root, err := RepoRoot()
	if err != nil {
		b.t.Fatal(err)
	}
	b.Copy(ctl, "/usr/sbin/nginx-upgradectl")
	for src, dst := range map[string]string{
		"systemd/nginx-upgrade.service":              "/usr/lib/systemd/system/nginx-upgrade.service",
		"systemd/nginx.service.d/nginx-upgrade.conf": "/usr/lib/systemd/system/nginx.service.d/nginx-upgrade.conf",
		"systemd/nginx-reload.conf":                  "/usr/share/nginx-upgrade/nginx-reload.conf",
		"systemd/nginx-upgrade.default":              "/etc/default/nginx-upgrade",
		"systemd/nginx-upgradectl.catalog":           "/usr/lib/systemd/catalog/nginx-upgradectl.catalog",
	} {
		b.Sh("mkdir -p " + filepath.Dir(dst))
		b.Copy(filepath.Join(root, src), dst)
	}
	b.Sh("chmod 0755 /usr/sbin/nginx-upgradectl && systemctl daemon-reload && journalctl --update-catalog && systemctl start nginx-upgrade")
}

// Sh runs a shell script in the box and fails the test if it fails.
func (b *Box) Sh(script string) string {
	b.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	out, err := b.Shell(ctx, script)
	if err != nil {
		b.t.Fatalf("in the box: %s: %v\n%s", script, err, out)
	}
	return out
}

// Copy copies a host file into the box (write and rename, as dpkg does), keeping its mode.
func (b *Box) Copy(host, path string) {
	b.t.Helper()
	if err := b.CopyIn(host, path); err != nil {
		b.t.Fatal(err)
	}
}

// Write writes text to path in the box.
func (b *Box) Write(path, text string) {
	b.t.Helper()
	tmp := filepath.Join(b.t.TempDir(), filepath.Base(path))
	if err := os.WriteFile(tmp, []byte(text), 0o644); err != nil {
		b.t.Fatal(err)
	}
	b.Copy(tmp, path)
}

// WaitServing waits until nginx.service is active and the test site answers, asked from inside
// the box (which sees the site whatever network the box has).
func (b *Box) WaitServing() {
	b.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	err := wait.Until(ctx, 50*time.Millisecond, func() (bool, error) {
		if !b.Unit("nginx").Running() {
			return false, nil
		}
		_, _, err := b.Exec(ctx, "curl", "-fsS", "-o", "/dev/null", "--max-time", "2", b.Site.Base+"/health")
		return err == nil, nil
	})
	if err != nil {
		b.t.Fatalf("nginx in the box does not serve: %v; unit: %+v", err, b.Unit("nginx"))
	}
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
	out := b.Sh("systemctl show -p MainPID -p ActiveState -p SubState -p ActiveEnterTimestampMonotonic " + name)
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
	return u
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
