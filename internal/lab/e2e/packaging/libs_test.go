//go:build e2e

package packaging

import (
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/nginx-upgrade/nginx-upgrade/internal/lab/labtest"
	"github.com/nginx-upgrade/nginx-upgrade/internal/lab/nspawn"
	"github.com/nginx-upgrade/nginx-upgrade/internal/lab/testbed"
)

// Library and module updates under our package, on each release: real OpenSSL builds (libssl3, libssl3t64) from Debian's archive
// (testdata/container/lib-debs.sh picks the two newest distinct versions apt knows), the older
// installed in the box before nginx starts, the newer installed by apt from a local repository
// under load. The package's apt hook re-executes nginx live once apt is done; needrestart, when
// installed, finds nothing left to restart, and its restart of nginx is our live swap.

// libPair is a library package of a release in two versions, cached on the host under
// /debs/libs in boxes.
type libPair struct {
	Release           nspawn.Release
	Pkg, Older, Newer string
}

// libDebsT runs lib-debs.sh for rel when its cache lacks path.
func libDebsT(t *testing.T, rel nspawn.Release, path string) {
	t.Helper()
	if _, err := os.Stat(path); err == nil {
		return
	}
	root, err := testbed.RepoRoot()
	if err != nil {
		t.Fatal(err)
	}
	if out, err := exec.Command("bash", filepath.Join(root, "testdata/container/lib-debs.sh"), string(rel)).CombinedOutput(); err != nil {
		t.Fatalf("testdata/container/lib-debs.sh %s: %v\n%s", rel, err, out)
	}
}

// rolePairT is libPairT of rel's library package in role (nspawn.LibSSL, nspawn.LibUnmapped).
func rolePairT(t *testing.T, rel nspawn.Release, role string) libPair {
	t.Helper()
	libDebsT(t, rel, filepath.Join(rel.LibsDir(), role))
	pkg, err := rel.LibPackage(role)
	if err != nil {
		t.Fatal(err)
	}
	return libPairT(t, rel, pkg)
}

// libPairT reads the versions lib-debs.sh cached for pkg of rel, running it when they are missing.
func libPairT(t *testing.T, rel nspawn.Release, pkg string) libPair {
	t.Helper()
	versions := filepath.Join(rel.LibsDir(), pkg, "versions")
	libDebsT(t, rel, versions)
	b, err := os.ReadFile(versions)
	if err != nil {
		t.Fatal(err)
	}
	v := strings.Fields(string(b))
	if len(v) != 2 || v[0] == v[1] {
		t.Fatalf("%s: want two versions, OLDER then NEWER: %q", versions, b)
	}
	return libPair{Release: rel, Pkg: pkg, Older: v[0], Newer: v[1]}
}

// hostDebs are the host paths of the package's .debs of version v.
func (l libPair) hostDebs(t *testing.T, v string) []string {
	t.Helper()
	m, _ := filepath.Glob(filepath.Join(l.Release.LibsDir(), l.Pkg, v, l.Pkg+"_*.deb"))
	if len(m) != 1 {
		t.Fatalf("want one %s .deb of %s in the cache, got %v (run testdata/container/lib-debs.sh %s)", l.Pkg, v, m, l.Release)
	}
	return m
}

// boxDeb is the .deb of version v as the box sees it.
func (l libPair) boxDeb(v string) string {
	return fmt.Sprintf("/debs/libs/%s/%s/%s_*.deb", l.Pkg, v, l.Pkg)
}

// needrestartDebs are needrestart and the dependencies rel's golden tree lacks, on the host.
func needrestartDebs(t *testing.T, rel nspawn.Release) []string {
	t.Helper()
	dir := filepath.Join(rel.LibsDir(), "needrestart")
	libDebsT(t, rel, dir)
	m, _ := filepath.Glob(filepath.Join(dir, "*.deb"))
	if len(m) == 0 {
		t.Fatalf("no needrestart .debs cached (run testdata/container/lib-debs.sh %s)", rel)
	}
	return m
}

