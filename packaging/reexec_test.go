package packaging

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"
)

// The hook's re-exec after a package run (hook post-invoke apt|dpkg, from apt's DPkg::Post-Invoke
// and dpkg's post-invoke) and from needrestart's restart.d (hook needrestart), against a real
// process standing in for nginx's master: a copy of sleep run as the root's /usr/sbin/nginx, with
// a copy of a small shared library preloaded, deleted on disk when the test wants it stale (the
// kernel then shows it " (deleted)" in /proc/PID/maps, as after a package run renamed a new
// library over it).

// fakeMaster starts the stand-in master and points the root's pid file at it; stale deletes
// the preloaded library's file.
type fakeMaster struct {
	pid int
	lib string
}

func startFakeMaster(t *testing.T, r hookRoot) fakeMaster {
	t.Helper()
	sleep, err := exec.LookPath("sleep")
	if err != nil {
		t.Fatal(err)
	}
	bin := filepath.Join(r.dir, "usr/sbin/nginx")
	copyFile(t, sleep, bin, 0o755)
	libs, _ := filepath.Glob("/lib/x86_64-linux-gnu/libdl.so.2")
	if len(libs) == 0 {
		libs, _ = filepath.Glob("/lib*/libdl.so.2")
	}
	if len(libs) == 0 {
		t.Skip("no libdl.so.2 to preload")
	}
	lib := filepath.Join(t.TempDir(), "libngx-test.so.1")
	copyFile(t, libs[0], lib, 0o644)
	cmd := exec.Command(bin, "300")
	cmd.Env = []string{"LD_PRELOAD=" + lib}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cmd.Process.Kill(); cmd.Wait() })
	m := fakeMaster{pid: cmd.Process.Pid, lib: lib}
	deadline := time.Now().Add(5 * time.Second)
	for {
		maps, _ := os.ReadFile(fmt.Sprintf("/proc/%d/maps", m.pid))
		if strings.Contains(string(maps), lib) {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the stand-in master never mapped %s:\n%s", lib, maps)
		}
		time.Sleep(10 * time.Millisecond)
	}
	if err := os.WriteFile(r.pidFile, fmt.Appendf(nil, "%d\n", m.pid), 0o644); err != nil {
		t.Fatal(err)
	}
	return m
}

func (m fakeMaster) stale(t *testing.T) {
	t.Helper()
	if err := os.Remove(m.lib); err != nil {
		t.Fatal(err)
	}
}

func copyFile(t *testing.T, from, to string, mode os.FileMode) {
	t.Helper()
	b, err := os.ReadFile(from)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.MkdirAll(filepath.Dir(to), 0o755); err != nil {
		t.Fatal(err)
	}
	os.Remove(to)
	if err := os.WriteFile(to, b, mode); err != nil {
		t.Fatal(err)
	}
}

// runEnv is run with more environment.
func (r hookRoot) runEnv(t *testing.T, env []string, fakeRC int, args ...string) (string, int) {
	t.Helper()
	hook, err := filepath.Abs("hook")
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command("sh", append([]string{hook}, args...)...)
	cmd.Dir = t.TempDir()
	cmd.Env = append([]string{"PATH=" + filepath.Join(r.dir, "fakebin") + ":/usr/sbin:/usr/bin:/sbin:/bin", "NGINX_UPGRADE_HOOK_ROOT=" + r.dir, fmt.Sprintf("FAKE_RC=%d", fakeRC)}, env...)
	out, err := cmd.CombinedOutput()
	code := 0
	if ee, ok := err.(*exec.ExitError); ok {
		code = ee.ExitCode()
	} else if err != nil {
		t.Fatal(err)
	}
	t.Logf("$ %s hook %s → exit %d\n%s", strings.Join(env, " "), strings.Join(args, " "), code, out)
	return string(out), code
}

// invokedBy is the NGINX_UPGRADE_INVOKED_BY the fake helper saw.
func (r hookRoot) invokedBy(t *testing.T) string {
	t.Helper()
	b, _ := os.ReadFile(filepath.Join(r.dir, "by"))
	return string(b)
}

func newReexecRoot(t *testing.T, settings string) hookRoot {
	t.Helper()
	r := newHookRoot(t, settings)
	// The fake helper also records who it says ran it, and how often it ran.
	fake := "#!/bin/sh\nprintf '%s\\0' \"$@\" >\"$NGINX_UPGRADE_HOOK_ROOT/argv\"\nprintf '%s' \"$NGINX_UPGRADE_INVOKED_BY\" >\"$NGINX_UPGRADE_HOOK_ROOT/by\"\necho run >>\"$NGINX_UPGRADE_HOOK_ROOT/runs\"\nexit \"${FAKE_RC:-0}\"\n"
	if err := os.WriteFile(filepath.Join(r.dir, "usr/sbin/nginx-upgradectl"), []byte(fake), 0o755); err != nil {
		t.Fatal(err)
	}
	fakebin := filepath.Join(r.dir, "fakebin")
	if err := os.MkdirAll(fakebin, 0o755); err != nil {
		t.Fatal(err)
	}
	// No systemd under NGINX_UPGRADE_HOOK_ROOT: a systemctl the hook runs is needrestart's restart.
	systemctl := "#!/bin/sh\nprintf '%s ' \"$@\" >>\"$NGINX_UPGRADE_HOOK_ROOT/systemctl\"\n"
	if err := os.WriteFile(filepath.Join(fakebin, "systemctl"), []byte(systemctl), 0o755); err != nil {
		t.Fatal(err)
	}
	return r
}

