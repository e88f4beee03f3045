//go:build e2e

package packaging

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/nginx-upgrade/nginx-upgrade/internal/lab/labtest"
	"github.com/nginx-upgrade/nginx-upgrade/internal/lab/nspawn"
	"github.com/nginx-upgrade/nginx-upgrade/internal/lab/testbed"
)

func TestMain(m *testing.M) { labtest.Main(m) }

// The nginx-upgrade package (nfpm.yaml, packaging/) under a real systemd: Debian's older nginx
// installed with dpkg and serving under its stock unit, our .deb installed with dpkg, load from
// the host, and nginx upgraded the way apt does it: nginx-common and nginx together, OLD → NEW.

// policyFile is where the dpkg hook puts our policy-rc.d rules for the length of a dpkg run.
const policyFile = "/etc/service-policy.d/40-nginx-upgrade.pol"

// testSettings make the package's swap quick and health-checked (appended to the shipped
// /etc/default/nginx-upgrade, as an operator edits it).
func testSettings(box *testbed.Box) string {
	return fmt.Sprintf("SOAK=2s\nHEALTH_FLAGS=\"--health %s/health\"\n", box.Site.Base)
}

// packagedBox boots a box of release r with the older nginx serving and our .deb installed with dpkg, with
// settings added to /etc/default/nginx-upgrade. Installing the package must not touch nginx.
func packagedBox(t *testing.T, r nspawn.Release, settings func(*testbed.Box) string, binds ...nspawn.Bind) *testbed.Box {
	t.Helper()
	box := testbed.BoxWithT(t, testbed.BoxOptions{Release: r, Binds: binds})
	before := box.Unit("nginx")
	labtest.InstallOurDeb(t, box)
	if after := box.Unit("nginx"); after != before {
		t.Fatalf("installing nginx-upgrade changed nginx.service: %+v → %+v", before, after)
	}
	if got := box.Sh("systemctl show -p NotifyAccess --value nginx"); strings.TrimSpace(got) != "main" {
		t.Fatalf("nginx.service NotifyAccess=%s after install, want main (the drop-in, daemon-reloaded)", strings.TrimSpace(got))
	}
	box.Sh("cat >>/etc/default/nginx-upgrade <<'EOF'\n" + settings(box) + "EOF")
	return box
}

// dpkgInstall runs `dpkg -i debs` in the box, non-interactive, and returns its output and exit
// status; it must finish in time: the swap inside takes the soak and the old downloads' drain.
func dpkgInstall(t *testing.T, box *testbed.Box, debs string) (string, int) {
	t.Helper()
	return labtest.BoxRun(t, box, "DEBIAN_FRONTEND=noninteractive dpkg -i "+debs)
}

// aptInstall installs local .debs with apt-get, which runs dpkg as apt does for an upgrade
// (unpack, configure, then pending triggers, each its own dpkg run), offline: no sources.
func aptInstall(t *testing.T, box *testbed.Box, debs string) (string, int) {
	t.Helper()
	return labtest.BoxRun(t, box, "mkdir -p /tmp/nolists/partial /tmp/nosources && : >/tmp/nosources.list && "+
		"DEBIAN_FRONTEND=noninteractive apt-get install -y -q --allow-downgrades "+
		"-o Dir::Etc::SourceList=/tmp/nosources.list -o Dir::Etc::SourceParts=/tmp/nosources "+
		"-o Dir::State::Lists=/tmp/nolists "+debs)
}

// aptUpgrade runs a plain `apt-get upgrade` in the box against the local repository alone.
func aptUpgrade(t *testing.T, box *testbed.Box, repo string) (string, int) {
	t.Helper()
	opts := "-o Dir::Etc::SourceList=/tmp/repo.list -o Dir::Etc::SourceParts=/tmp/nosources -o Dir::State::Lists=/tmp/lists"
	box.Sh(fmt.Sprintf("mkdir -p /tmp/lists/partial /tmp/nosources && echo 'deb [trusted=yes] file:%s ./' >/tmp/repo.list && apt-get -q %s update 2>&1", repo, opts))
	return labtest.BoxRun(t, box, "DEBIAN_FRONTEND=noninteractive apt-get upgrade -y -q "+opts)
}