// libBox boots a box with the older version of lib installed before nginx (re)starts, so that
// nginx maps it, and then, unless withoutPackage, our .deb with the test settings. The box has a
// network of its own (the load reaches it there): such boxes run beside each other.
func libBox(t *testing.T, lib libPair, withoutPackage bool, binds ...nspawn.Bind) *testbed.Box {
	t.Helper()
	box := testbed.BoxWithT(t, testbed.BoxOptions{Release: lib.Release, Binds: binds, OwnNetwork: true})
	if _, rc := labtest.BoxRun(t, box, "DEBIAN_FRONTEND=noninteractive dpkg -i "+lib.boxDeb(lib.Older)+" && systemctl restart nginx"); rc != 0 {
		t.Fatalf("install %s %s: exit %d", lib.Pkg, lib.Older, rc)
	}
	box.WaitServing()
	if !withoutPackage {
		labtest.InstallOurDeb(t, box)
		box.Sh("cat >>/etc/default/nginx-upgrade <<'EOF'\n" + testSettings(box) + "EOF")
	}
	return box
}

// aptFromRepo runs `apt-get install -y args` in the box against the local repository alone,
// with env before it (e.g. NEEDRESTART_MODE=a).
func aptFromRepo(t *testing.T, box *testbed.Box, repo, env, args string) (string, int) {
	t.Helper()
	opts := "-o Dir::Etc::SourceList=/tmp/repo.list -o Dir::Etc::SourceParts=/tmp/nosources -o Dir::State::Lists=/tmp/lists"
	box.Sh(fmt.Sprintf("mkdir -p /tmp/lists/partial /tmp/nosources && echo 'deb [trusted=yes] file:%s ./' >/tmp/repo.list && apt-get -q %s update 2>&1", repo, opts))
	return labtest.BoxRun(t, box, env+" DEBIAN_FRONTEND=noninteractive apt-get install -y -q "+opts+" "+args)
}

// outcomes are the outcome records of nginx-upgradectl's audit trail in the box's journal.
func outcomes(t *testing.T, box *testbed.Box) []auditRecord {
	t.Helper()
	var recs []auditRecord
	for line := range strings.Lines(box.Sh("journalctl -t nginx-upgradectl -o json --no-pager")) {
		var raw map[string]any
		if json.Unmarshal([]byte(line), &raw) != nil {
			continue
		}
		rec := auditRecord{}
		for k, v := range raw {
			if s, ok := v.(string); ok {
				rec[k] = s
			}
		}
		if rec["STEP"] == "outcome" {
			recs = append(recs, rec)
		}
	}
	return recs
}

// deletedMaps are the " (deleted)" lines of code (not shared memory) the master and its
// children map.
func deletedMaps(box *testbed.Box, master int) string {
	return box.Sh(fmt.Sprintf(`for p in %d $(cat /proc/%[1]d/task/%[1]d/children); do grep ' (deleted)$' /proc/$p/maps | grep -v -e ' /dev/zero ' -e ' /memfd:' -e ' /SYSV' | sed "s|^|$p: |"; done; true`, master))
}

// mapsLib checks that the master maps a file whose path contains name, and returns the line.
func mapsLib(t *testing.T, box *testbed.Box, master int, name string) string {
	t.Helper()
	line := box.Sh(fmt.Sprintf("grep -m1 -F %q /proc/%d/maps || true", name, master))
	if line == "" {
		t.Fatalf("master %d does not map %s: the test proves nothing", master, name)
	}
	return strings.TrimSpace(line)
}

// reexecuted asserts the end of a live re-exec for REASON=reason: one master, MainPID, a new
// process on the same build, nginx.service not restarted, nothing deleted mapped, and exactly
// one successful run in the journal, by invokedBy.
func reexecuted(t *testing.T, box *testbed.Box, before testbed.Unit, reason, invokedBy string) (int, auditRecord) {
	t.Helper()
	master := labtest.OneMasterOn(t, box, box.Builds.Old, before)
	if master == before.MainPID {
		t.Fatalf("MainPID still %d: nginx was not re-executed", master)
	}
	if d := deletedMaps(box, master); d != "" {
		t.Errorf("the new master or its workers map deleted files:\n%s", d)
	}
	recs := outcomes(t, box)
	if len(recs) != 1 {
		t.Fatalf("%d outcome records in the journal, want one run", len(recs))
	}
	rec := recs[0]
	if rec["RESULT"] != "success" || rec["REASON"] != reason || rec["INVOKED_BY"] != invokedBy {
		t.Errorf("audit outcome RESULT=%s REASON=%s INVOKED_BY=%s, want success, %s, %s", rec["RESULT"], rec["REASON"], rec["INVOKED_BY"], reason, invokedBy)
	}
	return master, rec
}

func TestLibraryUpdateReexecsNginxLive(t *testing.T) {
	labtest.EachRelease(t, testLibraryUpdateReexecsNginxLive)
}

