//go:build e2e

package packaging

import (
	"context"
	"fmt"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/nginx-upgrade/nginx-upgrade/internal/lab/labtest"
	"github.com/nginx-upgrade/nginx-upgrade/internal/lab/nspawn"
	"github.com/nginx-upgrade/nginx-upgrade/internal/lab/testbed"
	"github.com/nginx-upgrade/nginx-upgrade/internal/nginx"
)

// A rollback that lasts past the next restart: a broken build installed with apt is rolled back,
// and stays at /usr/sbin/nginx. Without restore the next `systemctl restart nginx` takes the
// site down; with restore it starts the build that was serving, and the next good package
// lifts the diversion and is swapped live.
func TestRollbackLastsPastTheNextRestartWithRestore(t *testing.T) {
	for _, restore := range []bool{false, true} {
		name := map[bool]string{false: "without restore", true: "with restore"}[restore]
		t.Run(name, func(t *testing.T) {
			box := packagedBox(t, nspawn.Bookworm, testSettings)
			old, err := nginx.InspectBinary(t.Context(), box.Builds.Old)
			if err != nil {
				t.Fatal(err)
			}
			rolledBackFromBrokenPackage(t, box)

			if !restore {
				box.Sh("systemctl restart nginx")
				ctx, cancel := context.WithTimeout(t.Context(), 8*time.Second)
				defer cancel()
				if err := box.AwaitServing(ctx); err == nil {
					t.Fatalf("after the rollback and a restart without restore, nginx serves: the build that failed was not started")
				}
				t.Logf("FIGURES without restore: systemctl restart nginx started sha256 %.12s (the broken build); the site does not answer", box.RunningSHA(box.Unit("nginx").MainPID))
				return
			}

			out, rc := labtest.BoxRun(t, box, "nginx-upgradectl restore")
			if rc != 0 {
				t.Fatalf("restore exited %d", rc)
			}
			labtest.MustContain(t, "restore's output", out, "restored: /usr/sbin/nginx is the kept build again")
			labtest.MustContain(t, "dpkg-divert --list", box.Sh("dpkg-divert --list /usr/sbin/nginx"),
				"local diversion of /usr/sbin/nginx to /usr/sbin/nginx.failed-swap")
			if st, rc := labtest.BoxRun(t, box, "nginx-upgradectl status"); rc != 0 || !strings.Contains(st, "restored: the kept build is back at ") || strings.Contains(st, "next:") {
				t.Fatalf("status after restore exited %d, want 0, steady (nothing next) and the restore named", rc)
			}
			labtest.UnitBecomes(t, box, "nginx-upgrade.service", "active")

			box.Sh("systemctl restart nginx")
			box.WaitServing()
			restarted := box.Unit("nginx")
			if got := box.RunningSHA(restarted.MainPID); got != old.SHA256 {
				t.Fatalf("after restore and a restart, master %d runs sha256 %.12s, want the build that served (%.12s)", restarted.MainPID, got, old.SHA256)
			}
			version := box.Sh(fmt.Sprintf("/proc/%d/exe -v 2>&1", restarted.MainPID))
			if !strings.Contains(version, old.Version) {
				t.Fatalf("restarted master says %q, want %s", version, old.Version)
			}

			// The next good package: apt puts it on the diverted path, the hook lifts the
			// diversion and swaps it live.
			tr := testbed.TrafficT(t, box.Site, testbed.TrafficConfig{})
			out, rc = aptInstall(t, box, labtest.NewDebs(box))
			r := labtest.NoLoss(t, tr)
			if rc != 0 {
				t.Fatalf("apt-get install of the good build exited %d", rc)
			}
			labtest.MustContain(t, "apt's output", out, "the restore is lifted", "nginx-upgrade: done: nginx serves from the new build")
			master := labtest.OneMasterOn(t, box, box.Builds.New, restarted)
			if master == restarted.MainPID {
				t.Fatalf("MainPID still %d: the good build was not swapped live", master)
			}
			if d := box.Sh("dpkg-divert --list /usr/sbin/nginx; ls /usr/sbin/nginx.failed-swap 2>&1 || true"); strings.Contains(d, "diversion") || !strings.Contains(d, "No such file") {
				t.Fatalf("the diversion or the diverted file is left after the next package:\n%s", d)
			}
			if st, rc := labtest.BoxRun(t, box, "nginx-upgradectl status"); rc != 0 || strings.Contains(st, "failed a swap") || strings.Contains(st, "restored") {
				t.Fatalf("status after the good package exited %d, want 0 and no failed swap", rc)
			}
			t.Logf("FIGURES with restore: restart started sha256 %.12s (%s, the build that served); good package swapped live %d → %d: %d stream requests (%d failed), %d wrk requests (%d failed), downloads %s; diversion gone",
				old.SHA256, old.Version, restarted.MainPID, master, r.Stream.Sent, r.Stream.Failed, r.Wrk.Requests, r.Wrk.Failed(), downloadsSummary(r))
		})
	}
}

