//go:build e2e

package systemd

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/nginx-upgrade/nginx-upgrade/internal/lab/labtest"
	"github.com/nginx-upgrade/nginx-upgrade/internal/lab/nspawn"
	"github.com/nginx-upgrade/nginx-upgrade/internal/lab/testbed"
)

// A release upgrade restarts dbus (every connection to the bus drops) and re-executes systemd
// (for a moment nothing answers for org.freedesktop.systemd1) while nginx serves. Here each is
// done back to back from the soak until the run exits, so the hand-over, QUIT and the check after
// it all meet it, under load, under Debian's stock nginx.service. The run must retry within its
// deadline and succeed: the new master is MainPID, the only master, nginx.service never
// restarted, 0 failed requests. The run must also say it met calls that got no answer; without
// that, the test proved nothing. One box, two swaps: NEW, then OLD.
func TestSwapOutlastsABusRestartAndASystemdReexec(t *testing.T) {
	labtest.EachRelease(t, testSwapOutlastsABusRestartAndASystemdReexec)
}

func testSwapOutlastsABusRestartAndASystemdReexec(t *testing.T, rel nspawn.Release) {
	box := boxFor(t, rel, stockUnit)
	before := box.Unit("nginx")
	to := box.Builds.New
	for _, c := range []struct{ name, act string }{
		// dbus.service refuses a sixth start within 10 s: reset-failed lets it restart back to back.
		{"systemctl restart dbus", "systemctl reset-failed dbus.service dbus.socket; systemctl restart dbus"},
		{"systemctl daemon-reexec", "systemctl daemon-reexec"},
	} {
		t.Run(c.name, func(t *testing.T) {
			box.Copy(to, "/usr/sbin/nginx")
			tr := testbed.TrafficT(t, box.Site, testbed.TrafficConfig{WrkDuration: 12 * time.Second})
			done := startUpgrade(t, box, "3s")
			untilSoak(t, box, done)
			// pgrep matches the 15 characters of the run's process name.
			labtest.BoxRun(t, box, fmt.Sprintf(`n=0; while pgrep -x nginx-upgradect >/dev/null; do %s; n=$((n+1)); done; echo "$n times"`, c.act))
			out := runOutput(t, done)
			box.Sh("systemctl is-active dbus.service || { systemctl reset-failed dbus.service dbus.socket; systemctl start dbus.service; }")

			labtest.NoLoss(t, tr)
			if !strings.Contains(out, "rc=0") || !strings.Contains(out, "outcome      success") {
				t.Fatalf("the run did not succeed")
			}
			labtest.MustContain(t, "the run", out, "supervisor tracks new master", "D-Bus did not answer")
			labtest.OneMasterOn(t, box, to, before)
			to = map[string]string{box.Builds.New: box.Builds.Old, box.Builds.Old: box.Builds.New}[to]
		})
	}
}
