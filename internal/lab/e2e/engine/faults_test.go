//go:build e2e

package engine

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"os"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/nginx-upgrade/nginx-upgrade/internal/lab/labtest"
	"github.com/nginx-upgrade/nginx-upgrade/internal/lab/testbed"
	"github.com/nginx-upgrade/nginx-upgrade/internal/nginx"
	"github.com/nginx-upgrade/nginx-upgrade/internal/upgrade"
	"github.com/nginx-upgrade/nginx-upgrade/internal/wait"
)

// killPoint is a moment to SIGKILL the helper: right after it prints the step line.
type killPoint struct {
	name    string
	step    upgrade.Step
	result  string
	message string // substring, when the step line repeats
}

var killPoints = []killPoint{
	{"after USR2 sent", upgrade.StepUSR2, "sent", ""},
	{"new master seen", upgrade.StepNewMaster, "ok", ""},
	{"workers up", upgrade.StepWorkers, "ok", ""},
	{"WINCH sent", upgrade.StepWINCH, "sent", ""},
	{"mid-soak", upgrade.StepHealth, "ok", "serving alone"},
	{"QUIT sent", upgrade.StepQUIT, "sent", ""},
}

// A helper SIGKILLed at any step leaves a state status names and rollback or commit resolves to
// one master, with no request lost: nothing depends on the helper staying alive.
func TestKilledAtEveryStepThenResolved(t *testing.T) {
	for _, resolve := range []string{"rollback", "commit"} {
		t.Run(resolve, func(t *testing.T) {
			b := testbed.BuildsT(t)
			n := testbed.StartT(t, b.Old, testbed.Config{})
			tr := testbed.TrafficT(t, n.Site(), testbed.TrafficConfig{WrkDuration: 45 * time.Second})
			builds := map[bool]string{false: b.Old, true: b.New}
			onNew := false
			for _, kp := range killPoints {
				if err := n.Install(builds[!onNew]); err != nil {
					t.Fatal(err)
				}
				killAt(t, n, kp)
				st := ctl(t, "status", "--pid-file", n.PidFile)
				if st.code != 3 && !(kp.step == upgrade.StepQUIT && st.code == 0) {
					t.Fatalf("%s: status exit %d, want 3 (half-done)", kp.name, st.code)
				}
				r := ctl(t, resolve, "--pid-file", n.PidFile, "--json")
				if r.code != 0 {
					t.Fatalf("%s: %s exit %d, want 0", kp.name, resolve, r.code)
				}
				// After QUIT the old master is leaving whatever is asked: only commit is possible.
				if resolve == "commit" || kp.step == upgrade.StepQUIT {
					onNew = !onNew
				}
				servingAlone(t, n, n.Master(), builds[onNew])
				t.Logf("%s: killed, status exit %d, %s → %s, one master %d", kp.name, st.code, resolve, r.json.Outcome, n.Master())
			}
			labtest.NoLoss(t, tr)
		})
	}
}

// killAt runs an upgrade and SIGKILLs it as soon as it reports kp.
func killAt(t *testing.T, n *testbed.Nginx, kp killPoint) {
	t.Helper()
	cmd := ctlCommand(t.Context(), t, "upgrade", "--pid-file", n.PidFile, "--soak", "60s")
	out, err := cmd.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	sc := bufio.NewScanner(out)
	for sc.Scan() {
		f := strings.Fields(sc.Text())
		if len(f) >= 3 && f[1] == string(kp.step) && f[2] == kp.result && strings.Contains(sc.Text(), kp.message) {
			cmd.Process.Signal(syscall.SIGKILL)
			break
		}
	}
	cmd.Wait()
	if cmd.ProcessState.ExitCode() != -1 {
		t.Fatalf("%s: the helper was not killed (exit %d): the step never came", kp.name, cmd.ProcessState.ExitCode())
	}
	if kp.step == upgrade.StepUSR2 {
		// Once nginx's handler has taken USR2 it is no longer pending, and until the master's
		// loop acts on it (renames the pid file to .oldbin, forks) nothing outside shows it: on
		// a busy machine that can take milliseconds. The claim is about the state nginx is left
		// in, so wait until it has acted.
		ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
		defer cancel()
		if err := wait.Until(ctx, time.Millisecond, func() (bool, error) { return upgrade.ReadState(n.PidFile).Old != nil, nil }); err != nil {
			t.Fatalf("%s: nginx never acted on the USR2 the helper reported sending: %v", kp.name, err)
		}
	}
	if s := upgrade.ReadState(n.PidFile); s.Old != nil {
		t.Logf("%s: left in state %s (old %d, new %d)", kp.name, s.State, s.Old.Pid, pidOf(s.Current))
	}
}

func pidOf(m *nginx.Master) int {
	if m == nil {
		return 0
	}
	return m.Pid
}