func testLibraryUpdateReexecsNginxLive(t *testing.T, rel nspawn.Release) {
	for _, c := range []struct {
		name        string
		needrestart bool
		dpkg        bool // plain dpkg -i: dpkg's post-invoke re-execs
	}{
		{"apt-get install", false, false},
		{"apt-get install with needrestart, NEEDRESTART_MODE=a", true, false},
		{"dpkg -i", false, true},
	} {
		t.Run(c.name, func(t *testing.T) {
			ssl := rolePairT(t, rel, nspawn.LibSSL)
			extra := ssl.hostDebs(t, ssl.Newer)
			if c.needrestart {
				extra = append(extra, needrestartDebs(t, rel)...)
			}
			repo := labtest.LocalRepo(t, testbed.ReleaseBuildsT(t, rel), extra...)
			box := libBox(t, ssl, false, nspawn.Bind{Host: repo, Container: repo, ReadOnly: true})
			env := ""
			if c.needrestart {
				if _, rc := aptFromRepo(t, box, repo, "", "needrestart"); rc != 0 {
					t.Fatalf("apt-get install needrestart exited %d", rc)
				}
				env = "NEEDRESTART_MODE=a"
			}
			before := box.Unit("nginx")
			lib := mapsLib(t, box, before.MainPID, "libssl.so.3")
			tr := testbed.TrafficT(t, box.Site, testbed.TrafficConfig{})

			start := time.Now()
			var out string
			var rc int
			by := "apt:nginx-upgrade:post-invoke"
			if c.dpkg {
				out, rc = labtest.BoxRun(t, box, "DEBIAN_FRONTEND=noninteractive dpkg -i "+ssl.boxDeb(ssl.Newer))
				by = "dpkg:nginx-upgrade:post-invoke"
			} else {
				out, rc = aptFromRepo(t, box, repo, env, ssl.Pkg+"="+ssl.Newer)
			}
			took := time.Since(start)

			r := labtest.NoLoss(t, tr)
			if rc != 0 {
				t.Fatalf("%s %s=%s exited %d", c.name, ssl.Pkg, ssl.Newer, rc)
			}
			master, rec := reexecuted(t, box, before, "libraries", by)
			if !strings.Contains(rec["REPLACED_PATHS"], "libssl.so.3") {
				t.Errorf("REPLACED_PATHS %q does not name libssl.so.3", rec["REPLACED_PATHS"])
			}
			labtest.MustContain(t, c.name+"'s output", out, "nginx-upgrade: re-executing nginx", "libssl.so.3", "nginx-upgrade: done: nginx re-executed live")
			// The running binary is still dpkg's file: the kept build names its package.
			pkg := `"package": "nginx ` + strings.TrimSpace(box.Sh("dpkg-query -W -f '${Version}' nginx")) + `"`
			labtest.MustContain(t, "the kept build's record", box.Sh("cat /var/lib/nginx-upgrade/builds/*.json"), pkg)
			if n := strings.Count(out, "nginx-upgrade: re-executing"); n != 1 {
				t.Errorf("%d re-execs in %s's output, want one for the transaction", n, c.name)
			}
			nr := ""
			if c.needrestart {
				if !strings.Contains(out, "Restarting services...") {
					t.Errorf("needrestart did not run in apt's Post-Invoke: the test proves nothing")
				}
				if strings.Contains(out, "systemctl restart nginx.service") {
					t.Errorf("needrestart restarts nginx.service")
				}
				nr = box.Sh("needrestart -b 2>&1; true")
				if strings.Contains(nr, "NEEDRESTART-SVC: nginx.service") {
					t.Errorf("needrestart -b after the re-exec still lists nginx:\n%s", nr)
				}
			}
			t.Logf("FIGURES %s %s → %s by %s: %d stream requests (%d failed), %d wrk requests (%d failed), downloads %s; the package run %s; nginx.service not restarted (ActiveEnterTimestampMonotonic %s); MainPID %d → %d; before: %s; outcome %s REASON=%s by %s; needrestart -b: %q",
				ssl.Pkg, ssl.Older, ssl.Newer, c.name, r.Stream.Sent, r.Stream.Failed, r.Wrk.Requests, r.Wrk.Failed(), downloadsSummary(r), took.Round(time.Millisecond),
				before.ActiveEnter, before.MainPID, master, lib, rec["RESULT"], rec["REASON"], rec["INVOKED_BY"], nr)
		})
	}
}