// auditRecord is one record of the helper's audit trail in the box's journal.
type auditRecord map[string]string

// lastOutcome returns the last outcome record of nginx-upgradectl's audit trail in the journal.
func lastOutcome(t *testing.T, box *testbed.Box) auditRecord {
	t.Helper()
	recs := outcomes(t, box)
	if len(recs) == 0 {
		t.Fatalf("no outcome record of nginx-upgradectl in the journal")
	}
	return recs[len(recs)-1]
}

func TestPackageUpgradeOfNginxSwapsItLive(t *testing.T) {
	labtest.EachRelease(t, testPackageUpgradeOfNginxSwapsItLive)
}

func testPackageUpgradeOfNginxSwapsItLive(t *testing.T, rel nspawn.Release) {
	for _, via := range []struct {
		name    string
		upgrade func(t *testing.T, box *testbed.Box, repo string) (string, int)
	}{
		{"dpkg -i", func(t *testing.T, box *testbed.Box, _ string) (string, int) {
			return dpkgInstall(t, box, labtest.NewDebs(box))
		}},
		{"apt-get install", func(t *testing.T, box *testbed.Box, _ string) (string, int) {
			return aptInstall(t, box, labtest.NewDebs(box))
		}},
		{"apt-get upgrade", aptUpgrade},
	} {
		t.Run(via.name, func(t *testing.T) {
			repo := labtest.LocalRepo(t, testbed.ReleaseBuildsT(t, rel))
			box := packagedBox(t, rel, testSettings, nspawn.Bind{Host: repo, Container: repo, ReadOnly: true})
			before := box.Unit("nginx")
			tr := testbed.TrafficT(t, box.Site, testbed.TrafficConfig{})

			out, rc := via.upgrade(t, box, repo)

			r := labtest.NoLoss(t, tr)
			if rc != 0 {
				t.Fatalf("%s exited %d", via.name, rc)
			}
			master := labtest.OneMasterOn(t, box, box.Builds.New, before)
			if master == before.MainPID {
				t.Fatalf("MainPID still %d: no swap happened", master)
			}
			labtest.MustContain(t, via.name+"'s output", out,
				"policy-rc.d returned 101, not running 'restart nginx.service'", // nginx-common's postinst
				"policy-rc.d denied execution of upgrade",                       // nginx's postinst
				"Processing triggers for nginx-upgrade",
				"nginx-upgrade: done: nginx serves from the new build")
			rec := lastOutcome(t, box)
			if rec["RESULT"] != "success" || rec["INVOKED_BY"] != "dpkg:nginx-upgrade:postinst" {
				t.Errorf("audit outcome RESULT=%s INVOKED_BY=%s, want success by dpkg:nginx-upgrade:postinst", rec["RESULT"], rec["INVOKED_BY"])
			}
			if box.Sh("test -e "+policyFile+" && echo left || true") != "" {
				t.Errorf("%s still in place after the dpkg run: nginx restarts stay refused", policyFile)
			}
			// nginx-upgrade.path saw dpkg rename the binary into place and left the swap to the trigger.
			labtest.PathUnitSays(t, box, fmt.Sprintf("nginx (master %d) already runs /usr/sbin/nginx: nothing to swap", master))
			t.Logf("FIGURES %s: %d stream requests (%d failed), %d wrk requests (%d failed), downloads %s; nginx.service not restarted (ActiveEnterTimestampMonotonic %s); MainPID %d → %d; outcome %s by %s, upgrade %s",
				via.name, r.Stream.Sent, r.Stream.Failed, r.Wrk.Requests, r.Wrk.Failed(), downloadsSummary(r), before.ActiveEnter, before.MainPID, master, rec["RESULT"], rec["INVOKED_BY"], rec["UPGRADE_ID"])
		})
	}
}

func TestPackageUpgradeWithAutoSwapOffIsDebiansStockRestart(t *testing.T) {
	labtest.EachRelease(t, testPackageUpgradeWithAutoSwapOffIsDebiansStockRestart)
}

