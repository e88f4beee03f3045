//go:build e2e

package engine

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/nginx-upgrade/nginx-upgrade/internal/keep"
	"github.com/nginx-upgrade/nginx-upgrade/internal/lab/labtest"
	"github.com/nginx-upgrade/nginx-upgrade/internal/lab/testbed"
	"github.com/nginx-upgrade/nginx-upgrade/internal/nginx"
	"github.com/nginx-upgrade/nginx-upgrade/internal/upgrade"
)

func TestUpgradeUnderLoadLosesNothing(t *testing.T) {
	sc := newScene(t, testbed.TrafficConfig{})
	b, n, old, tr := sc.b, sc.n, sc.old, sc.tr
	builds := makeStore(t)

	r := ctl(t, "upgrade", "--pid-file", n.PidFile, "--soak", "2s", "--health", n.URL("/health"), "--json")

	traffic := labtest.NoLoss(t, tr)
	if r.code != 0 || r.json.Outcome != upgrade.Success {
		t.Fatalf("exit %d outcome %s, want 0 success", r.code, r.json.Outcome)
	}
	// The downloads began before the run, on the old workers; lasting past QUIT, they show the old
	// master let them finish.
	quit := r.elapsedAt(t, upgrade.StepQUIT, "sent")
	for _, d := range traffic.Downloads {
		if d.Duration <= quit {
			t.Errorf("download took %s, done before QUIT at %s: it proves nothing about draining; make it slower", d.Duration, quit)
		}
	}
	if r.json.OldMasterPID != old || r.json.NewMasterPID == old || r.json.NewMasterPID == 0 {
		t.Fatalf("masters %d → %d, want %d → a new one", r.json.OldMasterPID, r.json.NewMasterPID, old)
	}
	servingAlone(t, n, r.json.NewMasterPID, b.New)
	// The store existed (as the package makes it): the running build was copied beside the -T.
	sum, err := nginx.HashFile(b.Old)
	if err != nil {
		t.Fatal(err)
	}
	if msg := r.stepOf(t, upgrade.StepKeep, "ok").Message; !strings.Contains(msg, "copied while nginx -T ran") {
		t.Errorf("keep: %q, want the copy made while nginx -T ran", msg)
	}
	if got := r.json.OldBinary; got.SHA256 != sum || !strings.HasPrefix(got.Version, "nginx/") {
		t.Errorf("old_binary %+v, want sha256 %s and a version", got, sum)
	}
	if got, err := nginx.HashFile(filepath.Join(builds, sum)); err != nil || got != sum {
		t.Errorf("kept build %s: sha256 %s, %v; want the old build's", sum, got, err)
	}
	if kept, err := (keep.Store{Dir: stateDir(t)}).Get(sum); err != nil || !strings.HasPrefix(kept.Version, "nginx/") || kept.Path != n.Binary {
		t.Errorf("kept build's description %+v, %v; want the old build's path %s and its version", kept, err, n.Binary)
	}
}

func TestUpgradeWithNothingNewSignalsNothing(t *testing.T) {
	b := testbed.BuildsT(t)
	n := testbed.StartT(t, b.Old, testbed.Config{})
	old := n.Master()

	r := ctl(t, "upgrade", "--pid-file", n.PidFile, "--json")

	if r.code != 0 || r.json.Outcome != upgrade.Noop {
		t.Fatalf("exit %d outcome %s, want 0 noop", r.code, r.json.Outcome)
	}
	if sum, err := nginx.HashFile(b.Old); err != nil || r.json.OldBinary.SHA256 != sum {
		t.Errorf("old_binary %+v, want sha256 %s (%v)", r.json.OldBinary, sum, err)
	}
	servingAlone(t, n, old, b.Old)
}