// Stock Debian with needrestart in automatic mode and without our package: the library update
// restarts nginx.service. The counterpart of the test above: what the package saves. The same
// once our package is removed (its restart.d file, a conffile, stays until purge): needrestart's
// own behaviour is back.
func TestLibraryUpdateWithStockNeedrestartRestartsNginx(t *testing.T) {
	labtest.EachRelease(t, testLibraryUpdateWithStockNeedrestartRestartsNginx)
}

func testLibraryUpdateWithStockNeedrestartRestartsNginx(t *testing.T, rel nspawn.Release) {
	for _, c := range []struct {
		name    string
		removed bool
	}{
		{"never installed", false},
		{"nginx-upgrade removed", true},
	} {
		t.Run(c.name, func(t *testing.T) {
			ssl := rolePairT(t, rel, nspawn.LibSSL)
			repo := labtest.LocalRepo(t, testbed.ReleaseBuildsT(t, rel), append(ssl.hostDebs(t, ssl.Newer), needrestartDebs(t, rel)...)...)
			box := libBox(t, ssl, !c.removed, nspawn.Bind{Host: repo, Container: repo, ReadOnly: true})
			if _, rc := aptFromRepo(t, box, repo, "", "needrestart"); rc != 0 {
				t.Fatalf("apt-get install needrestart exited %d", rc)
			}
			if c.removed {
				if _, rc := labtest.BoxRun(t, box, "dpkg --remove nginx-upgrade"); rc != 0 {
					t.Fatalf("dpkg --remove nginx-upgrade exited %d", rc)
				}
			}
			before := box.Unit("nginx")
			tr := testbed.TrafficT(t, box.Site, testbed.TrafficConfig{})

			out, rc := aptFromRepo(t, box, repo, "NEEDRESTART_MODE=a", ssl.Pkg+"="+ssl.Newer)

			r := tr.Stop()
			t.Logf("traffic (stock needrestart):\n%s", r)
			if rc != 0 {
				t.Fatalf("apt-get exited %d", rc)
			}
			if strings.Contains(out, "nginx-upgrade:") {
				t.Errorf("a trace of nginx-upgrade in the package run")
			}
			if c.removed {
				labtest.MustContain(t, "apt-get's output", out, "/etc/needrestart/restart.d/nginx.service")
			} else {
				labtest.MustContain(t, "apt-get's output", out, "systemctl restart", "nginx.service")
			}
			stockRestartT(t, box, before, r, "stock + needrestart automatic ("+c.name+")")
		})
	}
}

// needrestart run by hand (or by its own hook) while nginx still maps a replaced library: its
// restart of nginx.service is our restart.d file, a live re-exec; afterwards `needrestart -b`
// lists nginx no more. The library is installed with NGINX_UPGRADE_DEFER=1 so that our dpkg
// hook leaves the re-exec to the caller, here needrestart.
func TestNeedrestartReexecsNginxInsteadOfRestarting(t *testing.T) {
	labtest.EachRelease(t, testNeedrestartReexecsNginxInsteadOfRestarting)
}