func testPackageUpgradeWithAutoSwapOffIsDebiansStockRestart(t *testing.T, rel nspawn.Release) {
	box := packagedBox(t, rel, func(box *testbed.Box) string { return testSettings(box) + "AUTO_SWAP=no\n" })
	before := box.Unit("nginx")
	tr := testbed.TrafficT(t, box.Site, testbed.TrafficConfig{})

	out, rc := dpkgInstall(t, box, labtest.NewDebs(box))

	// Stock behaviour: failures are expected, and counted as what the swap saves.
	r := tr.Stop()
	t.Logf("traffic (stock restart):\n%s", r)
	if rc != 0 {
		t.Fatalf("dpkg -i exited %d", rc)
	}
	if strings.Contains(out, "returned 101") || strings.Contains(out, "denied execution") {
		t.Errorf("policy-rc.d refused something with AUTO_SWAP=no")
	}
	labtest.MustContain(t, "dpkg's output", out, "automatic swap is off")
	stockRestartT(t, box, before, r, "stock (AUTO_SWAP=no)")
	labtest.PathUnitSays(t, box, "automatic swap is off")
}

// stockRestartT checks what Debian's stock behaviour did to nginx.service: it restarted (its
// ActiveEnterTimestamp moved) and serves again. Failed requests are expected there and logged as
// the figures of what the swap saves.
func stockRestartT(t *testing.T, box *testbed.Box, before testbed.Unit, r testbed.TrafficResult, what string) {
	t.Helper()
	after := box.Unit("nginx")
	if after.ActiveEnter == before.ActiveEnter {
		t.Fatalf("%s: nginx.service was not restarted (ActiveEnterTimestampMonotonic %s): not the stock behaviour", what, after.ActiveEnter)
	}
	box.WaitServing()
	if u := box.Unit("nginx"); !u.Running() {
		t.Fatalf("%s: nginx.service is %s/%s after the restart", what, u.ActiveState, u.SubState)
	}
	t.Logf("FIGURES %s: %d stream requests, %d failed %v; %d wrk requests, %d failed; downloads %s; nginx.service restarted (ActiveEnterTimestampMonotonic %s → %s); MainPID %d → %d",
		what, r.Stream.Sent, r.Stream.Failed, r.Stream.Errors, r.Wrk.Requests, r.Wrk.Failed(), downloadsSummary(r), before.ActiveEnter, after.ActiveEnter, before.MainPID, after.MainPID)
}

func downloadsSummary(r testbed.TrafficResult) string {
	ok := 0
	for _, d := range r.Downloads {
		if d.OK {
			ok++
		}
	}
	return fmt.Sprintf("%d of %d whole", ok, len(r.Downloads))
}

func TestBrokenNginxPackageBuildKeepsTheOldBuildServing(t *testing.T) {
	labtest.EachRelease(t, testBrokenNginxPackageBuildKeepsTheOldBuildServing)
}

func testBrokenNginxPackageBuildKeepsTheOldBuildServing(t *testing.T, rel nspawn.Release) {
	box := packagedBox(t, rel, testSettings)
	broken := brokenNginxDeb(t, box)
	before := box.Unit("nginx")
	tr := testbed.TrafficT(t, box.Site, testbed.TrafficConfig{})

	out, rc := dpkgInstall(t, box, fmt.Sprintf("/debs/%s/nginx-common_*.deb %s", box.Builds.NewVersion, broken))

	r := labtest.NoLoss(t, tr)
	if rc != 0 {
		t.Fatalf("dpkg -i exited %d: a failed swap must not fail the package install", rc)
	}
	if got := box.Sh("dpkg-query -W -f '${Version} ${db:Status-Abbrev}' nginx"); strings.TrimSpace(got) != box.Builds.NewVersion+" ii" {
		t.Errorf("nginx package state %q, want %s installed", got, box.Builds.NewVersion)
	}
	if master := labtest.OneMasterOn(t, box, box.Builds.Old, before); master != before.MainPID {
		t.Fatalf("MainPID %d, want the old master %d", master, before.MainPID)
	}
	labtest.MustContain(t, "dpkg's output", out,
		"nginx-upgrade: FAILED: the new nginx build was not taken (rolled back); the old build keeps serving.",
		"journalctl -t nginx-upgradectl")
	rec := lastOutcome(t, box)
	if rec["RESULT"] != "rolled_back" || rec["INVOKED_BY"] != "dpkg:nginx-upgrade:postinst" {
		t.Errorf("audit outcome RESULT=%s INVOKED_BY=%s, want rolled_back by dpkg:nginx-upgrade:postinst", rec["RESULT"], rec["INVOKED_BY"])
	}
	// One try per build: the .path unit does not try the broken build again after the trigger.
	labtest.PathUnitSays(t, box, "a swap to this /usr/sbin/nginx was tried or left to its caller already")
	t.Logf("FIGURES broken build: %d stream requests (%d failed), %d wrk requests (%d failed), downloads %s; MainPID %d kept, not restarted; outcome %s: %s",
		r.Stream.Sent, r.Stream.Failed, r.Wrk.Requests, r.Wrk.Failed(), downloadsSummary(r), before.MainPID, rec["RESULT"], rec["MESSAGE"])
}