func TestWorkersThatDieAreRolledBackWithoutLoss(t *testing.T) {
	b := testbed.BuildsT(t)
	n := testbed.StartT(t, b.Old, testbed.Config{})
	old := n.Master()
	broken, err := testbed.WorkersDie(t.TempDir(), b.New)
	if err != nil {
		t.Fatal(err)
	}
	if err := n.Install(broken); err != nil {
		t.Fatal(err)
	}
	tr := testbed.TrafficT(t, n.Site(), testbed.TrafficConfig{})

	r := ctl(t, "upgrade", "--pid-file", n.PidFile, "--soak", "1s", "--json")

	labtest.NoLoss(t, tr)
	if r.code != 1 || r.json.Outcome != upgrade.RolledBack {
		t.Fatalf("exit %d outcome %s, want 1 rolled_back", r.code, r.json.Outcome)
	}
	servingAlone(t, n, old, b.Old)
}

func TestFailingHealthURLIsRolledBackWithoutLoss(t *testing.T) {
	sc := newScene(t, testbed.TrafficConfig{})
	b, n, old, tr := sc.b, sc.n, sc.old, sc.tr

	r := ctl(t, "upgrade", "--pid-file", n.PidFile, "--soak", "1s", "--health", n.URL("/no-such-page"), "--json")

	labtest.NoLoss(t, tr)
	if r.code != 1 || r.json.Outcome != upgrade.RolledBack {
		t.Fatalf("exit %d outcome %s, want 1 rolled_back", r.code, r.json.Outcome)
	}
	servingAlone(t, n, old, b.Old)
}

func TestPauseThenCommit(t *testing.T) {
	sc := newScene(t, testbed.TrafficConfig{})
	b, n, tr := sc.b, sc.n, sc.tr

	r := ctl(t, "upgrade", "--pid-file", n.PidFile, "--pause", "--json")
	if r.code != 0 || r.json.Outcome != upgrade.Paused {
		t.Fatalf("upgrade --pause: exit %d outcome %s, want 0 paused", r.code, r.json.Outcome)
	}
	if st := ctl(t, "status", "--pid-file", n.PidFile); st.code != 3 {
		t.Fatalf("status while paused: exit %d, want 3", st.code)
	}
	if s := upgrade.ReadState(n.PidFile); s.State != upgrade.OldDrained {
		t.Fatalf("state %s while paused, want %s", s.State, upgrade.OldDrained)
	}
	c := ctl(t, "commit", "--pid-file", n.PidFile, "--json")

	labtest.NoLoss(t, tr)
	if c.code != 0 || c.json.Outcome != upgrade.Success {
		t.Fatalf("commit: exit %d outcome %s, want 0 success", c.code, c.json.Outcome)
	}
	servingAlone(t, n, r.json.NewMasterPID, b.New)
	if st := ctl(t, "status", "--pid-file", n.PidFile); st.code != 0 {
		t.Fatalf("status after commit: exit %d, want 0", st.code)
	}
}

func TestPauseThenRollback(t *testing.T) {
	sc := newScene(t, testbed.TrafficConfig{})
	b, n, old, tr := sc.b, sc.n, sc.old, sc.tr

	if r := ctl(t, "upgrade", "--pid-file", n.PidFile, "--pause"); r.code != 0 {
		t.Fatalf("upgrade --pause: exit %d, want 0", r.code)
	}
	r := ctl(t, "rollback", "--pid-file", n.PidFile, "--json")

	labtest.NoLoss(t, tr)
	if r.code != 0 || r.json.Outcome != upgrade.RolledBack {
		t.Fatalf("rollback: exit %d outcome %s, want 0 rolled_back", r.code, r.json.Outcome)
	}
	servingAlone(t, n, old, b.Old)
}

