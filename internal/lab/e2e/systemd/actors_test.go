//go:build e2e

package systemd

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

// Other actors signal nginx while a swap soaks, under load, under Debian's stock nginx.service:
// certbot's deploy hook (`systemctl reload nginx`: ExecReload's `nginx -s reload` HUPs the pid in
// /run/nginx.pid, the new master by then), logrotate's postrotate (`invoke-rc.d nginx rotate`:
// USR1 to the same pid, after the log was renamed), and a HUP to the old master (a unit whose
// reload is `kill -HUP $MAINPID`: systemd tracks the old master until the hand-over). Each swap
// must end with 0 failed requests, one master, MainPID on it, and an outcome that names what
// happened. One box, three swaps in a row: NEW, then OLD, then NEW again.
func TestOtherActorsDuringASwapUnderSystemd(t *testing.T) {
	box := boxFor(t, nspawn.Bookworm, stockUnit)
	before := box.Unit("nginx")
	to := box.Builds.New
	for _, c := range []struct {
		name  string
		act   string // run in the box once the old workers are drained, during the soak
		check string // run in the box right after act; its output is checked by want
		want  string // a step line the run prints
	}{
		{"certbot's systemctl reload nginx", "systemctl reload nginx", "",
			"reloaded its configuration during the soak: new generation of"},
		// Proof that USR1 reached the new master and was acted on: its workers reopen the log
		// at its path, and the run goes on with the very same workers.
		{"logrotate's USR1", "mv /var/log/nginx/access.log /var/log/nginx/access.log.1 && install -m 640 -o www-data -g adm /dev/null /var/log/nginx/access.log && invoke-rc.d nginx rotate",
			`for i in $(seq 50); do w=$(pgrep -P "$(cat /run/nginx.pid)" -fx 'nginx: worker process' | head -n1); [ -n "$w" ] && ls -l /proc/$w/fd | grep -q 'access.log$' && { echo reopened; exit 0; }; sleep 0.1; done; echo not reopened`,
			""},
		// nginx starts an old master's workers again on HUP while its new master lives: the run
		// must drain it again, so that it does not serve beside the new build for the rest of
		// the soak. Checked 2 s after the HUP, with the soak (8 s) still running.
		{"HUP to the old master", `kill -HUP "$(cat /run/nginx.pid.oldbin)"`,
			`sleep 2; old=$(cat /run/nginx.pid.oldbin); echo "old master alive: $(test -d /proc/$old && echo yes), serving workers: $(pgrep -P "$old" -fx 'nginx: worker process' | wc -l)"`,
			"serves again with"},
	} {
		t.Run(c.name, func(t *testing.T) {
			box.Copy(to, "/usr/sbin/nginx")
			tr := testbed.TrafficT(t, box.Site, testbed.TrafficConfig{WrkDuration: 14 * time.Second})
			done := startUpgrade(t, box, "8s")
			untilSoak(t, box, done)
			workers := box.Sh(`pgrep -P "$(cat /run/nginx.pid)" -fx 'nginx: worker process' | sort`)
			labtest.BoxRun(t, box, c.act)
			var checked string
			if c.check != "" {
				checked, _ = labtest.BoxRun(t, box, "("+c.check+")")
			}
			out := runOutput(t, done)

			labtest.NoLoss(t, tr)
			if !strings.Contains(out, "rc=0") || !strings.Contains(out, "outcome      success") {
				t.Fatalf("the run did not succeed")
			}
			if c.want != "" && !strings.Contains(out, c.want) {
				t.Errorf("the run does not say %q", c.want)
			}
			if strings.Contains(out, "reloaded its configuration") && c.want == "" {
				t.Errorf("the run saw a configuration reload that did not happen")
			}
			master := labtest.OneMasterOn(t, box, to, before)
			switch c.name {
			case "logrotate's USR1":
				if !strings.Contains(checked, "reopened") {
					t.Errorf("the new master's workers did not reopen the log: USR1 never arrived")
				}
				if after := box.Sh(fmt.Sprintf("pgrep -P %d -fx 'nginx: worker process' | sort", master)); after != workers {
					t.Errorf("USR1 changed the new master's workers: %q → %q", workers, after)
				}
			case "HUP to the old master":
				if !strings.Contains(checked, "old master alive: yes, serving workers: 0") {
					t.Errorf("2 s after the HUP the old master must be alive and drained again: %s", checked)
				}
			}
			if to == box.Builds.New {
				to = box.Builds.Old
			} else {
				to = box.Builds.New
			}
		})
	}
}

