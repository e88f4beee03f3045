package main

import (
	"fmt"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/nginx-upgrade/nginx-upgrade/internal/nginx"
	"github.com/nginx-upgrade/nginx-upgrade/internal/testbed"
)

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

// boxFor boots a box with nginx.service in shape and our helper installed, with a short soak
// and a health URL.
func boxFor(t *testing.T, shape unitShape) *testbed.Box {
	box := testbed.BoxT(t, ctlPath)
	box.Write("/etc/default/nginx-upgrade", fmt.Sprintf("SOAK=2s\nHEALTH_FLAGS=\"--health %s/health\"\n", box.Site.Base))
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

// oneMasterOn asserts systemd's view is true: MainPID = /run/nginx.pid = the only master, running
// build, and nginx.service never restarted (same ActiveEnterTimestampMonotonic).
func oneMasterOn(t *testing.T, box *testbed.Box, build string, before testbed.Unit) int {
	t.Helper()
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

func TestSystemctlReloadSwapsLiveUnderSystemd(t *testing.T) {
	for _, shape := range []unitShape{stockUnit, noPIDFileUnit} {
		for _, via := range []string{"nginx-upgrade", "nginx"} {
			t.Run(shape.name+"/systemctl reload "+via, func(t *testing.T) {
				box := boxFor(t, shape)
				if via == "nginx" {
					optIn(box)
				}
				before := box.Unit("nginx")
				box.Copy(box.Builds.New, "/usr/sbin/nginx")
				tr := testbed.TrafficT(t, box.Site, testbed.TrafficConfig{})

				rc := reloadExit(t, box, via)

				noLoss(t, tr)
				if rc != 0 {
					t.Fatalf("systemctl reload %s exited %d, want 0", via, rc)
				}
				master := oneMasterOn(t, box, box.Builds.New, before)
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
	for _, shape := range []unitShape{stockUnit, noPIDFileUnit} {
		t.Run(shape.name, func(t *testing.T) {
			box := boxFor(t, shape)
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

			noLoss(t, tr)
			if rc == 0 {
				t.Fatal("systemctl reload nginx-upgrade succeeded with a build whose workers die")
			}
			if master := oneMasterOn(t, box, box.Builds.Old, before); master != before.MainPID {
				t.Fatalf("MainPID %d, want the old master %d", master, before.MainPID)
			}
		})
	}
}

// A plain configuration change through the opt-in reload is a configuration reload: the same
// master, new workers.
func TestOptInReloadOfAConfigChangeUnderSystemd(t *testing.T) {
	box := boxFor(t, stockUnit)
	optIn(box)
	before := box.Unit("nginx")
	workers := box.Sh(fmt.Sprintf("pgrep -P %d", before.MainPID))
	box.Write("/etc/nginx/conf.d/changed.conf", "# a change\n")
	tr := testbed.TrafficT(t, box.Site, testbed.TrafficConfig{WrkDuration: 4 * time.Second})

	rc := reloadExit(t, box, "nginx")

	noLoss(t, tr)
	if rc != 0 {
		t.Fatalf("systemctl reload nginx exited %d", rc)
	}
	if master := oneMasterOn(t, box, box.Builds.Old, before); master != before.MainPID {
		t.Fatalf("a config reload started a new master %d (was %d)", master, before.MainPID)
	}
	if after := box.Sh(fmt.Sprintf("pgrep -P %d", before.MainPID)); after == workers {
		t.Fatalf("the workers did not change (%s): no configuration reload happened", strings.Fields(after))
	}
}

// nginx in the foreground (daemon off; its parent is systemd) ignores USR2: the helper must
// refuse before sending anything, and say what unit shape would allow a live swap.
func TestForegroundUnitIsRefusedBeforeAnySignal(t *testing.T) {
	box := boxFor(t, unitShape{"foreground", "[Service]\nType=exec\nPIDFile=\nExecStartPre=\nExecStart=\nExecStart=/usr/sbin/nginx -g 'daemon off; master_process on;'\n"})
	before := box.Unit("nginx")
	box.Copy(box.Builds.New, "/usr/sbin/nginx")
	tr := testbed.TrafficT(t, box.Site, testbed.TrafficConfig{WrkDuration: 4 * time.Second})

	rc := reloadExit(t, box, "nginx-upgrade")

	noLoss(t, tr)
	if rc == 0 {
		t.Fatal("reload succeeded on a foreground nginx")
	}
	if log := box.Sh("journalctl -o cat -t nginx-upgradectl --no-pager"); !strings.Contains(log, "daemon on") || !strings.Contains(log, "Type=forking") {
		t.Errorf("the refusal does not say what unit shape allows a live swap:\n%s", log)
	}
	if master := oneMasterOn(t, box, box.Builds.Old, before); master != before.MainPID {
		t.Fatalf("MainPID %d, want %d untouched", master, before.MainPID)
	}
	if strings.Contains(box.Sh("journalctl -u nginx --no-pager"), "changing binary") {
		t.Fatal("a USR2 reached nginx")
	}
}