func testNeedrestartReexecsNginxInsteadOfRestarting(t *testing.T, rel nspawn.Release) {
	ssl := rolePairT(t, rel, nspawn.LibSSL)
	repo := labtest.LocalRepo(t, testbed.ReleaseBuildsT(t, rel), needrestartDebs(t, rel)...)
	box := libBox(t, ssl, false, nspawn.Bind{Host: repo, Container: repo, ReadOnly: true})
	if _, rc := aptFromRepo(t, box, repo, "", "needrestart"); rc != 0 {
		t.Fatalf("apt-get install needrestart exited %d", rc)
	}
	out, rc := labtest.BoxRun(t, box, "NGINX_UPGRADE_DEFER=1 DEBIAN_FRONTEND=noninteractive dpkg -i "+ssl.boxDeb(ssl.Newer))
	if rc != 0 {
		t.Fatalf("dpkg -i %s %s exited %d", ssl.Pkg, ssl.Newer, rc)
	}
	labtest.MustContain(t, "dpkg's output", out, "re-exec left to the caller (NGINX_UPGRADE_DEFER=1)")
	before := box.Unit("nginx")
	if nr := box.Sh("needrestart -b 2>&1; true"); !strings.Contains(nr, "NEEDRESTART-SVC: nginx.service") {
		t.Fatalf("needrestart -b does not list nginx before: the test proves nothing\n%s", nr)
	}
	list, _ := labtest.BoxRun(t, box, "needrestart -r l")
	if u := box.Unit("nginx"); u.MainPID != before.MainPID || len(outcomes(t, box)) != 0 {
		t.Fatalf("needrestart -r l (list only) changed nginx: MainPID %d → %d", before.MainPID, u.MainPID)
	}
	labtest.MustContain(t, "needrestart -r l", list, "/etc/needrestart/restart.d/nginx.service")
	tr := testbed.TrafficT(t, box.Site, testbed.TrafficConfig{})

	out, rc = labtest.BoxRun(t, box, "NEEDRESTART_MODE=a needrestart -r a")

	r := labtest.NoLoss(t, tr)
	if rc != 0 {
		t.Fatalf("needrestart exited %d", rc)
	}
	master, _ := reexecuted(t, box, before, "libraries", "needrestart:nginx-upgrade:restart.d")
	labtest.MustContain(t, "needrestart's output", out, "/etc/needrestart/restart.d/nginx.service")
	nr := box.Sh("needrestart -b 2>&1; true")
	if strings.Contains(nr, "NEEDRESTART-SVC: nginx.service") {
		t.Errorf("needrestart -b after the re-exec still lists nginx:\n%s", nr)
	}
	t.Logf("FIGURES needrestart -r a with nginx on a replaced %s: %d stream requests (%d failed), %d wrk requests (%d failed), downloads %s; nginx.service not restarted; MainPID %d → %d; needrestart -b after: %q",
		ssl.Pkg, r.Stream.Sent, r.Stream.Failed, r.Wrk.Requests, r.Wrk.Failed(), downloadsSummary(r), before.MainPID, master, nr)
}

// A library nginx does not map: no re-exec, nothing signalled, no run in the journal; the hook
// costs one read of the maps.
func TestUnmappedLibraryUpdateSignalsNothing(t *testing.T) {
	labtest.EachRelease(t, testUnmappedLibraryUpdateSignalsNothing)
}

func testUnmappedLibraryUpdateSignalsNothing(t *testing.T, rel nspawn.Release) {
	lib := rolePairT(t, rel, nspawn.LibUnmapped)
	repo := labtest.LocalRepo(t, testbed.ReleaseBuildsT(t, rel), lib.hostDebs(t, lib.Newer)...)
	box := libBox(t, lib, false, nspawn.Bind{Host: repo, Container: repo, ReadOnly: true})
	before := box.Unit("nginx")
	maps := fmt.Sprintf(`for f in $(dpkg -L %s | grep '[.]so'); do grep -F "/${f##*/}" /proc/%d/maps; done; true`, lib.Pkg, before.MainPID)
	if m := box.Sh(maps); m != "" {
		t.Fatalf("nginx maps %s: pick another library in lib-debs.sh\n%s", lib.Pkg, m)
	}

	out, rc := aptFromRepo(t, box, repo, "", lib.Pkg+"="+lib.Newer)

	if rc != 0 {
		t.Fatalf("apt-get exited %d", rc)
	}
	if strings.Contains(out, "nginx-upgrade:") {
		t.Errorf("the package said something about a library nginx does not map")
	}
	if u := box.Unit("nginx"); u.MainPID != before.MainPID || u.ActiveEnter != before.ActiveEnter {
		t.Errorf("nginx changed: %+v → %+v", before, u)
	}
	if recs := outcomes(t, box); len(recs) != 0 {
		t.Errorf("%d runs of nginx-upgradectl in the journal, want none: %v", len(recs), recs)
	}
	if got := box.Sh("dpkg-query -W -f '${Version}' " + lib.Pkg); got != lib.Newer {
		t.Errorf("%s %s installed, want %s", lib.Pkg, got, lib.Newer)
	}
	// The hook's cost after such a run, in the box, nginx running: 20 runs.
	cost := box.Sh(`bash -c 'TIMEFORMAT="%R s wall, %U s user, %S s system"; time (for i in $(seq 20); do /usr/share/nginx-upgrade/hook post-invoke apt; done)' 2>&1`)
	t.Logf("FIGURES %s %s → %s (not mapped by nginx): no run, MainPID %d kept; hook post-invoke apt with nothing replaced, 20 runs in the box: %s",
		lib.Pkg, lib.Older, lib.Newer, before.MainPID, strings.TrimSpace(cost))
}