// brokenNginxDeb repacks the NEW nginx .deb with a build whose workers die at start, copies it
// into the box, and puts the fault library at the absolute path the build links it from.
func brokenNginxDeb(t *testing.T, box *testbed.Box) string {
	t.Helper()
	bd := labtest.NewBrokenDeb(t, box.Builds, "")
	bd.AddFaultLib(box)
	box.Copy(bd.Deb, "/root/"+filepath.Base(bd.Deb))
	return "/root/" + filepath.Base(bd.Deb)
}

func TestRemovingThePackageLeavesNginxRunningUnderItsStockUnit(t *testing.T) {
	for _, how := range []struct{ name, cmd, left string }{
		// remove keeps conffiles, by dpkg's rules; the dpkg and apt hooks are inert without the
		// package, and needrestart's restart.d file is needrestart's own restart then.
		{"remove", "dpkg --remove nginx-upgrade", "/etc/apt/apt.conf.d/50nginx-upgrade\n/etc/default/nginx-upgrade\n/etc/dpkg/dpkg.cfg.d/nginx-upgrade\n/etc/needrestart/restart.d/nginx.service\n"},
		{"purge", "dpkg --purge nginx-upgrade", ""},
	} {
		t.Run(how.name, func(t *testing.T) {
			box := packagedBox(t, nspawn.Bookworm, testSettings)
			// First a live swap, so that systemd's MainPID is a master our helper handed over.
			if _, rc := dpkgInstall(t, box, labtest.NewDebs(box)); rc != 0 {
				t.Fatalf("dpkg -i exited %d", rc)
			}
			before := box.Unit("nginx")
			tr := testbed.TrafficT(t, box.Site, testbed.TrafficConfig{WrkDuration: 5 * time.Second})

			_, rc := labtest.BoxRun(t, box, how.cmd)

			r := labtest.NoLoss(t, tr)
			if rc != 0 {
				t.Fatalf("%s exited %d", how.cmd, rc)
			}
			labtest.OneMasterOn(t, box, box.Builds.New, before)
			if u := box.Unit("nginx"); u.MainPID != before.MainPID {
				t.Fatalf("MainPID %d → %d across the %s", before.MainPID, u.MainPID, how.name)
			}
			for prop, want := range map[string]string{"FragmentPath": "/lib/systemd/system/nginx.service", "DropInPaths": "", "NotifyAccess": "none"} {
				if got := strings.TrimSpace(box.Sh("systemctl show --value -p " + prop + " nginx")); got != want {
					t.Errorf("nginx.service %s=%s after the %s, want %q: Debian's unit as shipped", prop, got, how.name, want)
				}
			}
			if v := box.Sh("dpkg --verify nginx nginx-common 2>&1 || true"); v != "" {
				t.Errorf("nginx's packaged files changed: %s", v)
			}
			if left := box.Sh("ls -d /etc/apt/apt.conf.d/50nginx-upgrade /etc/default/nginx-upgrade /etc/dpkg/dpkg.cfg.d/nginx-upgrade /etc/needrestart/restart.d/nginx.service " + policyFile +
				" /usr/lib/systemd/system/nginx.service.d /usr/share/nginx-upgrade /run/nginx-upgrade /usr/sbin/nginx-upgradectl 2>/dev/null || true"); left != how.left {
				t.Errorf("the %s left:\n%swant:\n%s", how.name, left, how.left)
			}
			if failed := box.Sh("systemctl --failed --plain --no-legend"); failed != "" {
				t.Errorf("failed units after the %s: %s", how.name, failed)
			}

			// Stock behaviour is back: the next package upgrade restarts nginx.
			out, rc := dpkgInstall(t, box, fmt.Sprintf("/debs/%s/nginx-common_*.deb /debs/%[1]s/nginx_*.deb", box.Builds.OldVersion))
			if rc != 0 {
				t.Fatalf("dpkg -i exited %d", rc)
			}
			if strings.Contains(out, "returned 101") || strings.Contains(out, "nginx-upgrade") {
				t.Errorf("a trace of nginx-upgrade in a package run after the %s", how.name)
			}
			after := box.Unit("nginx")
			if after.ActiveEnter == before.ActiveEnter {
				t.Errorf("nginx.service was not restarted by the package scripts after the %s: not stock", how.name)
			}
			t.Logf("FIGURES %s: %d stream requests (%d failed), %d wrk requests (%d failed); MainPID %d kept, ActiveEnterTimestampMonotonic %s kept; next package run restarted nginx (→ %s, MainPID %d)",
				how.name, r.Stream.Sent, r.Stream.Failed, r.Wrk.Requests, r.Wrk.Failed(), before.MainPID, before.ActiveEnter, after.ActiveEnter, after.MainPID)
		})
	}
}