// duringSoak runs an upgrade with a soak of soak, calls act once the old master is drained (the
// new build serves alone, the old master waits) with what was seen and the helper's process, and
// returns the run's result (no JSON when act killed the helper).
func duringSoak(t *testing.T, n *testbed.Nginx, soak string, act func(upgrade.Snapshot, *os.Process)) ctlResult {
	t.Helper()
	cmd := ctlCommand(t.Context(), t, "upgrade", "--pid-file", n.PidFile, "--soak", soak, "--json")
	var stdout, stderr strings.Builder
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(t.Context(), 30*time.Second)
	defer cancel()
	exited := make(chan struct{})
	go func() { cmd.Wait(); close(exited) }()
	err := wait.Until(ctx, 10*time.Millisecond, func() (bool, error) {
		select {
		case <-exited:
			return false, errors.New("the run ended before the soak")
		default:
		}
		return upgrade.ReadState(n.PidFile).State == upgrade.OldDrained, nil
	})
	if err != nil {
		cmd.Process.Kill()
		<-exited
		t.Fatalf("old-drained never reached (%v; now %s); the run said:\n%s%s", err, upgrade.ReadState(n.PidFile).State, stdout.String(), stderr.String())
	}
	act(upgrade.ReadState(n.PidFile), cmd.Process)
	<-exited
	r := ctlResult{code: cmd.ProcessState.ExitCode(), stdout: stdout.String(), stderr: stderr.String()}
	if r.stdout != "" {
		if err := json.Unmarshal([]byte(r.stdout), &r.json); err != nil {
			t.Fatalf("upgrade --json: %v\n%s%s", err, r.stdout, r.stderr)
		}
	}
	t.Logf("upgrade → exit %d %s: %s", r.code, r.json.Outcome, lastMessage(r))
	return r
}

func lastMessage(r ctlResult) string {
	if len(r.json.Steps) == 0 {
		return r.stderr
	}
	return r.json.Steps[len(r.json.Steps)-1].Message
}

// The old master killed after WINCH leaves nothing to roll back to: the new build is kept, the
// run says so, and it succeeds only because the new master verifies clean.
func TestOldMasterKilledDuringSoakKeepsTheNewBuild(t *testing.T) {
	sc := newScene(t, testbed.TrafficConfig{})
	b, n, tr := sc.b, sc.n, sc.tr

	r := duringSoak(t, n, "30s", func(s upgrade.Snapshot, _ *os.Process) { syscall.Kill(s.Old.Pid, syscall.SIGKILL) })

	labtest.NoLoss(t, tr)
	if r.code != 0 || !strings.Contains(lastMessage(r), "exited during the soak") {
		t.Fatalf("exit %d, message %q: want 0 and a run that says the old master died", r.code, lastMessage(r))
	}
	servingAlone(t, n, r.json.NewMasterPID, b.New)
}

// The binary replaced on disk again mid-run: the tested build serves, and the run says to go again.
func TestBinaryReplacedAgainDuringTheRun(t *testing.T) {
	sc := newScene(t, testbed.TrafficConfig{})
	b, n, tr := sc.b, sc.n, sc.tr

	r := duringSoak(t, n, "2s", func(upgrade.Snapshot, *os.Process) { mustInstall(t, n, b.Old, nil) })

	labtest.NoLoss(t, tr)
	if r.code != 0 || !strings.Contains(lastMessage(r), "changed on disk during the run") {
		t.Fatalf("exit %d, message %q: want 0 and a run that says the binary changed", r.code, lastMessage(r))
	}
	servingAlone(t, n, r.json.NewMasterPID, b.New)
	if st := upgrade.ReadStatus(t.Context(), n.PidFile); !st.UpgradePending {
		t.Fatal("status does not show the binary on disk differs from the running one")
	}
}

// The pid file deleted mid-run: nginx serves on, and the run needs an operator, saying how to
// put the file back (systemd's PIDFile= and every tool rely on it).
func TestPidFileDeletedDuringTheRun(t *testing.T) {
	sc := newScene(t, testbed.TrafficConfig{})
	n, tr := sc.n, sc.tr

	r := duringSoak(t, n, "2s", func(upgrade.Snapshot, *os.Process) { mustRemove(t, n.PidFile) })

	labtest.NoLoss(t, tr)
	if r.code != 3 || !strings.Contains(lastMessage(r), "write it back") {
		t.Fatalf("exit %d, message %q: want 3 and how to restore the pid file", r.code, lastMessage(r))
	}
}

// nginx stopped from outside mid-run: nothing is left to serve or roll back to; the run ends
// within its deadlines, needing an operator, instead of hanging.
func TestNginxStoppedFromOutsideDuringTheRun(t *testing.T) {
	b := testbed.BuildsT(t)
	n := testbed.StartT(t, b.Old, testbed.Config{})
	mustInstall(t, n, b.New, nil)

	start := time.Now()
	r := duringSoak(t, n, "30s", func(s upgrade.Snapshot, _ *os.Process) {
		syscall.Kill(s.Current.Pid, syscall.SIGQUIT)
		syscall.Kill(s.Old.Pid, syscall.SIGQUIT)
	})

	if r.code != 3 || r.json.Outcome != upgrade.NeedsOperator {
		t.Fatalf("exit %d outcome %s, want 3 needs_operator", r.code, r.json.Outcome)
	}
	if took := time.Since(start); took > 20*time.Second {
		t.Fatalf("the run took %s after nginx stopped; it must not wait out the soak", took)
	}
	if s := upgrade.ReadState(n.PidFile); s.State != upgrade.Stopped {
		t.Fatalf("state %s, want stopped", s.State)
	}
}
