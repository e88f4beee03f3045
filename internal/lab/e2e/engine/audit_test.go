//go:build e2e

package engine

import (
	"encoding/json"
	"slices"
	"testing"
	"time"

	"github.com/nginx-upgrade/nginx-upgrade/internal/audit"
	"github.com/nginx-upgrade/nginx-upgrade/internal/lab/testbed"
)

// Without journald, the trail goes to the --audit-log file: a swap, a rolled-back swap and a
// refused run each leave their whole sequence, and history reads all three back.
func TestAuditTrailInAFileWithoutJournald(t *testing.T) {
	b := testbed.BuildsT(t)
	n := testbed.StartT(t, b.Old, testbed.Config{})
	broken, err := testbed.WorkersDie(t.TempDir(), b.Old)
	if err != nil {
		t.Fatal(err)
	}

	mustInstall(t, n, b.New, nil)
	ok := ctl(t, "upgrade", "--pid-file", n.PidFile, "--soak", "0s", "--json")
	mustInstall(t, n, broken, nil)
	back := ctl(t, "upgrade", "--pid-file", n.PidFile, "--soak", "0s", "--json")
	refused := ctl(t, "upgrade", "--pid-file", n.PidFile+".missing", "--json")
	if ok.code != 0 || back.code != 1 || refused.code != 2 {
		t.Fatalf("exits %d %d %d, want 0 1 2", ok.code, back.code, refused.code)
	}

	h := ctl(t, "history", "--json")
	var runs []audit.Run
	if err := json.Unmarshal([]byte(h.stdout), &runs); err != nil {
		t.Fatalf("history --json: %v", err)
	}
	var outcomes []string
	for _, r := range runs {
		outcomes = append(outcomes, r.Outcome)
	}
	if !slices.Equal(outcomes, []string{"success", "rolled_back", "refused"}) {
		t.Fatalf("history outcomes %v, want success rolled_back refused", outcomes)
	}

	success := runs[0]
	for i, res := range []ctlResult{ok, back, refused} {
		if res.json.UpgradeID == "" || res.json.UpgradeID != runs[i].UpgradeID {
			t.Errorf("run %d: --json upgrade_id %q, history says %q", i, res.json.UpgradeID, runs[i].UpgradeID)
		}
	}
	var steps []string
	for _, s := range success.Steps {
		if !slices.Contains(steps, s.Step) {
			steps = append(steps, s.Step)
		}
		if s.UpgradeID != success.UpgradeID || s.InvokedBy != "cli" || s.OldMasterPID != ok.json.OldMasterPID {
			t.Errorf("step %s: id %s by %q old pid %d; want the run's id, cli, %d", s.Step, s.UpgradeID, s.InvokedBy, s.OldMasterPID, ok.json.OldMasterPID)
		}
	}
	want := []string{"find_master", "preflight", "keep", "usr2", "new_master", "workers", "health", "winch", "soak", "quit", "verify", "outcome"}
	if !slices.Equal(steps, want) {
		t.Errorf("success steps %v, want %v", steps, want)
	}
	if success.NewMasterPID != ok.json.NewMasterPID || success.OldSHA256 == "" || success.NewSHA256 == "" || success.OldSHA256 == success.NewSHA256 {
		t.Errorf("success run: new pid %d (want %d), sha %q → %q", success.NewMasterPID, ok.json.NewMasterPID, success.OldSHA256, success.NewSHA256)
	}
	if runs[1].Error == "" || runs[2].Error == "" {
		t.Errorf("failed runs carry no ERROR: %q, %q", runs[1].Error, runs[2].Error)
	}
	if d := success.Duration; d <= 0 || d > time.Minute {
		t.Errorf("success duration %s", d)
	}
}