// The helper killed mid-soak leaves two masters; status names the state and rollback resolves it.
func TestKilledMidSoakThenStatusAndRollback(t *testing.T) {
	sc := newScene(t, testbed.TrafficConfig{})
	b, n, old, tr := sc.b, sc.n, sc.old, sc.tr

	duringSoak(t, n, "60s", func(_ upgrade.Snapshot, helper *os.Process) { helper.Signal(syscall.SIGKILL) })

	if st := ctl(t, "status", "--pid-file", n.PidFile, "--json"); st.code != 3 {
		t.Fatalf("status after kill: exit %d, want 3", st.code)
	}
	r := ctl(t, "rollback", "--pid-file", n.PidFile)

	labtest.NoLoss(t, tr)
	if r.code != 0 {
		t.Fatalf("rollback: exit %d, want 0", r.code)
	}
	servingAlone(t, n, old, b.Old)
}

// Ctrl-C (SIGINT) or a service manager's stop (SIGTERM) mid-soak rolls back, then exits 1.
func TestInterruptedRunRollsBack(t *testing.T) {
	for _, sig := range []syscall.Signal{syscall.SIGINT, syscall.SIGTERM} {
		t.Run(sig.String(), func(t *testing.T) {
			sc := newScene(t, testbed.TrafficConfig{WrkDuration: 6 * time.Second})
			b, n, old, tr := sc.b, sc.n, sc.old, sc.tr

			r := duringSoak(t, n, "60s", func(_ upgrade.Snapshot, helper *os.Process) { helper.Signal(sig) })

			labtest.NoLoss(t, tr)
			if r.code != 1 || r.json.Outcome != upgrade.RolledBack {
				t.Fatalf("upgrade interrupted by %s: exit %d outcome %s, want 1 rolled_back", sig, r.code, r.json.Outcome)
			}
			servingAlone(t, n, old, b.Old)
		})
	}
}

// The new master dying during the soak is a failed check like any other: roll back.
func TestNewMasterKilledDuringSoakRollsBack(t *testing.T) {
	sc := newScene(t, testbed.TrafficConfig{})
	b, n, old, tr := sc.b, sc.n, sc.old, sc.tr

	// QUIT, not KILL: a killed master leaves its workers serving; the point is that the master goes.
	r := duringSoak(t, n, "60s", func(s upgrade.Snapshot, _ *os.Process) { nginx.Signal(s.Current.Proc, unix.SIGQUIT) })

	labtest.NoLoss(t, tr)
	if r.code != 1 || r.json.Outcome != upgrade.RolledBack {
		t.Fatalf("upgrade: exit %d outcome %s, want 1 rolled_back", r.code, r.json.Outcome)
	}
	servingAlone(t, n, old, b.Old)
}

func TestTwoRunsAtOnce(t *testing.T) {
	b := testbed.BuildsT(t)
	n := testbed.StartT(t, b.Old, testbed.Config{})
	if err := n.Install(b.New); err != nil {
		t.Fatal(err)
	}
	first := ctlCommand(t.Context(), t, "upgrade", "--pid-file", n.PidFile, "--soak", "2s")
	if err := first.Start(); err != nil {
		t.Fatal(err)
	}
	waitState(t, n.PidFile, upgrade.OldDrained)

	second := ctl(t, "upgrade", "--pid-file", n.PidFile, "--json")

	if second.code != 2 || second.json.Outcome != upgrade.Refused {
		t.Fatalf("second run: exit %d outcome %s, want 2 refused", second.code, second.json.Outcome)
	}
	if err := first.Wait(); err != nil {
		t.Fatalf("first run: %v", err)
	}
	servingAlone(t, n, n.Master(), b.New)
}