// rolledBackFromBrokenPackage installs, with apt, a rebuild of NEW whose workers die (a version
// below NEW, as a botched rebuild would be); the package's swap rolls back. It checks that the
// danger is loud: the outcome names restore, status exits 3 and says why, and
// nginx-upgrade.service shows failed.
func rolledBackFromBrokenPackage(t *testing.T, box *testbed.Box) {
	t.Helper()
	bd := labtest.NewBrokenDeb(t, box.Builds, box.Builds.NewVersion+"~broken1")
	bd.AddFaultLib(box)
	deb := "/root/" + filepath.Base(bd.Deb)
	box.Copy(bd.Deb, deb)
	box.Sh("systemctl start nginx-upgrade.service")
	before := box.Unit("nginx")
	tr := testbed.TrafficT(t, box.Site, testbed.TrafficConfig{WrkDuration: 4 * time.Second})

	out, rc := aptInstall(t, box, fmt.Sprintf("/debs/%s/nginx-common_*.deb %s", box.Builds.NewVersion, deb))

	labtest.NoLoss(t, tr)
	if rc != 0 {
		t.Fatalf("apt-get install of the broken build exited %d", rc)
	}
	if master := labtest.OneMasterOn(t, box, box.Builds.Old, before); master != before.MainPID {
		t.Fatalf("MainPID %d, want the old master %d", master, before.MainPID)
	}
	labtest.MustContain(t, "apt's output", out,
		"keep ", // the step that kept the running build, copied while -T ran: the package made the store
		"(copied while nginx -T ran)",
		"a restart would start it: run nginx-upgradectl restore")
	rec := lastOutcome(t, box)
	kept := box.Sh("stat -c '%a %U' /var/lib/nginx-upgrade /var/lib/nginx-upgrade/builds; cat /var/lib/nginx-upgrade/builds/*.json")
	if old := box.RunningSHA(before.MainPID); !strings.Contains(kept, "700 root\n700 root\n") || !strings.Contains(kept, `"sha256": "`+old+`"`) {
		t.Fatalf("the running build (sha256 %.12s) is not kept in a root-only /var/lib/nginx-upgrade:\n%s", old, kept)
	}
	st, rc := labtest.BoxRun(t, box, "nginx-upgradectl status")
	if rc != 3 {
		t.Fatalf("status exited %d after the rollback, want 3", rc)
	}
	labtest.MustContain(t, "status", st, "the binary on disk failed a swap at ", "("+rec["UPGRADE_ID"]+"); a restart would start it; run nginx-upgradectl restore")
	labtest.UnitBecomes(t, box, "nginx-upgrade.service", "failed")
	t.Logf("systemctl status nginx-upgrade:\n%s", box.Sh("systemctl status --no-pager nginx-upgrade.service || true"))
}
