//go:build e2e

package packaging

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/nginx-upgrade/nginx-upgrade/internal/lab/labtest"
	"github.com/nginx-upgrade/nginx-upgrade/internal/lab/nspawn"
	"github.com/nginx-upgrade/nginx-upgrade/internal/lab/testbed"
)

// releaseUpgradeTimeout bounds a whole release upgrade (testbed's steps have their own bounds).
const releaseUpgradeTimeout = 55 * time.Minute

// The release upgrade of a Debian 12 box to 13 as its release notes give it, under load, with
// nginx serving OLD's 12 build and libnginx-mod-stream loaded: some 130 packages, libc6, systemd
// 252 → 257 (PID 1 re-executes itself), dbus, OpenSSL and nginx 1.26 among them. With our package
// nginx's new build is swapped in live once apt is done and nothing is lost; stock, the packages
// restart nginx.service and requests fail: the control, which shows the load sees a restart.
func TestReleaseUpgradeFrom12To13(t *testing.T) {
	from, to := nspawn.Bookworm, nspawn.Trixie
	upgraded := testbed.ReleaseBuildsT(t, to)
	for _, c := range []struct {
		name string
		ours bool
	}{{"ours", true}, {"stock", false}} {
		t.Run(c.name, func(t *testing.T) {
			binds, err := testbed.ReleaseUpgradeBinds(to)
			if err != nil {
				t.Fatal(err)
			}
			// The host's network: the box fetches the next release from the host's mirror.
			box := testbed.BoxWithT(t, testbed.BoxOptions{Release: from, Binds: binds})
			ctx, cancel := context.WithTimeout(t.Context(), releaseUpgradeTimeout)
			defer cancel()
			if err := box.LoadStreamModule(ctx); err != nil {
				t.Fatal(err)
			}
			if c.ours {
				labtest.InstallOurDeb(t, box)
				box.Sh("cat >>/etc/default/nginx-upgrade <<'EOF'\n" + testSettings(box) + "EOF")
			}
			before := box.Unit("nginx")
			pid1Before := pid1Version(box)
			// wrk runs until StopNow; downloads follow each other for the whole upgrade.
			tr := testbed.TrafficT(t, box.Site, testbed.TrafficConfig{WrkDuration: releaseUpgradeTimeout, KeepDownloading: true})

			steps, err := box.UpgradeRelease(ctx, to, t.Logf)

			r := tr.StopNow()
			if err != nil {
				t.Logf("traffic:\n%s", r)
				t.Fatal(err)
			}
			version := strings.TrimSpace(box.Sh("dpkg-query -W -f '${Version}' nginx"))
			build := map[string]string{upgraded.OldVersion: upgraded.Old, upgraded.NewVersion: upgraded.New}[version]
			if build == "" {
				t.Fatalf("the upgrade installed nginx %s, neither of the cached %s builds %s and %s (run: bash testdata/container/nginx-debs.sh %s)",
					version, to.Name(), upgraded.OldVersion, upgraded.NewVersion, to)
			}
			// PID 1 re-executed itself into the systemd the upgrade installed.
			pid1, pkg := pid1Version(box), strings.TrimSpace(box.Sh("dpkg-query -W -f '${Version}' systemd"))
			if pid1 == pid1Before || pid1 != pkg {
				t.Errorf("PID 1 runs systemd %s (before %s), the upgrade installed %s", pid1, pid1Before, pkg)
			}
			full := steps[len(steps)-1]
			var master int
			var outcome string
			if c.ours {
				labtest.NoneFailed(t, r)
				master = labtest.OneMasterOn(t, box, build, before)
				if master == before.MainPID {
					t.Fatalf("MainPID still %d: nginx %s was not swapped in", master, version)
				}
				labtest.MustContain(t, "full-upgrade's output", full.Output, "nginx-upgrade: done: nginx serves from the new build")
				for _, rec := range outcomes(t, box) {
					if rec["RESULT"] != "success" {
						t.Errorf("a run of nginx-upgradectl ended %s: %s", rec["RESULT"], rec["MESSAGE"])
					}
					outcome += fmt.Sprintf("\n  %s REASON=%s by %s: %s", rec["RESULT"], rec["REASON"], rec["INVOKED_BY"], rec["MESSAGE"])
				}
			} else {
				t.Logf("traffic (stock):\n%s", r)
				if r.Failed() == 0 {
					t.Errorf("nothing failed in the stock release upgrade: the load did not see nginx restart, and the ours case proves nothing")
				}
				stockRestartT(t, box, before, r, "stock release upgrade")
				master = box.Unit("nginx").MainPID
			}
			if d := deletedMaps(box, master); d != "" {
				t.Errorf("nginx maps deleted files after the release upgrade:\n%s", d)
			}
			mapsLib(t, box, master, "ngx_stream_module.so")
			var took time.Duration
			var lines []string
			upgradedPkgs := 0
			for _, s := range steps {
				took += s.Took
				upgradedPkgs += s.Upgraded()
				lines = append(lines, "  "+s.String())
			}
			t.Logf("FIGURES release upgrade %s → %s, %s: %s in all, %d packages upgraded\n%s\n%d stream requests (%d failed), %d wrk requests (%d failed), downloads %s; nginx %s → %s; nginx.service ActiveEnterTimestampMonotonic %s → %s, MainPID %d → %d; PID 1 systemd %s → %s%s",
				from.Name(), to.Name(), c.name, took.Round(time.Second), upgradedPkgs, strings.Join(lines, "\n"),
				r.Stream.Sent, r.Stream.Failed, r.Wrk.Requests, r.Wrk.Failed(), downloadsSummary(r),
				box.Builds.OldVersion, version, before.ActiveEnter, box.Unit("nginx").ActiveEnter, before.MainPID, master, pid1Before, pid1, outcome)
		})
	}
}

// pid1Version is the version of the systemd running as the box's PID 1, asked over its bus.
func pid1Version(box *testbed.Box) string {
	return strings.TrimSpace(box.Sh("systemctl show -p Version --value"))
}