func TestPackageInstallsHarmlesslyWithoutARunningNginx(t *testing.T) {
	box := testbed.BoxT(t, "")

	t.Run("nginx stopped", func(t *testing.T) {
		box.Sh("systemctl stop nginx")
		labtest.InstallOurDeb(t, box)
		if u := box.Unit("nginx"); u.ActiveState != "inactive" {
			t.Errorf("nginx.service is %s after installing nginx-upgrade, want it left inactive", u.ActiveState)
		}
		if failed := box.Sh("systemctl --failed --plain --no-legend"); failed != "" {
			t.Errorf("failed units: %s", failed)
		}
	})
	t.Run("nginx not installed", func(t *testing.T) {
		labtest.BoxRun(t, box, "dpkg --purge nginx-upgrade nginx nginx-common")
		labtest.InstallOurDeb(t, box)
		if failed := box.Sh("systemctl --failed --plain --no-legend"); failed != "" {
			t.Errorf("failed units: %s", failed)
		}
		// A first install of nginx afterwards is Debian's: nginx starts, nothing to swap.
		out, rc := dpkgInstall(t, box, labtest.NewDebs(box))
		if rc != 0 {
			t.Fatalf("first install of nginx exited %d", rc)
		}
		// The purge took the test site with /etc/nginx: Debian's default site answers.
		box.Sh("for i in $(seq 50); do curl -fsS -o /dev/null http://127.0.0.1/ && exit 0; sleep 0.1; done; exit 1")
		if !box.Unit("nginx").Running() {
			t.Errorf("nginx.service not running after its first install: %+v", box.Unit("nginx"))
		}
		labtest.MustContain(t, "dpkg's output", out, "already runs /usr/sbin/nginx: nothing to swap")
		if failed := box.Sh("systemctl --failed --plain --no-legend"); failed != "" {
			t.Errorf("failed units: %s", failed)
		}
	})
}

// A box made with our .deb (BoxOptions.Deb) has all of it: every file of nfpm.yaml as dpkg
// knows it, the man page that `man` shows, the bash completion, the copyright.
func TestPackageShipsItsDocumentationAndCompletion(t *testing.T) {
	box := testbed.BoxT(t, labtest.PackageT(t, "deb"))

	if v := box.Sh("dpkg --verify nginx-upgrade 2>&1 || true"); v != "" {
		t.Errorf("dpkg --verify nginx-upgrade: %s", v)
	}
	man := box.Sh("MANPAGER=cat MANWIDTH=100 man nginx-upgradectl 2>&1")
	labtest.MustContain(t, "man nginx-upgradectl", man,
		"nginx-upgradectl - swap the binary of a running nginx live", "SYNOPSIS", "EXIT STATUS", "--soak DURATION", "/etc/default/nginx-upgrade")
	if got := box.Sh("man -w nginx-upgradectl"); strings.TrimSpace(got) != "/usr/share/man/man8/nginx-upgradectl.8.gz" {
		t.Errorf("man -w nginx-upgradectl: %q", got)
	}
	comp := box.Sh(`bash -c '. /usr/share/bash-completion/completions/nginx-upgradectl
COMP_WORDS=(nginx-upgradectl up); COMP_CWORD=1; _nginx_upgradectl; echo "${COMPREPLY[*]}"
COMP_WORDS=(nginx-upgradectl upgrade --so); COMP_CWORD=2; _nginx_upgradectl; echo "${COMPREPLY[*]}"'`)
	if comp != "upgrade\n--soak\n" {
		t.Errorf("bash completion in the box: %q, want upgrade and --soak", comp)
	}
	labtest.MustContain(t, "/usr/share/doc/nginx-upgrade/copyright", box.Sh("cat /usr/share/doc/nginx-upgrade/copyright"),
		"Format: https://www.debian.org/doc/packaging-manuals/copyright-format/1.0/", "License: BSD-2-Clause", "2026 The nginx-upgrade authors")
	t.Logf("man nginx-upgradectl in the box, first lines:\n%s", strings.Join(strings.SplitN(man, "\n", 8)[:7], "\n"))
}