// Bad inputs: a clear refusal, and nothing signalled: the same master, the same workers.
func TestBadInputsChangeNothing(t *testing.T) {
	b := testbed.BuildsT(t)
	cases := []struct {
		name    string
		prepare func(t *testing.T, n *testbed.Nginx) []string // returns extra flags
		code    int
		outcome upgrade.Outcome
		errHas  string // what the error must say, when it matters which check failed
	}{
		{"missing pid file", func(t *testing.T, n *testbed.Nginx) []string {
			return []string{"--pid-file", n.PidFile + ".missing"}
		}, 2, upgrade.Refused, ""},
		{"stale pid file", func(t *testing.T, n *testbed.Nginx) []string {
			return []string{"--pid-file", writePidFile(t, deadPid(t))}
		}, 2, upgrade.Refused, ""},
		{"pid of a process that is not nginx", func(t *testing.T, n *testbed.Nginx) []string {
			sleep := startSleep(t)
			return []string{"--pid-file", writePidFile(t, sleep)}
		}, 2, upgrade.Refused, ""},
		{"--binary that is not what nginx re-executes", func(t *testing.T, n *testbed.Nginx) []string {
			return []string{"--binary", b.New}
		}, 2, upgrade.Refused, ""},
		{"pid file that is a symlink", func(t *testing.T, n *testbed.Nginx) []string {
			link := filepath.Join(t.TempDir(), "nginx.pid")
			if err := os.Symlink(n.PidFile, link); err != nil {
				t.Fatal(err)
			}
			return []string{"--pid-file", link}
		}, 2, upgrade.Refused, ""},
		{"new binary writable by others", func(t *testing.T, n *testbed.Nginx) []string {
			mustInstall(t, n, b.New, nil)
			if err := os.Chmod(n.Binary, 0o777); err != nil {
				t.Fatal(err)
			}
			return nil
		}, 2, upgrade.Refused, ""},
		{"new binary owned by a user", func(t *testing.T, n *testbed.Nginx) []string {
			mustInstall(t, n, b.New, nil)
			if err := os.Chown(n.Binary, 65534, 65534); err != nil {
				t.Fatal(err)
			}
			return nil
		}, 2, upgrade.Refused, ""},
		{"missing new binary", func(t *testing.T, n *testbed.Nginx) []string {
			mustRemove(t, n.Binary)
			return nil
		}, 1, upgrade.Rejected, ""},
		{"truncated new binary", func(t *testing.T, n *testbed.Nginx) []string {
			bin, err := testbed.Truncated(t.TempDir(), b.New)
			mustInstall(t, n, bin, err)
			return nil
		}, 1, upgrade.Rejected, ""},
		{"configuration the new binary rejects", func(t *testing.T, n *testbed.Nginx) []string {
			mustInstall(t, n, b.New, nil)
			appendFile(t, n.Conf(), "no_such_directive on;\n")
			return nil
		}, 1, upgrade.Rejected, ""},
		{"new binary that cannot say its version", func(t *testing.T, n *testbed.Nginx) []string {
			installWrapper(t, n, `[ "$1" = -v ] && { echo "nginx: broken" >&2; exit 1; }`, b.New)
			return nil
		}, 1, upgrade.Rejected, "-v: exit status 1: nginx: broken"},
		// Preflight runs the new build's -v beside its -T, off the swap's path: here -v answers
		// only once -T has started, and the verdict is -T's.
		{"configuration the new binary rejects, its -v waiting for its -T", func(t *testing.T, n *testbed.Nginx) []string {
			mark := filepath.Join(t.TempDir(), "T-started")
			installWrapper(t, n, fmt.Sprintf(`case "$1" in
-T) touch %[1]s ;;
-v) i=0; until [ -e %[1]s ]; do i=$((i+1)); [ $i -gt 100 ] && { echo "-v ran alone" >&2; exit 1; }; sleep 0.05; done ;;
esac`, mark), b.New)
			appendFile(t, n.Conf(), "no_such_directive on;\n")
			return nil
		}, 1, upgrade.Rejected, "configuration test failed"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			n := testbed.StartT(t, b.Old, testbed.Config{})
			old := n.Master()
			workers, _, _ := nginx.Workers(old)
			// A run that gets as far as the -T copies the running build into the store meanwhile:
			// it must leave nothing there.
			builds := makeStore(t)
			args := append([]string{"upgrade", "--pid-file", n.PidFile, "--json"}, c.prepare(t, n)...)

			r := ctl(t, args...)

			if r.code != c.code || r.json.Outcome != c.outcome {
				t.Fatalf("exit %d outcome %s, want %d %s", r.code, r.json.Outcome, c.code, c.outcome)
			}
			if r.json.Error == "" || !strings.Contains(r.json.Error, c.errHas) {
				t.Errorf("error %q, want one that says %q", r.json.Error, c.errHas)
			}
			after, _, _ := nginx.Workers(old)
			if n.Master() != old || len(after) != len(workers) || after[0].Pid != workers[0].Pid {
				t.Fatalf("something was signalled: master %d → %d, workers %v → %v", old, n.Master(), workers, after)
			}
			if _, err := os.Stat(nginx.OldbinPath(n.PidFile)); !os.IsNotExist(err) {
				t.Fatalf(".oldbin exists: a USR2 was sent")
			}
			if left, err := os.ReadDir(builds); err != nil || len(left) > 0 {
				t.Fatalf("the store of kept builds holds %v (%v), want nothing", left, err)
			}
		})
	}
}

