//go:build e2e

package engine

import (
	"slices"
	"testing"
	"time"

	"github.com/nginx-upgrade/nginx-upgrade/internal/lab/labtest"
	"github.com/nginx-upgrade/nginx-upgrade/internal/lab/testbed"
	"github.com/nginx-upgrade/nginx-upgrade/internal/nginx"
	"github.com/nginx-upgrade/nginx-upgrade/internal/upgrade"
)

// reload with the running binary on disk is the usual configuration reload: same master, new
// workers, no request lost.
func TestReloadOfAConfigChangeKeepsTheMaster(t *testing.T) {
	b := testbed.BuildsT(t)
	n := testbed.StartT(t, b.Old, testbed.Config{})
	master := n.Master()
	before, _, _ := nginx.Workers(master)
	tr := testbed.TrafficT(t, n.Site(), testbed.TrafficConfig{WrkDuration: 4 * time.Second})
	appendFile(t, n.Conf(), "# changed\n")

	r := ctl(t, "reload", "--pid-file", n.PidFile, "--json")

	labtest.NoLoss(t, tr)
	if r.code != 0 || r.json.Outcome != upgrade.Success {
		t.Fatalf("exit %d outcome %s, want 0 success", r.code, r.json.Outcome)
	}
	after, _, _ := nginx.Workers(master)
	if n.Master() != master || slices.ContainsFunc(after, func(w nginx.Proc) bool { return w.Pid == before[0].Pid || w.Pid == before[1].Pid }) {
		t.Fatalf("master %d → %d, workers %v → %v: want the same master with new workers", master, n.Master(), before, after)
	}
	servingAlone(t, n, master, b.Old)
}

// reload with a new build on disk swaps the binary, verified like upgrade.
func TestReloadWithANewBinaryUpgrades(t *testing.T) {
	b := testbed.BuildsT(t)
	n := testbed.StartT(t, b.Old, testbed.Config{})
	mustInstall(t, n, b.New, nil)

	r := ctl(t, "reload", "--pid-file", n.PidFile, "--soak", "1s", "--json")

	if r.code != 0 || r.json.Outcome != upgrade.Success || r.json.NewMasterPID == r.json.OldMasterPID {
		t.Fatalf("exit %d outcome %s masters %d → %d, want 0 success and a new master", r.code, r.json.Outcome, r.json.OldMasterPID, r.json.NewMasterPID)
	}
	servingAlone(t, n, r.json.NewMasterPID, b.New)
}

// A configuration nginx would reject is not sent to it: exit 1, the workers untouched.
func TestReloadOfABrokenConfigChangesNothing(t *testing.T) {
	b := testbed.BuildsT(t)
	n := testbed.StartT(t, b.Old, testbed.Config{})
	before, _, _ := nginx.Workers(n.Master())
	appendFile(t, n.Conf(), "no_such_directive on;\n")

	r := ctl(t, "reload", "--pid-file", n.PidFile, "--json")

	after, _, _ := nginx.Workers(n.Master())
	if r.code != 1 || r.json.Outcome != upgrade.Rejected || !samePids(before, after) {
		t.Fatalf("exit %d outcome %s workers %v → %v, want 1 rejected and the same workers", r.code, r.json.Outcome, before, after)
	}
}

func samePids(a, b []nginx.Proc) bool {
	return slices.EqualFunc(a, b, func(x, y nginx.Proc) bool { return x.Pid == y.Pid })
}
