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
	"github.com/nginx-upgrade/nginx-upgrade/internal/wait"
)

// The libnginx-mod-* packages' scripts fire nginx's nginx-reload trigger, whose postinst runs
// `invoke-rc.d nginx reload` at the end of the dpkg run, in the same run as our swap. With our
// package, policy-rc.d refuses that reload for the dpkg run and our own interest in the trigger
// notes it; at the end of the run the reload is folded into the swap (the new master read the
// configuration), or, when nothing swapped, done then. Under load, in one box: first a module
// installed alone (no swap: the held-back reload is done at the end and loads the module), then
// nginx upgraded OLD → NEW together with the module upgraded, in one dpkg run (the swap takes the
// reload in: systemd runs no reload of nginx.service at all).
func TestModuleTriggerReloadIsFoldedIntoTheSwap(t *testing.T) {
	b := testbed.BuildsT(t)
	mods, _ := filepath.Glob(filepath.Join(b.NewDebs, "libnginx-mod-stream_*.deb"))
	if len(mods) != 1 {
		t.Fatalf("want one libnginx-mod-stream .deb of %s in %s (run testdata/container/nginx-debs.sh), got %v", b.NewVersion, b.NewDebs, mods)
	}
	rebuilt := repackDeb(t, mods[0], b.NewVersion+"+rebuild1")
	dir := filepath.Dir(rebuilt)
	box := packagedBox(t, nspawn.Bookworm, testSettings, nspawn.Bind{Host: dir, Container: dir, ReadOnly: true})
	before := box.Unit("nginx")
	reloads := func() int {
		return strings.Count(box.Sh("journalctl -u nginx.service -o cat --no-pager"), "Reloading nginx.service")
	}

	t.Run("module alone: the held-back reload is done at the end", func(t *testing.T) {
		tr := testbed.TrafficT(t, box.Site, testbed.TrafficConfig{WrkDuration: 5 * time.Second})
		out, rc := dpkgInstall(t, box, strings.Replace(mods[0], filepath.Dir(b.NewDebs), "/debs", 1))
		labtest.NoLoss(t, tr)
		if rc != 0 {
			t.Fatalf("dpkg -i exited %d", rc)
		}
		labtest.MustContain(t, "dpkg's output", out,
			"policy-rc.d denied execution of reload", // nginx's trigger, refused
			"is held back until the end of the package run",
			"reloaded, as the package scripts asked")
		if n := reloads(); n != 1 {
			t.Errorf("systemd reloaded nginx.service %d times, want once, at the end of the run", n)
		}
		waitMaps(t, box, before.MainPID, "ngx_stream_module.so")
		if master := labtest.OneMasterOn(t, box, box.Builds.Old, before); master != before.MainPID {
			t.Errorf("MainPID %d, want %d: a reload keeps the master", master, before.MainPID)
		}
	})

	t.Run("nginx and the module in one dpkg run: folded into the swap", func(t *testing.T) {
		reloadsBefore := reloads()
		tr := testbed.TrafficT(t, box.Site, testbed.TrafficConfig{})
		out, rc := dpkgInstall(t, box, labtest.NewDebs(box)+" "+rebuilt)
		r := labtest.NoLoss(t, tr)
		if rc != 0 {
			t.Fatalf("dpkg -i exited %d", rc)
		}
		labtest.MustContain(t, "dpkg's output", out,
			"policy-rc.d denied execution of reload",
			"is held back until the end of the package run",
			"nginx-upgrade: done: nginx serves from the new build",
			"folded into the live swap: new master")
		master := labtest.OneMasterOn(t, box, box.Builds.New, before)
		if master == before.MainPID {
			t.Fatalf("MainPID still %d: no swap happened", master)
		}
		if n := reloads() - reloadsBefore; n != 0 {
			t.Errorf("systemd reloaded nginx.service %d times during the run, want none: the swap includes the reload", n)
		}
		waitMaps(t, box, master, "ngx_stream_module.so")
		if d := deletedMaps(box, master); d != "" {
			t.Errorf("the new master or its workers map deleted files:\n%s", d)
		}
		rec := lastOutcome(t, box)
		if rec["RESULT"] != "success" || strings.Contains(box.Sh("journalctl -t nginx-upgradectl -o cat --no-pager UPGRADE_ID="+rec["UPGRADE_ID"]), "reloaded its configuration") {
			t.Errorf("the swap %s did not succeed cleanly (RESULT=%s), or saw a reload", rec["UPGRADE_ID"], rec["RESULT"])
		}
		t.Logf("FIGURES nginx %s → %s and libnginx-mod-stream in one dpkg run: %d stream requests (%d failed), %d wrk requests (%d failed), downloads %s; nginx.service reloads during the run: %d; MainPID %d → %d; outcome %s",
			b.OldVersion, b.NewVersion, r.Stream.Sent, r.Stream.Failed, r.Wrk.Requests, r.Wrk.Failed(), downloadsSummary(r), reloads()-reloadsBefore, before.MainPID, master, rec["RESULT"])
	})
}

// waitMaps waits until master maps a file whose path contains name: a reload loads modules
// after `nginx -s reload` has returned.
func waitMaps(t *testing.T, box *testbed.Box, master int, name string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
	defer cancel()
	err := wait.Until(ctx, 100*time.Millisecond, func() (bool, error) {
		return strings.TrimSpace(box.Sh(fmt.Sprintf("grep -c -F %q /proc/%d/maps || true", name, master))) != "0", nil
	})
	if err != nil {
		t.Fatalf("master %d never mapped %s: the module was not loaded: %v", master, name, err)
	}
}