// `make install DESTDIR=...` unpacks the .deb it builds: the same files, modes and all.
func TestMakeInstallInstallsThePackage(t *testing.T) {
	labtest.PackageT(t, "deb") // builds nfpm
	root, err := testbed.RepoRoot()
	if err != nil {
		t.Fatal(err)
	}
	dest, dist := t.TempDir(), t.TempDir()
	ctl := labtest.CtlT(t)
	if out, err := exec.Command("make", "-s", "-C", root, "install", "DESTDIR="+dest, "DIST="+dist, "PKG_BIN="+ctl).CombinedOutput(); err != nil {
		t.Fatalf("make install DESTDIR=%s: %v\n%s", dest, err, out)
	}
	debs, _ := filepath.Glob(filepath.Join(dist, "nginx-upgrade_*.deb"))
	if len(debs) != 1 {
		t.Fatalf("make install left %v in %s, want one .deb", debs, dist)
	}
	list, err := exec.Command("dpkg-deb", "-c", debs[0]).Output()
	if err != nil {
		t.Fatal(err)
	}
	var want []string
	for line := range strings.Lines(string(list)) {
		f := strings.Fields(line)
		want = append(want, f[0]+" "+strings.TrimSuffix(f[len(f)-1], "/"))
	}
	installed, err := exec.Command("find", dest, "-mindepth", "1", "-printf", "%M ./%P\n").Output()
	if err != nil {
		t.Fatal(err)
	}
	got := strings.Fields(string(installed))
	var gotPairs []string
	for i := 0; i+1 < len(got); i += 2 {
		gotPairs = append(gotPairs, got[i]+" "+got[i+1])
	}
	slices.Sort(want)
	slices.Sort(gotPairs)
	if !slices.Equal(gotPairs, want) {
		t.Errorf("make install DESTDIR installed\n%s\nthe .deb has\n%s", strings.Join(gotPairs, "\n"), strings.Join(want, "\n"))
	}
	t.Logf("make install DESTDIR: %d files and directories, the same as dpkg-deb -c", len(want))
}

// nfpmT returns the nfpm binary `make package` installed (the Makefile pins it).
func nfpmT(t *testing.T) string {
	t.Helper()
	labtest.PackageT(t, "deb") // installs nfpm
	root, err := testbed.RepoRoot()
	if err != nil {
		t.Fatal(err)
	}
	out, err := exec.Command("make", "-s", "--no-print-directory", "-C", root, "--eval=print-nfpm: ; @echo $(abspath $(NFPM))", "print-nfpm").CombinedOutput()
	if err != nil {
		t.Fatalf("make print-nfpm: %v\n%s", err, out)
	}
	return strings.TrimSpace(string(out))
}

// rpmT runs the host's rpm tool (apt-get install rpm) and returns its output.
func rpmT(t *testing.T, args ...string) string {
	t.Helper()
	out, err := exec.Command("rpm", args...).CombinedOutput()
	t.Logf("$ rpm %s\n%s", strings.Join(args, " "), out)
	if err != nil {
		t.Fatalf("rpm %v: %v (the rpm tool: apt-get install rpm)", args, err)
	}
	return string(out)
}

