//go:build e2e

package systemd

import (
	"encoding/json"
	"fmt"
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

// Tests under a real systemd: Debian's older nginx build installed with dpkg under its stock
// nginx.service, in a booted container; traffic from the host to the box's loopback site.

// unitShape is a way nginx.service can be written.
type unitShape struct {
	name   string
	dropIn string // extra drop-in for nginx.service, "" for Debian's unit as shipped
}

var (
	stockUnit = unitShape{"stock unit", ""}
	// Hand-written units often have no PIDFile=: a plain USR2/WINCH/QUIT swap then loses nginx
	// entirely (TestSystemdClaims in internal/nspawn shows it), because systemd stops the service
	// when the main process it guessed exits.
	noPIDFileUnit = unitShape{"forking unit without PIDFile", "[Service]\nPIDFile=\n"}
)

// boxFor boots a box of release r with nginx.service in shape and our package installed (the .deb built
// from the binary under test), with a short soak and a health URL. These tests swap through
// `systemctl reload` and the helper itself: AUTO_SWAP=no keeps the package's nginx-upgrade.path
// from starting a swap of its own when a test copies a new /usr/sbin/nginx into place (the
// packaging suite tests that swap).
func boxFor(t *testing.T, r nspawn.Release, shape unitShape) *testbed.Box {
	box := testbed.BoxWithT(t, testbed.BoxOptions{Deb: labtest.PackageT(t, "deb"), Release: r})
	box.Write("/etc/default/nginx-upgrade", fmt.Sprintf("AUTO_SWAP=no\nSOAK=2s\nHEALTH_FLAGS=\"--health %s/health\"\n", box.Site.Base))
	if shape.dropIn != "" {
		box.Sh("mkdir -p /etc/systemd/system/nginx.service.d")
		box.Write("/etc/systemd/system/nginx.service.d/test-shape.conf", shape.dropIn)
		box.Sh("systemctl daemon-reload && systemctl restart nginx")
		box.WaitServing()
	}
	return box
}

// optIn installs the drop-in that makes `systemctl reload nginx` run nginx-upgradectl reload.
func optIn(box *testbed.Box) {
	box.Sh("mkdir -p /etc/systemd/system/nginx.service.d && cp /usr/share/nginx-upgrade/nginx-reload.conf /etc/systemd/system/nginx.service.d/ && systemctl daemon-reload")
}

// reloadExit runs `systemctl reload unit` in the box and returns its exit status.
func reloadExit(t *testing.T, box *testbed.Box, unit string) int {
	out := box.Sh("systemctl reload " + unit + "; echo rc=$?")
	var rc int
	fmt.Sscanf(out[strings.LastIndex(out, "rc="):], "rc=%d", &rc)
	t.Logf("systemctl reload %s → %d\n%s", unit, rc, box.Sh("journalctl -o cat -t nginx-upgradectl -n 40 --no-pager || true"))
	return rc
}

func TestSystemctlReloadSwapsLiveUnderSystemd(t *testing.T) {
	labtest.EachRelease(t, testSystemctlReloadSwapsLiveUnderSystemd)
}

func testSystemctlReloadSwapsLiveUnderSystemd(t *testing.T, rel nspawn.Release) {
	for _, shape := range []unitShape{stockUnit, noPIDFileUnit} {
		for _, via := range []string{"nginx-upgrade", "nginx"} {
			t.Run(shape.name+"/systemctl reload "+via, func(t *testing.T) {
				box := boxFor(t, rel, shape)
				if via == "nginx" {
					optIn(box)
				}
				before := box.Unit("nginx")
				box.Copy(box.Builds.New, "/usr/sbin/nginx")
				tr := testbed.TrafficT(t, box.Site, testbed.TrafficConfig{})

				rc := reloadExit(t, box, via)

				labtest.NoLoss(t, tr)
				if rc != 0 {
					t.Fatalf("systemctl reload %s exited %d, want 0", via, rc)
				}
				master := labtest.OneMasterOn(t, box, box.Builds.New, before)
				if master == before.MainPID {
					t.Fatalf("MainPID still %d: no swap happened", master)
				}
				box.Sh("systemctl stop nginx")
				if left := box.Sh("pgrep -a nginx || true"); strings.TrimSpace(left) != "" {
					t.Fatalf("systemctl stop nginx left: %s", left)
				}
				box.Sh("systemctl start nginx")
				box.WaitServing()
			})
		}
	}
}

func TestWorkersThatDieFailTheReloadUnderSystemd(t *testing.T) {
	labtest.EachRelease(t, testWorkersThatDieFailTheReloadUnderSystemd)
}

func testWorkersThatDieFailTheReloadUnderSystemd(t *testing.T, rel nspawn.Release) {
	for _, shape := range []unitShape{stockUnit, noPIDFileUnit} {
		t.Run(shape.name, func(t *testing.T) {
			box := boxFor(t, rel, shape)
			before := box.Unit("nginx")
			dir := t.TempDir()
			broken, err := testbed.WorkersDie(dir, box.Builds.New)
			if err != nil {
				t.Fatal(err)
			}
			box.Sh("mkdir -p " + dir) // the fault library is linked by its absolute path
			box.Copy(filepath.Join(dir, "libworkers_die.so"), filepath.Join(dir, "libworkers_die.so"))
			box.Copy(broken, "/usr/sbin/nginx")
			tr := testbed.TrafficT(t, box.Site, testbed.TrafficConfig{})

			rc := reloadExit(t, box, "nginx-upgrade")

			labtest.NoLoss(t, tr)
			if rc == 0 {
				t.Fatal("systemctl reload nginx-upgrade succeeded with a build whose workers die")
			}
			if master := labtest.OneMasterOn(t, box, box.Builds.Old, before); master != before.MainPID {
				t.Fatalf("MainPID %d, want the old master %d", master, before.MainPID)
			}
			// A failed ExecReload= leaves the unit active: the failed-swap record restarts it,
			// and its status check fails while the broken build is on disk.
			labtest.UnitBecomes(t, box, "nginx-upgrade.service", "failed")
			labtest.MustContain(t, "systemctl status nginx-upgrade", box.Sh("systemctl status --no-pager nginx-upgrade.service || true"),
				"the binary on disk failed a swap at ", "run nginx-upgradectl restore")
		})
	}
}

// A plain configuration change through the opt-in reload is a configuration reload: the same
// master, new workers.
func TestOptInReloadOfAConfigChangeUnderSystemd(t *testing.T) {
	labtest.EachRelease(t, testOptInReloadOfAConfigChangeUnderSystemd)
}

func testOptInReloadOfAConfigChangeUnderSystemd(t *testing.T, rel nspawn.Release) {
	box := boxFor(t, rel, stockUnit)
	optIn(box)
	before := box.Unit("nginx")
	workers := box.Sh(fmt.Sprintf("pgrep -P %d", before.MainPID))
	box.Write("/etc/nginx/conf.d/changed.conf", "# a change\n")
	tr := testbed.TrafficT(t, box.Site, testbed.TrafficConfig{WrkDuration: 4 * time.Second})

	rc := reloadExit(t, box, "nginx")

	labtest.NoLoss(t, tr)
	if rc != 0 {
		t.Fatalf("systemctl reload nginx exited %d", rc)
	}
	if master := labtest.OneMasterOn(t, box, box.Builds.Old, before); master != before.MainPID {
		t.Fatalf("a config reload started a new master %d (was %d)", master, before.MainPID)
	}
	if after := box.Sh(fmt.Sprintf("pgrep -P %d", before.MainPID)); after == workers {
		t.Fatalf("the workers did not change (%s): no configuration reload happened", strings.Fields(after))
	}
}

// nginx in the foreground (daemon off; its parent is systemd) ignores USR2: the helper must
// refuse before sending anything, and say what unit shape would allow a live swap.
func TestForegroundUnitIsRefusedBeforeAnySignal(t *testing.T) {
	labtest.EachRelease(t, testForegroundUnitIsRefusedBeforeAnySignal)
}

func testForegroundUnitIsRefusedBeforeAnySignal(t *testing.T, rel nspawn.Release) {
	box := boxFor(t, rel, unitShape{"foreground", "[Service]\nType=exec\nPIDFile=\nExecStartPre=\nExecStart=\nExecStart=/usr/sbin/nginx -g 'daemon off; master_process on;'\n"})
	before := box.Unit("nginx")
	box.Copy(box.Builds.New, "/usr/sbin/nginx")
	tr := testbed.TrafficT(t, box.Site, testbed.TrafficConfig{WrkDuration: 4 * time.Second})

	rc := reloadExit(t, box, "nginx-upgrade")

	labtest.NoLoss(t, tr)
	if rc == 0 {
		t.Fatal("reload succeeded on a foreground nginx")
	}
	if log := box.Sh("journalctl -o cat -t nginx-upgradectl --no-pager"); !strings.Contains(log, "daemon on") || !strings.Contains(log, "Type=forking") {
		t.Errorf("the refusal does not say what unit shape allows a live swap:\n%s", log)
	}
	if master := labtest.OneMasterOn(t, box, box.Builds.Old, before); master != before.MainPID {
		t.Fatalf("MainPID %d, want %d untouched", master, before.MainPID)
	}
	if strings.Contains(box.Sh("journalctl -u nginx --no-pager"), "changing binary") {
		t.Fatal("a USR2 reached nginx")
	}
}

// journalRecords reads the audit records of one run back from journald, by field name.
func journalRecords(t *testing.T, box *testbed.Box, upgradeID string) []map[string]any {
	t.Helper()
	var recs []map[string]any
	for line := range strings.Lines(box.Sh("journalctl -o json --no-pager UPGRADE_ID=" + upgradeID)) {
		var r map[string]any
		if err := json.Unmarshal([]byte(line), &r); err != nil {
			t.Fatalf("journalctl -o json: %v: %s", err, line)
		}
		recs = append(recs, r)
	}
	return recs
}

// Under real journald: a swap, a rolled-back swap and a refused run each leave their whole
// event sequence, queried back by the contract's field names; history shows all three.
func TestAuditTrailInJournald(t *testing.T) { labtest.EachRelease(t, testAuditTrailInJournald) }

func testAuditTrailInJournald(t *testing.T, rel nspawn.Release) {
	box := boxFor(t, rel, stockUnit)
	dir := t.TempDir()
	broken, err := testbed.WorkersDie(dir, box.Builds.Old)
	if err != nil {
		t.Fatal(err)
	}
	box.Sh("mkdir -p " + dir)
	box.Copy(filepath.Join(dir, "libworkers_die.so"), filepath.Join(dir, "libworkers_die.so"))
	run := func(args string) (code int, id string) {
		out := box.Sh("nginx-upgradectl " + args + " --json 2>&1; echo rc=$?")
		fmt.Sscanf(out[strings.LastIndex(out, "rc="):], "rc=%d", &code)
		i := strings.LastIndex(out, "UPGRADE_ID=")
		if i < 0 {
			t.Fatalf("%s: the run did not say where its trail went:\n%s", args, out)
		}
		return code, strings.Fields(out[i+len("UPGRADE_ID="):])[0]
	}

	box.Copy(box.Builds.New, "/usr/sbin/nginx")
	okCode, okID := run("upgrade --soak 0s")
	box.Copy(broken, "/usr/sbin/nginx")
	backCode, backID := run("upgrade --soak 0s")
	refusedCode, refusedID := run("upgrade --pid-file /run/nginx.pid.missing")
	if okCode != 0 || backCode != 1 || refusedCode != 2 {
		t.Fatalf("exits %d %d %d, want 0 1 2", okCode, backCode, refusedCode)
	}

	for _, c := range []struct {
		id, outcome string
		steps       []string
	}{
		{okID, "success", []string{"find_master", "preflight", "keep", "usr2", "new_master", "workers", "health", "winch", "soak", "handover", "quit", "verify", "outcome"}},
		{backID, "rolled_back", []string{"find_master", "preflight", "keep", "usr2", "new_master", "workers", "quit", "outcome"}},
		{refusedID, "refused", []string{"outcome"}},
	} {
		recs := journalRecords(t, box, c.id)
		var steps []string
		for _, r := range recs {
			if s, _ := r["STEP"].(string); !slices.Contains(steps, s) {
				steps = append(steps, s)
			}
			for _, f := range []string{"SYSLOG_IDENTIFIER", "MESSAGE_ID", "MESSAGE", "RESULT", "INVOKED_BY", "INVOKER_UID", "DURATION_MS"} {
				if _, ok := r[f]; !ok {
					t.Errorf("run %s, step %v: no field %s", c.outcome, r["STEP"], f)
				}
			}
		}
		if !slices.Equal(steps, c.steps) {
			t.Errorf("%s run: steps %v, want %v", c.outcome, steps, c.steps)
		}
		last := recs[len(recs)-1]
		if last["STEP"] != "outcome" || last["RESULT"] != c.outcome {
			t.Errorf("last event %v %v, want outcome %s", last["STEP"], last["RESULT"], c.outcome)
		}
		if c.outcome == "success" && (last["UNIT"] != "nginx.service" || last["OLD_SHA256"] == last["NEW_SHA256"] || last["NEW_MASTER_PID"] == nil) {
			t.Errorf("success outcome lacks unit, pids or hashes: %v", last)
		}
		if c.outcome != "refused" && last["REASON"] != "binary" {
			t.Errorf("%s outcome: REASON %v, want binary (a new build on disk)", c.outcome, last["REASON"])
		}
		if c.outcome != "success" && last["ERROR"] == nil {
			t.Errorf("%s outcome has no ERROR", c.outcome)
		}
	}

	var runs []struct{ UpgradeID, Outcome string }
	if err := json.Unmarshal([]byte(box.Sh("nginx-upgradectl history --json")), &runs); err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, r := range runs {
		got = append(got, r.Outcome)
	}
	if !slices.Contains(got, "success") || !slices.Contains(got, "rolled_back") || !slices.Contains(got, "refused") {
		t.Fatalf("history outcomes %v lack success, rolled_back or refused", got)
	}
	t.Logf("history:\n%s", box.Sh("nginx-upgradectl history"))
}