// repackDeb rebuilds deb with its Version replaced (the same files: a rebuild a repository
// offers), into a directory of the test, and returns its path.
func repackDeb(t *testing.T, deb, version string) string {
	t.Helper()
	dir := t.TempDir()
	out := filepath.Join(dir, strings.SplitN(filepath.Base(deb), "_", 2)[0]+"_"+version+"_amd64.deb")
	script := `set -eu
dpkg-deb -R "$1" "$2/tree"
sed -i "s|^Version: .*|Version: $3|" "$2/tree/DEBIAN/control"
dpkg-deb -b "$2/tree" "$4" >/dev/null`
	if b, err := exec.Command("sh", "-c", script, "sh", deb, dir, version, out).CombinedOutput(); err != nil {
		t.Fatalf("repack %s: %v\n%s", deb, err, b)
	}
	return out
}

// A libnginx-mod-* package upgraded alone: the module nginx loaded is replaced on disk. Debian's
// module packages trigger an nginx reload (HUP; a reload would leave the master mapping the
// replaced module), refused during the dpkg run and folded into the re-exec; the package's apt
// hook re-executes nginx (REASON=modules), and nginx ends with the module on disk and nothing
// deleted mapped.
func TestModulePackageUpdateLeavesNoReplacedModuleMapped(t *testing.T) {
	labtest.EachRelease(t, testModulePackageUpdateLeavesNoReplacedModuleMapped)
}

func testModulePackageUpdateLeavesNoReplacedModuleMapped(t *testing.T, rel nspawn.Release) {
	b := testbed.ReleaseBuildsT(t, rel)
	mods, _ := filepath.Glob(filepath.Join(b.NewDebs, "libnginx-mod-stream_*.deb"))
	if len(mods) != 1 {
		t.Fatalf("want one libnginx-mod-stream .deb of %s in %s (run testdata/container/nginx-debs.sh), got %v", b.NewVersion, b.NewDebs, mods)
	}
	rebuilt := b.NewVersion + "+rebuild1"
	repo := labtest.LocalRepo(t, b, repackDeb(t, mods[0], rebuilt))
	box := testbed.BoxWithT(t, testbed.BoxOptions{Release: rel, Binds: []nspawn.Bind{{Host: repo, Container: repo, ReadOnly: true}}, OwnNetwork: true})
	// The module of NEW's source loads into OLD's nginx when their module ABI matches
	// (nginx-abi-*): installed before our package, loaded by the package's own reload.
	if _, rc := labtest.BoxRun(t, box, "DEBIAN_FRONTEND=noninteractive dpkg -i "+strings.Replace(mods[0], filepath.Dir(b.NewDebs), "/debs", 1)+" && systemctl reload nginx && sleep 1"); rc != 0 {
		t.Fatalf("install libnginx-mod-stream: exit %d", rc)
	}
	box.WaitServing()
	labtest.InstallOurDeb(t, box)
	box.Sh("cat >>/etc/default/nginx-upgrade <<'EOF'\n" + testSettings(box) + "EOF")
	before := box.Unit("nginx")
	mapsLib(t, box, before.MainPID, "ngx_stream_module.so")
	tr := testbed.TrafficT(t, box.Site, testbed.TrafficConfig{})

	out, rc := aptFromRepo(t, box, repo, "", "libnginx-mod-stream="+rebuilt)

	r := labtest.NoLoss(t, tr)
	if rc != 0 {
		t.Fatalf("apt-get exited %d", rc)
	}
	u := box.Unit("nginx")
	if u.ActiveEnter != before.ActiveEnter {
		t.Fatalf("nginx.service restarted")
	}
	if d := deletedMaps(box, u.MainPID); d != "" {
		t.Errorf("nginx maps deleted files after the module update:\n%s", d)
	}
	mapsLib(t, box, u.MainPID, "ngx_stream_module.so")
	if u.MainPID == before.MainPID {
		t.Errorf("MainPID still %d: nginx was not re-executed", u.MainPID)
	}
	// The module package's reload (nginx's trigger) is refused in the dpkg run and folded into
	// the apt hook's re-exec once apt is done: no HUP just before the swap.
	labtest.MustContain(t, "apt-get's output", out, "policy-rc.d denied execution of reload", "folded into the live swap: new master")
	recs := outcomes(t, box)
	if len(recs) != 1 {
		t.Fatalf("%d outcome records in the journal, want one run", len(recs))
	}
	rec := recs[0]
	if rec["RESULT"] != "success" || rec["REASON"] != "modules" || rec["INVOKED_BY"] != "apt:nginx-upgrade:post-invoke" {
		t.Errorf("audit outcome RESULT=%s REASON=%s INVOKED_BY=%s, want success, modules, apt:nginx-upgrade:post-invoke", rec["RESULT"], rec["REASON"], rec["INVOKED_BY"])
	}
	t.Logf("FIGURES libnginx-mod-stream %s → %s alone: %d stream requests (%d failed), %d wrk requests (%d failed), downloads %s; nginx.service not restarted; MainPID %d → %d; outcome %s REASON=%s (%s) by %s; nginx reload triggered in apt's run: %v",
		b.NewVersion, rebuilt, r.Stream.Sent, r.Stream.Failed, r.Wrk.Requests, r.Wrk.Failed(), downloadsSummary(r), before.MainPID, u.MainPID, rec["RESULT"], rec["REASON"], rec["REPLACED_PATHS"], rec["INVOKED_BY"], strings.Contains(out, "Triggering nginx reload"))
}

