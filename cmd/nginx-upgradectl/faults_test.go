package main

import (
	"bufio"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/nginx-upgrade/nginx-upgrade/internal/nginx"
	"github.com/nginx-upgrade/nginx-upgrade/internal/testbed"
	"github.com/nginx-upgrade/nginx-upgrade/internal/upgrade"
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
			noLoss(t, tr)
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
	if s := upgrade.Observe(n.PidFile); s.Old != nil {
		t.Logf("%s: left in state %s (old %d, new %d)", kp.name, s.State, s.Old.Pid, pidOf(s.Current))
	}
}

func pidOf(m *nginx.Master) int {
	if m == nil {
		return 0
	}
	return m.Pid
}