// Debian's ExecReload while a swap starts: `nginx -s reload` reads /run/nginx.pid, which nginx
// renames .oldbin at USR2 and the new master writes once it is up. A reload asked in that window
// fails and changes nothing; before it, it reloads the old master; after, the new one. Whatever
// the moment, the swap must end right. The reloads here are fired back to back from before USR2
// until the soak.
func TestReloadsThroughoutASwapUnderSystemd(t *testing.T) {
	box := boxFor(t, nspawn.Bookworm, stockUnit)
	before := box.Unit("nginx")
	box.Copy(box.Builds.New, "/usr/sbin/nginx")
	tr := testbed.TrafficT(t, box.Site, testbed.TrafficConfig{})
	ctx, cancel := context.WithCancel(t.Context())
	reloads := make(chan string, 1)
	go func() {
		out, _ := box.Shell(ctx, `ok=0 failed=0; for i in $(seq 40); do if systemctl reload nginx 2>/dev/null; then ok=$((ok+1)); else failed=$((failed+1)); fi; sleep 0.05; done; echo "reloads ok=$ok failed=$failed"`)
		reloads <- out
	}()
	out, rc := labtest.BoxRun(t, box, fmt.Sprintf("nginx-upgradectl upgrade --unit nginx.service --soak 3s --health %s/health", box.Site.Base))
	r := <-reloads
	cancel()
	t.Logf("%s", r)

	labtest.NoLoss(t, tr)
	if rc != 0 {
		t.Fatalf("the run exited %d", rc)
	}
	labtest.MustContain(t, "the run", out, "outcome      success")
	labtest.OneMasterOn(t, box, box.Builds.New, before)
}

// A reload in flight as the run starts: the old master's previous generation has not yet taken
// its shutdown signal when the run counts the old workers, so it counts both generations, and
// under Debian's `worker_processes auto` expects the new master to start as many. Made to last
// here by stopping the old workers (SIGSTOP) before `systemctl reload nginx` and letting them go
// (SIGCONT) once the run has counted: the new master settles with one generation, the old master
// is back to one, and the run must go on with that count instead of rolling back. The load
// starts once the workers run again (a stopped worker can be handed connections it cannot serve).
func TestReloadInFlightAsTheRunStartsUnderSystemd(t *testing.T) {
	box := boxFor(t, nspawn.Bookworm, stockUnit)
	before := box.Unit("nginx")
	box.Copy(box.Builds.New, "/usr/sbin/nginx")
	n := len(strings.Fields(box.Sh(fmt.Sprintf("pgrep -P %d -fx 'nginx: worker process'", before.MainPID))))
	labtest.BoxRun(t, box, fmt.Sprintf(`pgrep -P %d -fx 'nginx: worker process' >/tmp/stopped && kill -STOP $(cat /tmp/stopped) && systemctl reload nginx && for i in $(seq 100); do [ "$(pgrep -P %[1]d -fx 'nginx: worker process' | wc -l)" -ge %d ] && break; sleep 0.1; done`, before.MainPID, 2*n))
	done := startUpgrade(t, box, "2s")
	counted := fmt.Sprintf("runs /usr/sbin/nginx with %d workers", 2*n)
	if out := box.Sh(fmt.Sprintf(`for i in $(seq 150); do journalctl -t nginx-upgradectl -o cat --no-pager | grep -qF %q && { echo counted; exit 0; }; sleep 0.1; done; echo never counted`, counted)); !strings.Contains(out, "counted\n") || strings.Contains(out, "never") {
		box.Sh("kill -CONT $(cat /tmp/stopped)")
		t.Fatalf("the run never counted %d old workers (%s): the test proves nothing\n%s", 2*n, out, <-done)
	}
	box.Sh("kill -CONT $(cat /tmp/stopped)")
	tr := testbed.TrafficT(t, box.Site, testbed.TrafficConfig{WrkDuration: 5 * time.Second})
	out := runOutput(t, done)

	labtest.NoLoss(t, tr)
	if !strings.Contains(out, "rc=0") {
		t.Fatalf("the run did not succeed")
	}
	labtest.MustContain(t, "the run", out, fmt.Sprintf("serves with %d workers now, not the %d counted before USR2", n, 2*n))
	labtest.OneMasterOn(t, box, box.Builds.New, before)
}

// startUpgrade starts `nginx-upgradectl upgrade` in box in the background, with the soak given;
// its output, with a last line rc=N, arrives on the channel.
func startUpgrade(t *testing.T, box *testbed.Box, soak string) <-chan string {
	done := make(chan string, 1)
	go func() {
		out, err := box.Shell(t.Context(), fmt.Sprintf("nginx-upgradectl upgrade --unit nginx.service --soak %s --health %s/health 2>&1; echo rc=$?", soak, box.Site.Base))
		if err != nil {
			out += "\n" + err.Error()
		}
		done <- out
	}()
	return done
}

// untilSoak waits until the run startUpgrade started has drained the old master (.oldbin names a
// master without serving workers): it soaks from then on.
func untilSoak(t *testing.T, box *testbed.Box, done <-chan string) {
	t.Helper()
	if out := box.Sh(`for i in $(seq 150); do old=$(cat /run/nginx.pid.oldbin 2>/dev/null) && [ -n "$old" ] && ! pgrep -P "$old" -fx 'nginx: worker process' >/dev/null && { echo drained; exit 0; }; sleep 0.1; done; echo never drained`); !strings.Contains(out, "drained\n") || strings.Contains(out, "never") {
		t.Fatalf("the swap never reached the soak: %s\n%s", out, <-done)
	}
}

// runOutput waits, bounded, for the run startUpgrade started, and logs its output.
func runOutput(t *testing.T, done <-chan string) string {
	t.Helper()
	select {
	case out := <-done:
		t.Logf("nginx-upgradectl upgrade:\n%s", out)
		return out
	case <-time.After(2 * time.Minute):
		t.Fatal("the run did not end within 2 minutes")
	}
	return ""
}
