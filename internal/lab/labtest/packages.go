package labtest

import (
	"context"
	"fmt"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/nginx-upgrade/nginx-upgrade/internal/lab/testbed"
	"github.com/nginx-upgrade/nginx-upgrade/internal/nginx"
	"github.com/nginx-upgrade/nginx-upgrade/internal/wait"
)

// packages builds the .deb and the .rpm once per test binary with `make package`, from the very
// helper binary the tests built (CtlT).
var packages = sync.OnceValues(func() (map[string]string, error) {
	ctl, err := ctl()
	if err != nil {
		return nil, err
	}
	root, err := testbed.RepoRoot()
	if err != nil {
		return nil, err
	}
	dist := filepath.Join(filepath.Dir(ctl), "dist") // removed by Main
	out, err := exec.Command("make", "-s", "-C", root, "package", "PKG_BIN="+ctl, "DIST="+dist).CombinedOutput()
	if err != nil {
		return nil, fmt.Errorf("make package: %v\n%s", err, out)
	}
	pkgs := map[string]string{}
	for _, ext := range []string{"deb", "rpm"} {
		m, _ := filepath.Glob(filepath.Join(dist, "nginx-upgrade*."+ext))
		if len(m) != 1 {
			return nil, fmt.Errorf("make package made %d .%s files in %s, want 1\n%s", len(m), ext, dist, out)
		}
		pkgs[ext] = m[0]
	}
	return pkgs, nil
})

// PackageT returns our package of kind ext ("deb" or "rpm"), built on first use.
func PackageT(t testing.TB, ext string) string {
	t.Helper()
	pkgs, err := packages()
	if err != nil {
		t.Fatal(err)
	}
	return pkgs[ext]
}

// InstallOurDeb installs our .deb (PackageT) in a booted box with dpkg -i, as a box made with
// BoxOptions.Deb has it, and logs dpkg's output.
func InstallOurDeb(t testing.TB, box *testbed.Box) {
	t.Helper()
	deb := PackageT(t, "deb")
	t.Logf("dpkg -i %s:\n%s", filepath.Base(deb), box.InstallDeb(deb))
}

// NewDebs are the NEW nginx-common and nginx packages in the box, in the order apt gives them.
func NewDebs(box *testbed.Box) string {
	return fmt.Sprintf("/debs/%s/nginx-common_*.deb /debs/%[1]s/nginx_*.deb", box.Builds.NewVersion)
}

// LocalRepo makes an apt repository on the host with the NEW nginx packages of b and any extra
// .debs, to be bound into a box: `apt-get upgrade` then finds them as the upgrade candidates.
func LocalRepo(t testing.TB, b testbed.Builds, extra ...string) string {
	t.Helper()
	dir := t.TempDir()
	script := `set -eu
new=$1 dir=$2; shift 2
cp "$new"/nginx_*.deb "$new"/nginx-common_*.deb "$@" "$dir"/
cd "$dir" && dpkg-scanpackages --multiversion . /dev/null >Packages 2>/dev/null`
	args := append([]string{"-c", script, "sh", b.NewDebs, dir}, extra...)
	if out, err := exec.Command("sh", args...).CombinedOutput(); err != nil {
		t.Fatalf("make a local apt repository (dpkg-scanpackages: apt-get install dpkg-dev): %v\n%s", err, out)
	}
	return dir
}

// BoxRun runs script in box and returns its output and exit status, logged with its time.
func BoxRun(t testing.TB, box *testbed.Box, script string) (string, int) {
	t.Helper()
	start := time.Now()
	out := box.Sh(script + " 2>&1; echo rc=$?")
	var rc int
	fmt.Sscanf(out[strings.LastIndex(out, "rc="):], "rc=%d", &rc)
	t.Logf("$ %s → exit %d in %s\n%s", script, rc, time.Since(start).Round(time.Millisecond), out)
	return out, rc
}

// PathUnitSays waits until nginx-upgrade-auto.service (started by nginx-upgrade.path, which
// waits for the package manager to finish) has logged want, and returns its log.
func PathUnitSays(t testing.TB, box *testbed.Box, want string) string {
	t.Helper()
	var log string
	ctx, cancel := context.WithTimeout(t.Context(), 30*time.Second)
	defer cancel()
	err := wait.Until(ctx, 200*time.Millisecond, func() (bool, error) {
		log = box.Sh("journalctl -u nginx-upgrade-auto.service -o cat --no-pager")
		return strings.Contains(log, want), nil
	})
	if err != nil {
		t.Fatalf("nginx-upgrade-auto.service never said %q: %v\n%s", want, err, log)
	}
	return log
}

