//go:build e2e

package engine

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/nginx-upgrade/nginx-upgrade/internal/lab/labtest"
	"github.com/nginx-upgrade/nginx-upgrade/internal/lab/testbed"
	"github.com/nginx-upgrade/nginx-upgrade/internal/nginx"
	"github.com/nginx-upgrade/nginx-upgrade/internal/upgrade"
	"github.com/nginx-upgrade/nginx-upgrade/internal/wait"
)

func TestMain(m *testing.M) { labtest.Main(m) }

// jsonStep is one step of `--json` output.
type jsonStep struct {
	Step       upgrade.Step `json:"step"`
	Result     string       `json:"result"`
	Message    string       `json:"message"`
	ElapsedMS  int64        `json:"elapsed_ms"`
	DurationMS int64        `json:"duration_ms"`
}

// ctlResult is one run of the command.
type ctlResult struct {
	code   int
	stdout string
	stderr string
	json   struct {
		UpgradeID    string             `json:"upgrade_id"`
		Outcome      upgrade.Outcome    `json:"outcome"`
		Error        string             `json:"error"`
		OldMasterPID int                `json:"old_master_pid"`
		NewMasterPID int                `json:"new_master_pid"`
		Reasons      []string           `json:"reasons"`
		Replaced     []string           `json:"replaced_paths"`
		OldBinary    upgrade.BinaryInfo `json:"old_binary"`
		Steps        []jsonStep         `json:"steps"`
	}
}

// ctl runs nginx-upgradectl with a private lock directory and a deadline.
func ctl(t *testing.T, args ...string) ctlResult {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	cmd := ctlCommand(ctx, t, args...)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	r := ctlResultOf(t, cmd, cmd.Run(), args)
	t.Logf("$ nginx-upgradectl %v → exit %d\n%s%s", args, r.code, r.stderr, r.stdout)
	return r
}

// ctlResultOf reads the run of cmd that ended with err: its exit code, its output (cmd's Stdout
// and Stderr are bytes.Buffers) and, when it printed JSON, what that says.
func ctlResultOf(t *testing.T, cmd *exec.Cmd, err error, args []string) ctlResult {
	t.Helper()
	stdout, stderr := cmd.Stdout.(*bytes.Buffer), cmd.Stderr.(*bytes.Buffer)
	r := ctlResult{code: cmd.ProcessState.ExitCode(), stdout: stdout.String(), stderr: stderr.String()}
	if err != nil && r.code < 0 {
		t.Fatalf("nginx-upgradectl %v: %v", args, err)
	}
	if bytes.HasPrefix(bytes.TrimSpace(stdout.Bytes()), []byte("{")) {
		if err := json.Unmarshal(stdout.Bytes(), &r.json); err != nil {
			t.Fatalf("nginx-upgradectl %v: bad JSON: %v\n%s", args, err, stdout.String())
		}
	}
	return r
}

func ctlCommand(ctx context.Context, t *testing.T, args ...string) *exec.Cmd {
	own := []string{"--lock-dir", lockDir(t), "--audit-log", auditLog(t)}
	switch args[0] {
	case "upgrade", "reload", "restore", "status": // kept builds and failed swaps: the test's own
		own = append(own, "--state-dir", stateDir(t))
	}
	args = append(args[:1:1], append(own, args[1:]...)...)
	return exec.CommandContext(ctx, labtest.CtlT(t), args...)
}

// stateDir is the test's own store of kept builds; none until a run makes it (see makeStore).
func stateDir(t *testing.T) string { return filepath.Join(lockDir(t), "state") }

// makeStore makes the test's store of kept builds as the package does at install, and returns its
// builds directory.
func makeStore(t *testing.T) string {
	t.Helper()
	builds := filepath.Join(stateDir(t), "builds")
	if err := os.MkdirAll(builds, 0o700); err != nil {
		t.Fatal(err)
	}
	return builds
}

// auditLog is the test's own audit trail file, so tests never write to the host's.
func auditLog(t *testing.T) string {
	return filepath.Join(lockDir(t), "audit.jsonl")
}

// lockDir is shared by all runs of one test, so two runs at once do collide.
func lockDir(t *testing.T) string {
	dir := filepath.Join(os.TempDir(), "nginx-upgradectl-test", strings.ReplaceAll(t.Name(), "/", "_"))
	if _, err := os.Stat(dir); os.IsNotExist(err) {
		os.MkdirAll(dir, 0o700)
		t.Cleanup(func() { os.RemoveAll(dir) })
	}
	return dir
}