// nginxRPM makes an .rpm that installs build as /usr/sbin/nginx, the way Fedora's nginx does.
func nginxRPM(t *testing.T, build string) string {
	t.Helper()
	dir := t.TempDir()
	conf := filepath.Join(dir, "nfpm.yaml")
	yaml := fmt.Sprintf(`name: nginx-probe
arch: amd64
platform: linux
version: 1.0.0
maintainer: nginx-upgrade tests <tests@nginx-upgrade.invalid>
description: an nginx binary at /usr/sbin/nginx, installed by rpm
contents:
  - src: %s
    dst: /usr/sbin/nginx
    file_info: {mode: 0755}
`, build)
	if err := os.WriteFile(conf, []byte(yaml), 0o644); err != nil {
		t.Fatal(err)
	}
	if out, err := exec.Command(nfpmT(t), "package", "-f", conf, "-p", "rpm", "-t", dir+"/").CombinedOutput(); err != nil {
		t.Fatalf("nfpm: %v\n%s", err, out)
	}
	m, _ := filepath.Glob(filepath.Join(dir, "nginx-probe-*.rpm"))
	if len(m) != 1 {
		t.Fatalf("no probe rpm in %s", dir)
	}
	return m[0]
}

// rpm cannot write file triggers through nfpm, and Fedora's nginx runs its own unchecked
// nginx-upgrade from one: the .rpm relies on nginx-upgrade.path instead. This proves that rpm
// replacing /usr/sbin/nginx (a new file renamed into place) fires it, and that the swap follows,
// live and checked, under load. The host's rpm installs into the box's root; its database lives
// in a host directory bound at the same path in the box, so that SQLite, which resolves the
// /proc/PID/root link, finds it on either side.
func TestRPMReplacingTheBinaryFiresThePathUnitAndTheSwap(t *testing.T) {
	db := t.TempDir()
	box := testbed.BoxBindT(t, "", nspawn.Bind{Host: db, Container: db})
	labtest.InstallOurDeb(t, box)
	box.Sh("cat >>/etc/default/nginx-upgrade <<'EOF'\n" + testSettings(box) + "EOF")
	probe := nginxRPM(t, box.Builds.New)
	before := box.Unit("nginx")
	inode := box.Sh("stat -c %i /usr/sbin/nginx")
	rpmT(t, "--root", box.Root(), "--dbpath", db, "--initdb")
	tr := testbed.TrafficT(t, box.Site, testbed.TrafficConfig{})

	rpmT(t, "--root", box.Root(), "--dbpath", db, "-i", "--nodeps", "--noscripts", probe)
	log := labtest.PathUnitSays(t, box, "nginx-upgrade: done: nginx serves from the new build")

	r := labtest.NoLoss(t, tr)
	t.Logf("nginx-upgrade-auto.service:\n%s", log)
	if after := box.Sh("stat -c %i /usr/sbin/nginx"); after == inode {
		t.Errorf("/usr/sbin/nginx kept inode %s: rpm wrote in place, not a new file renamed into place", inode)
	}
	master := labtest.OneMasterOn(t, box, box.Builds.New, before)
	if master == before.MainPID {
		t.Fatalf("MainPID still %d: no swap happened", master)
	}
	rec := lastOutcome(t, box)
	if rec["RESULT"] != "success" || rec["INVOKED_BY"] != "nginx-upgrade-auto.service" {
		t.Errorf("audit outcome RESULT=%s INVOKED_BY=%s, want success by nginx-upgrade-auto.service", rec["RESULT"], rec["INVOKED_BY"])
	}
	t.Logf("FIGURES rpm -i over /usr/sbin/nginx: %d stream requests (%d failed), %d wrk requests (%d failed), downloads %s; not restarted; MainPID %d → %d; outcome %s by %s",
		r.Stream.Sent, r.Stream.Failed, r.Wrk.Requests, r.Wrk.Failed(), downloadsSummary(r), before.MainPID, master, rec["RESULT"], rec["INVOKED_BY"])
}