func (r hookRoot) runs(t *testing.T) int {
	t.Helper()
	b, _ := os.ReadFile(filepath.Join(r.dir, "runs"))
	return strings.Count(string(b), "run\n")
}

// A package run that replaced nothing nginx maps: nothing said, nothing run, in milliseconds.
func TestHookPostInvokeWithNothingReplacedIsSilent(t *testing.T) {
	r := newReexecRoot(t, "")
	startFakeMaster(t, r)
	for _, who := range []string{"apt", "dpkg"} {
		out, code := r.runEnv(t, nil, 0, "post-invoke", who)
		if code != 0 || out != "" {
			t.Errorf("hook post-invoke %s: exit %d, output %q; want 0 and nothing", who, code, out)
		}
	}
	if n := r.runs(t); n != 0 {
		t.Errorf("the helper ran %d times", n)
	}
	const n = 20
	start := time.Now()
	for range n {
		cmd := exec.Command("sh", "hook", "post-invoke", "apt")
		cmd.Env = []string{"PATH=/usr/sbin:/usr/bin:/sbin:/bin", "NGINX_UPGRADE_HOOK_ROOT=" + r.dir}
		if out, err := cmd.CombinedOutput(); err != nil || len(out) > 0 {
			t.Fatalf("hook post-invoke apt: %v %s", err, out)
		}
	}
	t.Logf("FIGURES hook post-invoke apt with nothing replaced: %s a run (mean of %d)", (time.Since(start) / n).Round(100*time.Microsecond), n)
}

// A replaced library nginx maps: one re-exec, by the helper, with the settings' arguments, named
// in the audit trail as the package run's; under apt, dpkg's own post-invoke leaves it to apt's.
func TestHookPostInvokeReexecsOnAReplacedLibrary(t *testing.T) {
	for _, c := range []struct {
		who  string
		env  []string
		runs bool
	}{
		{"apt", nil, true},
		{"dpkg", nil, true},
		{"dpkg", []string{"DPKG_FRONTEND_LOCKED=1"}, false}, // apt's Post-Invoke does it, once
	} {
		t.Run(c.who+" "+strings.Join(c.env, " "), func(t *testing.T) {
			r := newReexecRoot(t, "")
			m := startFakeMaster(t, r)
			m.stale(t)
			if err := os.MkdirAll(filepath.Join(r.dir, "etc/service-policy.d"), 0o755); err != nil {
				t.Fatal(err)
			}
			policy := filepath.Join(r.dir, "etc/service-policy.d/40-nginx-upgrade.pol")
			if err := os.WriteFile(policy, nil, 0o644); err != nil {
				t.Fatal(err)
			}

			out, code := r.runEnv(t, c.env, 0, "post-invoke", c.who)

			if c.who == "dpkg" {
				if _, err := os.Stat(policy); err == nil {
					t.Errorf("dpkg's post-invoke left the policy-rc.d rules in place")
				}
			}
			if !c.runs {
				if code != 0 || out != "" || r.runs(t) != 0 {
					t.Errorf("exit %d, %d helper runs, output %q; want 0, none, nothing", code, r.runs(t), out)
				}
				return
			}
			if code != 0 || r.runs(t) != 1 {
				t.Fatalf("exit %d, %d helper runs; want 0 and one", code, r.runs(t))
			}
			want := []string{"upgrade", "--pid-file", r.pidFile, "--soak", "2s", "--wait", "600s"}
			if got := r.argv(t); !slices.Equal(got, want) {
				t.Errorf("the helper ran with %q, want %q", got, want)
			}
			if by := r.invokedBy(t); by != c.who+":nginx-upgrade:post-invoke" {
				t.Errorf("NGINX_UPGRADE_INVOKED_BY=%q", by)
			}
			for _, s := range []string{"re-executing nginx (master " + fmt.Sprint(m.pid) + ") live for the files it maps that were replaced on disk: " + m.lib, "nginx-upgrade: done"} {
				if !strings.Contains(out, s) {
					t.Errorf("the hook did not say %q", s)
				}
			}
		})
	}
}