// servingAlone asserts the end state of every run: exactly one master, pid, named by the pid
// file, no .oldbin, running build (compared by content, as inodes of copies differ), with
// all its workers.
func servingAlone(t *testing.T, n *testbed.Nginx, pid int, build string) {
	t.Helper()
	// A swap ends while its old master may still drain downloads (old-draining): wait for it.
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	wait.Until(ctx, 50*time.Millisecond, func() (bool, error) { return upgrade.ReadState(n.PidFile).State != upgrade.OldDraining, nil })
	s := upgrade.ReadState(n.PidFile)
	if s.State != upgrade.Running {
		t.Fatalf("state %s, want running (current: %v, oldbin: %v)", s.State, s.CurrentErr, s.OldbinErr)
	}
	if s.Current.Pid != pid {
		t.Fatalf("pid file names master %d, want %d", s.Current.Pid, pid)
	}
	if _, err := os.Stat(nginx.OldbinPath(n.PidFile)); !os.IsNotExist(err) {
		t.Fatalf("%s still exists", nginx.OldbinPath(n.PidFile))
	}
	running, err := nginx.RunningBinary(context.Background(), pid)
	if err != nil {
		t.Fatal(err)
	}
	want, err := nginx.InspectBinary(context.Background(), build)
	if err != nil {
		t.Fatal(err)
	}
	if running.SHA256 != want.SHA256 {
		t.Fatalf("master %d runs sha256 %.12s, want %s (sha256 %.12s)", pid, running.SHA256, build, want.SHA256)
	}
	serving, _, _ := nginx.Workers(pid)
	if len(serving) != n.Workers {
		t.Fatalf("master %d has %d serving workers, want %d", pid, len(serving), n.Workers)
	}
}

// elapsedAt returns when the first step matching step and result happened.
func (r ctlResult) elapsedAt(t *testing.T, step upgrade.Step, result string) time.Duration {
	t.Helper()
	return time.Duration(r.stepOf(t, step, result).ElapsedMS) * time.Millisecond
}

// stepOf returns the run's first step with that step and result.
func (r ctlResult) stepOf(t *testing.T, step upgrade.Step, result string) jsonStep {
	t.Helper()
	for _, s := range r.json.Steps {
		if s.Step == step && s.Result == result {
			return s
		}
	}
	t.Fatalf("no step %s %s in the result", step, result)
	return jsonStep{}
}

// scene is where most tests start: the older build serving, the newer one installed over it (as
// a package upgrade leaves things), traffic running.
type scene struct {
	b   testbed.Builds
	n   *testbed.Nginx
	old int // the master before the swap
	tr  *testbed.Traffic
}

func newScene(t *testing.T, traffic testbed.TrafficConfig) scene {
	t.Helper()
	b := testbed.BuildsT(t)
	n := testbed.StartT(t, b.Old, testbed.Config{})
	mustInstall(t, n, b.New, nil)
	return scene{b: b, n: n, old: n.Master(), tr: testbed.TrafficT(t, n.Site(), traffic)}
}

// waitState polls status until the nginx reaches state, for tests that act mid-run.
func waitState(t *testing.T, pidFile string, want upgrade.State) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := wait.Until(ctx, 10*time.Millisecond, func() (bool, error) { return upgrade.ReadState(pidFile).State == want, nil }); err != nil {
		t.Fatalf("state %s never reached (now %s)", want, upgrade.ReadState(pidFile).State)
	}
}

func writePidFile(t *testing.T, pid int) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "nginx.pid")
	if err := os.WriteFile(path, []byte(fmt.Sprintf("%d\n", pid)), 0o644); err != nil {
		t.Fatal(err)
	}
	return path
}

// deadPid returns the pid of a process that has exited and been reaped.
func deadPid(t *testing.T) int {
	t.Helper()
	cmd := exec.Command("true")
	if err := cmd.Run(); err != nil {
		t.Fatal(err)
	}
	return cmd.Process.Pid
}

// startSleep starts a process that is not nginx and returns its pid.
func startSleep(t *testing.T) int {
	t.Helper()
	cmd := exec.Command("sleep", "60")
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cmd.Process.Kill(); cmd.Wait() })
	return cmd.Process.Pid
}

func mustRemove(t *testing.T, path string) {
	t.Helper()
	if err := os.Remove(path); err != nil {
		t.Fatal(err)
	}
}

func mustInstall(t *testing.T, n *testbed.Nginx, build string, err error) {
	t.Helper()
	if err == nil {
		err = n.Install(build)
	}
	if err != nil {
		t.Fatal(err)
	}
}

func appendFile(t *testing.T, path, text string) {
	t.Helper()
	f, err := os.OpenFile(path, os.O_APPEND|os.O_WRONLY, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if _, err := f.WriteString(text); err != nil {
		t.Fatal(err)
	}
}