// The .rpm as far as this Debian machine allows: its scriptlets and files as rpm reads them, and
// an install and erase with rpm into a scratch root: an overlay on the container's golden Debian
// tree, which has the /bin/sh and systemctl the scriptlets run (chrooted, without a running
// systemd, like an image build).
func TestRPMInstallsAndErasesInAScratchRoot(t *testing.T) {
	pkg := labtest.PackageT(t, "rpm")
	scripts := rpmT(t, "-qp", "--scripts", pkg)
	labtest.MustContain(t, "the rpm's scriptlets", scripts,
		"postinstall scriptlet", "systemctl enable nginx-upgrade.path nginx-upgrade-failed.path nginx-upgrade.service",
		"preuninstall scriptlet", "systemctl disable --now nginx-upgrade.path",
		"postuninstall scriptlet", "daemon-reload")
	files := rpmT(t, "-qp", "--qf", "[%{FILEFLAGS:fflags} %{FILENAMES}\n]", pkg)
	for _, want := range []string{
		" /usr/sbin/nginx-upgradectl", " /usr/lib/systemd/system/nginx-upgrade.service",
		" /usr/lib/systemd/system/nginx.service.d/nginx-upgrade.conf", " /usr/lib/systemd/system/nginx-upgrade.path",
		" /usr/lib/systemd/system/nginx-upgrade-auto.service", " /usr/share/nginx-upgrade/nginx-reload.conf",
		" /usr/share/nginx-upgrade/hook", " /usr/lib/systemd/catalog/nginx-upgradectl.catalog",
		"cn /etc/default/nginx-upgrade", // %config(noreplace): kept on upgrade
	} {
		if !strings.Contains(files, want+"\n") {
			t.Errorf("the rpm lacks %q", want)
		}
	}
	if strings.Contains(files, "dpkg") || strings.Contains(files, ".pol") {
		t.Errorf("the rpm carries Debian-only files")
	}

	root := scratchRoot(t)
	rpmT(t, "--root", root, "--initdb")
	rpmT(t, "--root", root, "-i", "--nodeps", pkg)
	for _, f := range []string{"/usr/sbin/nginx-upgradectl", "/etc/default/nginx-upgrade", "/usr/lib/systemd/system/nginx.service.d/nginx-upgrade.conf",
		"/etc/systemd/system/paths.target.wants/nginx-upgrade.path", "/etc/systemd/system/multi-user.target.wants/nginx-upgrade.service"} {
		if _, err := os.Lstat(filepath.Join(root, f)); err != nil {
			t.Errorf("after rpm -i: %v", err)
		}
	}
	if out, err := exec.Command(filepath.Join(root, "usr/sbin/nginx-upgradectl"), "status", "--pid-file", filepath.Join(root, "run/nginx.pid")).CombinedOutput(); !strings.Contains(string(out), "stopped") {
		t.Errorf("the installed helper does not run: %v\n%s", err, out)
	}
	rpmT(t, "--root", root, "-e", "nginx-upgrade")
	for _, f := range []string{"/usr/sbin/nginx-upgradectl", "/usr/lib/systemd/system/nginx.service.d", "/usr/share/nginx-upgrade",
		"/etc/systemd/system/paths.target.wants/nginx-upgrade.path", "/etc/systemd/system/multi-user.target.wants/nginx-upgrade.service"} {
		if _, err := os.Lstat(filepath.Join(root, f)); err == nil {
			t.Errorf("after rpm -e: %s is still there", f)
		}
	}
}

// scratchRoot mounts a writable overlay on the golden tree, undone when the test ends.
func scratchRoot(t *testing.T) string {
	t.Helper()
	dir := t.TempDir()
	upper, work, merged := filepath.Join(dir, "upper"), filepath.Join(dir, "work"), filepath.Join(dir, "root")
	for _, d := range []string{upper, work, merged} {
		if err := os.Mkdir(d, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	opts := fmt.Sprintf("lowerdir=%s,upperdir=%s,workdir=%s", nspawn.Bookworm.GoldenDir(), upper, work)
	if out, err := exec.Command("mount", "-t", "overlay", "overlay", "-o", opts, merged).CombinedOutput(); err != nil {
		t.Fatalf("mount an overlay on the golden tree (bash testdata/container/golden.sh builds it): %v\n%s", err, out)
	}
	t.Cleanup(func() {
		if out, err := exec.Command("umount", merged).CombinedOutput(); err != nil {
			t.Errorf("umount %s: %v\n%s", merged, err, out)
		}
	})
	return merged
}