// MustContain reports every want that text (what) lacks.
func MustContain(t testing.TB, what, text string, wants ...string) {
	t.Helper()
	for _, w := range wants {
		if !strings.Contains(text, w) {
			t.Errorf("%s does not say %q", what, w)
		}
	}
}

// BrokenDeb is the NEW nginx .deb repacked with a build whose workers die at start.
type BrokenDeb struct {
	Deb string // on the host
	Lib string // the fault library, linked in by absolute path: boxes need it there too
}

// NewBrokenDeb builds a BrokenDeb; version, when not empty, replaces the package's own (a
// rebuild that a repository offers beside the good one).
func NewBrokenDeb(t testing.TB, b testbed.Builds, version string) BrokenDeb {
	t.Helper()
	dir := t.TempDir()
	bin, err := testbed.WorkersDie(dir, b.New)
	if err != nil {
		t.Fatal(err)
	}
	debs, _ := filepath.Glob(filepath.Join(b.NewDebs, "nginx_*.deb"))
	if len(debs) != 1 {
		t.Fatalf("want one nginx_*.deb in %s, got %v", b.NewDebs, debs)
	}
	tree := filepath.Join(dir, "tree")
	deb := filepath.Join(dir, filepath.Base(debs[0]))
	if version != "" {
		deb = filepath.Join(dir, "nginx_"+version+"_amd64.deb")
	}
	script := `set -eu
dpkg-deb -R "$1" "$2"
cp "$3" "$2/usr/sbin/nginx"
sum=$(cd "$2" && md5sum usr/sbin/nginx)
sed -i "s|^[0-9a-f]*  usr/sbin/nginx\$|$sum|" "$2/DEBIAN/md5sums"
[ -z "$5" ] || sed -i "s|^Version: .*|Version: $5|" "$2/DEBIAN/control"
dpkg-deb -b "$2" "$4" >/dev/null`
	if out, err := exec.Command("sh", "-c", script, "sh", debs[0], tree, bin, deb, version).CombinedOutput(); err != nil {
		t.Fatalf("repack %s: %v\n%s", debs[0], err, out)
	}
	return BrokenDeb{Deb: deb, Lib: filepath.Join(dir, "libworkers_die.so")}
}

// AddFaultLib puts the fault library into box at the path the broken build loads it from.
func (bd BrokenDeb) AddFaultLib(box *testbed.Box) {
	box.Sh("mkdir -p " + filepath.Dir(bd.Lib))
	box.Copy(bd.Lib, bd.Lib)
}

// OneMasterOn asserts systemd's view is true: MainPID = /run/nginx.pid = the only master, running
// build, and nginx.service never restarted (same ActiveEnterTimestampMonotonic).
func OneMasterOn(t testing.TB, box *testbed.Box, build string, before testbed.Unit) int {
	t.Helper()
	// A swap ends while its old master may still drain downloads (old-draining): wait for it.
	ctx, cancel := context.WithTimeout(t.Context(), 2*time.Minute)
	defer cancel()
	wait.Until(ctx, 100*time.Millisecond, func() (bool, error) { return len(box.Masters()) == 1, nil })
	u := box.Unit("nginx")
	masters := box.Masters()
	if !u.Running() || u.MainPID != box.PidFile() || !slices.Equal(masters, []int{u.MainPID}) {
		t.Fatalf("unit %+v, pid file %d, masters %v: want one master that is MainPID and in the pid file", u, box.PidFile(), masters)
	}
	if u.ActiveEnter != before.ActiveEnter {
		t.Fatalf("nginx.service was restarted (ActiveEnterTimestampMonotonic %s → %s)", before.ActiveEnter, u.ActiveEnter)
	}
	want, err := nginx.InspectBinary(t.Context(), build)
	if err != nil {
		t.Fatal(err)
	}
	if got := box.RunningSHA(u.MainPID); got != want.SHA256 {
		t.Fatalf("master %d runs sha256 %.12s, want %s (%.12s)", u.MainPID, got, build, want.SHA256)
	}
	return u.MainPID
}

// UnitBecomes waits until unit's ActiveState in box is want.
func UnitBecomes(t testing.TB, box *testbed.Box, unit, want string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), 30*time.Second)
	defer cancel()
	var state string
	err := wait.Until(ctx, 200*time.Millisecond, func() (bool, error) {
		state = strings.TrimSpace(box.Sh("systemctl show -p ActiveState --value " + unit))
		return state == want, nil
	})
	if err != nil {
		t.Fatalf("%s is %s, want %s: %v\n%s", unit, state, want, err, box.Sh("systemctl status --no-pager "+unit+" nginx-upgrade-failed.path nginx-upgrade-failed.service || true"))
	}
}
