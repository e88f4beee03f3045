//go:build e2e

package packaging

import (
	"slices"
	"strings"
	"testing"

	"github.com/nginx-upgrade/nginx-upgrade/internal/lab/labtest"
	"github.com/nginx-upgrade/nginx-upgrade/internal/lab/nspawn"
	"github.com/nginx-upgrade/nginx-upgrade/internal/lab/testbed"
)

// Tried as a new user would: with the .path unit installed, a binary replaced by hand, then the
// README's `systemctl reload nginx-upgrade` while the .path unit's swap runs. The operator's
// reload waits for it (--wait), then decides afresh (nothing to do). Both succeed; no "Job for
// nginx-upgrade.service failed".
func TestOperatorReloadRacingThePathUnitBothSucceed(t *testing.T) {
	box := packagedBox(t, nspawn.Bookworm, testSettings)
	box.Sh("systemctl start nginx-upgrade.service")
	before := box.Unit("nginx")
	tr := testbed.TrafficT(t, box.Site, testbed.TrafficConfig{})

	box.Copy(box.Builds.New, "/usr/sbin/nginx.new")
	// The reload as the .path unit's swap is under way (its USR2 sent), the case users hit.
	out, rc := labtest.BoxRun(t, box, "mv /usr/sbin/nginx.new /usr/sbin/nginx && "+
		"for i in $(seq 300); do [ -e /run/nginx.pid.oldbin ] && break; sleep 0.1; done && systemctl reload nginx-upgrade")

	r := labtest.NoLoss(t, tr)
	if rc != 0 || strings.Contains(out, "failed") {
		t.Fatalf("systemctl reload nginx-upgrade: exit %d, output %q; want 0 and no failed job", rc, out)
	}
	// The .path unit's run, whether it went first or waited.
	labtest.PathUnitSays(t, box, "nginx-upgrade: done")
	if res := strings.TrimSpace(box.Sh("systemctl show -p Result --value nginx-upgrade-auto.service")); res != "success" {
		t.Errorf("nginx-upgrade-auto.service Result=%s, want success", res)
	}
	master := labtest.OneMasterOn(t, box, box.Builds.New, before)
	if master == before.MainPID {
		t.Fatalf("MainPID still %d: no swap happened", master)
	}
	var got []string
	for _, rec := range outcomes(t, box) {
		got = append(got, rec["RESULT"])
	}
	// One swap; every other run (the loser of the race, and the hook's `systemctl start
	// nginx-upgrade`, which systemd merges into the reload in progress) found nothing left to do.
	if slices.Sort(got); len(got) < 2 || got[len(got)-1] != "success" || slices.ContainsFunc(got[:len(got)-1], func(r string) bool { return r != "noop" }) {
		t.Errorf("runs in the journal: %q, want one success and the others noop", got)
	}
	waits := box.Sh("journalctl -t nginx-upgradectl -o cat --no-pager | grep -c 'for the run in progress to finish' || true")
	if strings.TrimSpace(waits) == "0" {
		t.Errorf("no run waited for the other's lock: the two did not race")
	}
	t.Logf("FIGURES operator reload racing the .path unit: %d stream requests (%d failed), %d wrk requests (%d failed); runs %q; lock waits logged: %s; MainPID %d → %d",
		r.Stream.Sent, r.Stream.Failed, r.Wrk.Requests, r.Wrk.Failed(), got, strings.TrimSpace(waits), before.MainPID, master)
}