// installWrapper installs as the new binary a shell script that runs shell, then the build.
func installWrapper(t *testing.T, n *testbed.Nginx, shell, build string) {
	t.Helper()
	script := filepath.Join(t.TempDir(), "nginx")
	text := fmt.Sprintf("#!/bin/sh\n%s\nexec %s \"$@\"\n", shell, build)
	if err := os.WriteFile(script, []byte(text), 0o755); err != nil {
		t.Fatal(err)
	}
	mustInstall(t, n, script, nil)
}

// nginx with `daemon off` ignores USR2; a script that goes on to WINCH and QUIT takes the site
// down. The helper must see this before sending anything.
func TestForegroundNginxIsRefusedBeforeAnySignal(t *testing.T) {
	b := testbed.BuildsT(t)
	n := testbed.StartT(t, b.Old, testbed.Config{Foreground: true})
	old := n.Master()
	if err := n.Install(b.New); err != nil {
		t.Fatal(err)
	}
	tr := testbed.TrafficT(t, n.Site(), testbed.TrafficConfig{WrkDuration: 3 * time.Second})

	r := ctl(t, "upgrade", "--pid-file", n.PidFile, "--json")

	labtest.NoLoss(t, tr)
	if r.code != 2 || r.json.Outcome != upgrade.Refused {
		t.Fatalf("exit %d outcome %s, want 2 refused", r.code, r.json.Outcome)
	}
	if n.Master() != old {
		t.Fatalf("master changed")
	}
}

// The load assertion can fail: a script that swaps without checking (USR2, then WINCH and QUIT to
// the old master as soon as the new one exists) takes the site down with a build whose workers
// die, and the traffic counts it. This is the outage nginx-upgradectl exists to prevent.
func TestNaiveSwapOfBrokenBuildIsCaughtByTheLoad(t *testing.T) {
	b := testbed.BuildsT(t)
	n := testbed.StartT(t, b.Old, testbed.Config{})
	old := upgrade.ReadState(n.PidFile).Current.Proc
	broken, err := testbed.WorkersDie(t.TempDir(), b.New)
	if err != nil {
		t.Fatal(err)
	}
	if err := n.Install(broken); err != nil {
		t.Fatal(err)
	}
	tr := testbed.TrafficT(t, n.Site(), testbed.TrafficConfig{WrkDuration: 4 * time.Second})

	for _, sig := range []unix.Signal{unix.SIGUSR2, unix.SIGWINCH, unix.SIGQUIT} {
		if err := nginx.Signal(old, sig); err != nil {
			t.Fatal(err)
		}
		if sig == unix.SIGUSR2 {
			waitState(t, n.PidFile, upgrade.BothServing)
		}
	}

	r := tr.Stop()
	t.Logf("traffic:\n%s", r)
	if r.Stream.Failed == 0 {
		t.Fatalf("the open-loop stream counted no failures although nothing served")
	}
}