// A re-exec that failed is tried once per set of replaced files, not by every package run after.
func TestHookPostInvokeTriesAFailedReexecOnce(t *testing.T) {
	r := newReexecRoot(t, "")
	m := startFakeMaster(t, r)
	m.stale(t)
	out, _ := r.runEnv(t, nil, 1, "post-invoke", "apt")
	if !strings.Contains(out, "FAILED: the re-executed nginx was not taken") || r.runs(t) != 1 {
		t.Fatalf("first run: %d helper runs, want one, FAILED", r.runs(t))
	}
	out, code := r.runEnv(t, nil, 1, "post-invoke", "apt")
	if code != 0 || r.runs(t) != 1 || !strings.Contains(out, "a re-exec was tried for already") {
		t.Errorf("second run: exit %d, %d helper runs; want 0, still one, and that it was tried", code, r.runs(t))
	}
}

func TestHookPostInvokeWithAutoSwapOffDoesNothing(t *testing.T) {
	r := newReexecRoot(t, "AUTO_SWAP=no\n")
	m := startFakeMaster(t, r)
	m.stale(t)
	out, code := r.runEnv(t, nil, 0, "post-invoke", "apt")
	if code != 0 || out != "" || r.runs(t) != 0 {
		t.Errorf("exit %d, %d helper runs, output %q; want 0, none, nothing", code, r.runs(t), out)
	}
}

// A previous swap still under way, or another run: the helper waits for them (--wait), at most
// WAIT_PREVIOUS seconds, and decides afresh; the hook runs it once and has no waiting of its own.
func TestHookPostInvokeLetsTheHelperWaitForThePreviousSwap(t *testing.T) {
	r := newReexecRoot(t, "WAIT_PREVIOUS=90\n")
	m := startFakeMaster(t, r)
	m.stale(t)
	old := exec.Command("sleep", "60")
	if err := old.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { old.Process.Kill(); old.Wait() })
	if err := os.WriteFile(r.pidFile+".oldbin", fmt.Appendf(nil, "%d\n", old.Process.Pid), 0o644); err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	out, code := r.runEnv(t, nil, 0, "post-invoke", "apt")
	if code != 0 || r.runs(t) != 1 || !strings.Contains(out, "nginx-upgrade: done") {
		t.Errorf("exit %d, %d helper runs; want 0, one, done", code, r.runs(t))
	}
	if argv := r.argv(t); !slices.Contains(argv, "--wait") || argv[slices.Index(argv, "--wait")+1] != "90s" {
		t.Errorf("the helper ran with %q, want --wait 90s", argv)
	}
	if took := time.Since(start); took > 10*time.Second {
		t.Errorf("the hook waited %s itself", took)
	}
}

// needrestart's restart.d: a live re-exec instead of its restart, nothing when nothing is stale;
// with AUTO_SWAP=no the restart needrestart would have run.
func TestHookNeedrestart(t *testing.T) {
	for _, c := range []struct {
		name, settings string
		stale          bool
		runs           int
		systemctl      string
		says           string
	}{
		{"stale library", "", true, 1, "", "nginx-upgrade: done"},
		{"nothing stale", "", false, 0, "", "maps no replaced file: nothing to restart"},
		{"AUTO_SWAP=no", "AUTO_SWAP=no\n", true, 0, "restart nginx.service ", ""},
	} {
		t.Run(c.name, func(t *testing.T) {
			r := newReexecRoot(t, c.settings)
			m := startFakeMaster(t, r)
			if c.stale {
				m.stale(t)
			}
			out, code := r.runEnv(t, nil, 0, "needrestart")
			systemctl, _ := os.ReadFile(filepath.Join(r.dir, "systemctl"))
			if code != 0 || r.runs(t) != c.runs || string(systemctl) != c.systemctl || !strings.Contains(out, c.says) {
				t.Errorf("exit %d, %d helper runs, systemctl %q; want 0, %d, %q, saying %q", code, r.runs(t), systemctl, c.runs, c.systemctl, c.says)
			}
			if c.runs > 0 && r.invokedBy(t) != "needrestart:nginx-upgrade:restart.d" {
				t.Errorf("NGINX_UPGRADE_INVOKED_BY=%q", r.invokedBy(t))
			}
		})
	}
}

// The file needrestart runs: the hook while nginx-upgrade is installed, needrestart's own
// restart once it is removed (the conffile stays until purge).
func TestNeedrestartRestartDFallsBackToTheRestart(t *testing.T) {
	b, err := os.ReadFile("needrestart-nginx.service")
	if err != nil {
		t.Fatal(err)
	}
	if fi, _ := os.Stat("needrestart-nginx.service"); fi.Mode()&0o111 == 0 {
		t.Errorf("needrestart-nginx.service is not executable: needrestart would not run it")
	}
	for _, want := range []string{"exec /usr/share/nginx-upgrade/hook needrestart", "exec systemctl restart nginx.service"} {
		if !strings.Contains(string(b), want) {
			t.Errorf("needrestart-nginx.service lacks %q", want)
		}
	}
}