// Two swaps in a row: a new nginx binary put in place outside the package manager (the .path
// unit swaps it, soak 8s), and, while that swap's old master still runs, a libssl3 update by apt.
// The new master of the first swap started on the old libssl3; the apt hook's run of the helper
// waits (--wait) for the first swap to end, then re-executes nginx: two runs, none lost.
func TestLibraryUpdateDuringASwapWaitsAndRuns(t *testing.T) {
	labtest.EachRelease(t, testLibraryUpdateDuringASwapWaitsAndRuns)
}

func testLibraryUpdateDuringASwapWaitsAndRuns(t *testing.T, rel nspawn.Release) {
	ssl := rolePairT(t, rel, nspawn.LibSSL)
	repo := labtest.LocalRepo(t, testbed.ReleaseBuildsT(t, rel), ssl.hostDebs(t, ssl.Newer)...)
	box := libBox(t, ssl, false, nspawn.Bind{Host: repo, Container: repo, ReadOnly: true})
	box.Sh("echo SOAK=8s >>/etc/default/nginx-upgrade")
	before := box.Unit("nginx")
	tr := testbed.TrafficT(t, box.Site, testbed.TrafficConfig{})

	box.Copy(box.Builds.New, "/usr/sbin/nginx.new")
	box.Sh("mv /usr/sbin/nginx.new /usr/sbin/nginx && for i in $(seq 300); do [ -e /run/nginx.pid.oldbin ] && exit 0; sleep 0.1; done; echo no swap started; exit 1")
	out, rc := aptFromRepo(t, box, repo, "", ssl.Pkg+"="+ssl.Newer)

	if rc != 0 {
		t.Fatalf("apt-get exited %d", rc)
	}
	labtest.PathUnitSays(t, box, "nginx-upgrade: done: nginx serves from the new build")
	r := labtest.NoLoss(t, tr)
	labtest.MustContain(t, "apt-get's output", out, "nginx-upgrade: re-executing nginx", "nginx-upgrade: done: nginx re-executed live")
	// The helper (--wait) waited for the first swap: for its lock, or for its old master's drain.
	if !strings.Contains(out, "for the run in progress to finish") && !strings.Contains(out, "from a previous swap; waiting for its exit") {
		t.Errorf("apt-get's output does not show the re-exec waiting for the first swap")
	}
	master := labtest.OneMasterOn(t, box, box.Builds.New, before)
	if d := deletedMaps(box, master); d != "" {
		t.Errorf("the master or its workers map deleted files:\n%s", d)
	}
	recs := outcomes(t, box)
	var got []string
	for _, rec := range recs {
		got = append(got, rec["RESULT"]+" "+rec["REASON"]+" by "+rec["INVOKED_BY"])
	}
	want := []string{"success binary by nginx-upgrade-auto.service", "success libraries by apt:nginx-upgrade:post-invoke"}
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Errorf("runs in the journal:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
	t.Logf("FIGURES binary swap then %s update during it: %d stream requests (%d failed), %d wrk requests (%d failed), downloads %s; nginx.service not restarted; MainPID %d → %d; runs: %q",
		ssl.Pkg, r.Stream.Sent, r.Stream.Failed, r.Wrk.Requests, r.Wrk.Failed(), downloadsSummary(r), before.MainPID, master, got)
}
