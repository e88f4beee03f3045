package packaging

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

// hookRoot is a directory the dpkg hook (packaging/hook) takes for / through
// NGINX_UPGRADE_HOOK_ROOT: a fake nginx-upgradectl that records its arguments and exits with
// $FAKE_RC, a file at /usr/sbin/nginx, /etc/default/nginx-upgrade with settings, and a pid file
// naming this test's process (alive, and not running that nginx: a swap is due).
type hookRoot struct {
	dir, pidFile string
}

func newHookRoot(t *testing.T, settings string) hookRoot {
	t.Helper()
	r := hookRoot{dir: t.TempDir()}
	r.pidFile = filepath.Join(r.dir, "run/nginx.pid")
	write := func(path, text string, mode os.FileMode) {
		t.Helper()
		p := filepath.Join(r.dir, path)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(text), mode); err != nil {
			t.Fatal(err)
		}
	}
	write("usr/sbin/nginx-upgradectl", "#!/bin/sh\nprintf '%s\\0' \"$@\" >\"$NGINX_UPGRADE_HOOK_ROOT/argv\"\nexit \"${FAKE_RC:-0}\"\n", 0o755)
	write("usr/sbin/nginx", "#!/bin/sh\n", 0o755)
	write("run/nginx.pid", fmt.Sprintf("%d\n", os.Getpid()), 0o644)
	write("etc/default/nginx-upgrade", "NGINX_PID_FILE='"+r.pidFile+"'\nSOAK=2s\n"+settings, 0o644)
	return r
}

// run runs the hook with args in dir (its working directory) and returns its output and exit
// status.
func (r hookRoot) run(t *testing.T, dir string, fakeRC int, args ...string) (string, int) {
	t.Helper()
	hook, err := filepath.Abs("hook")
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command("sh", append([]string{hook}, args...)...)
	cmd.Dir = dir
	cmd.Env = []string{"PATH=/usr/sbin:/usr/bin:/sbin:/bin", "NGINX_UPGRADE_HOOK_ROOT=" + r.dir, fmt.Sprintf("FAKE_RC=%d", fakeRC)}
	out, err := cmd.CombinedOutput()
	code := 0
	if ee, ok := err.(*exec.ExitError); ok {
		code = ee.ExitCode()
	} else if err != nil {
		t.Fatal(err)
	}
	t.Logf("$ hook %s → exit %d\n%s", strings.Join(args, " "), code, out)
	return string(out), code
}

// argv is what the fake helper was run with; nil when it was not run.
func (r hookRoot) argv(t *testing.T) []string {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(r.dir, "argv"))
	if os.IsNotExist(err) {
		return nil
	}
	if err != nil {
		t.Fatal(err)
	}
	return strings.Split(strings.TrimSuffix(string(b), "\x00"), "\x00")
}

// Health URLs with ? and * reach the helper as written, each its own argument, even where the
// hook runs among files those patterns would match.
func TestHookPassesHealthFlagsUnchanged(t *testing.T) {
	urls := []string{"http://127.0.0.1/health?x=1", "http://127.0.0.1/a*", "http://[::1]:8080/st[a]tus"}
	r := newHookRoot(t, fmt.Sprintf("HEALTH_FLAGS=\"--health %s\t--health %s\n--health %s\"\n", urls[0], urls[1], urls[2]))
	cwd := t.TempDir()
	for _, f := range []string{"http:/127.0.0.1/healthAx=1", "http:/127.0.0.1/abc", "http:/[::1]:8080/status"} {
		if err := os.MkdirAll(filepath.Join(cwd, f), 0o755); err != nil {
			t.Fatal(err)
		}
	}

	out, code := r.run(t, cwd, 0, "swap", "trigger")

	if code != 0 || !strings.Contains(out, "nginx-upgrade: done") {
		t.Fatalf("hook swap trigger exited %d, want 0 and done", code)
	}
	want := []string{"upgrade", "--pid-file", r.pidFile, "--soak", "2s", "--wait", "600s", "--health", urls[0], "--health", urls[1], "--health", urls[2]}
	if got := r.argv(t); !slices.Equal(got, want) {
		t.Errorf("the helper ran with\n%q\nwant\n%q", got, want)
	}
}

// A pid file that does not hold a decimal pid is never used: not in a path, not passed on.
func TestHookChecksThePidIsANumber(t *testing.T) {
	for i, pid := range []string{"self", "1 2", "-1", "../1", "0", "012", "$(touch pwned)"} {
		t.Run(fmt.Sprint(i), func(t *testing.T) {
			r := newHookRoot(t, "")
			if err := os.WriteFile(r.pidFile, []byte(pid+"\n"), 0o644); err != nil {
				t.Fatal(err)
			}
			cwd := t.TempDir()
			out, code := r.run(t, cwd, 0, "swap", "trigger")
			if code != 0 || !strings.Contains(out, "does not hold a pid: nothing to swap") {
				t.Errorf("pid file %q: hook exited %d, want 0 and that the pid file does not hold a pid", pid, code)
			}
			if argv := r.argv(t); argv != nil {
				t.Errorf("the helper ran with %q", argv)
			}
			if _, err := os.Stat(filepath.Join(cwd, "pwned")); err == nil {
				t.Errorf("the pid file's text ran as a command")
			}
		})
	}
}

// The exit codes: a package run never fails (the trigger exits 0 whatever the swap did); a
// swap of the .path unit that was not taken exits 1, so that its unit fails; bad usage 2.
func TestHookExitCodes(t *testing.T) {
	for _, c := range []struct {
		args   []string
		helper int
		want   int
		says   string
	}{
		{[]string{"swap", "trigger"}, 0, 0, "done: nginx serves from the new build"},
		{[]string{"swap", "trigger"}, 1, 0, "FAILED: the new nginx build was not taken"},
		{[]string{"swap", "trigger"}, 3, 0, "FAILED: needs an operator"},
		{[]string{"swap", "path"}, 0, 0, "done: nginx serves from the new build"},
		{[]string{"swap", "path"}, 1, 1, "FAILED: the new nginx build was not taken"},
		{[]string{"swap", "path"}, 2, 1, "FAILED: refused, nothing signalled"},
		{[]string{"swap", "elsewhere"}, 0, 2, "usage"},
		{[]string{"frobnicate"}, 0, 2, "usage"},
		{[]string{"policy-off"}, 0, 0, ""},
	} {
		t.Run(fmt.Sprintf("%s helper %d", strings.Join(c.args, " "), c.helper), func(t *testing.T) {
			r := newHookRoot(t, "")
			out, code := r.run(t, t.TempDir(), c.helper, c.args...)
			if code != c.want || !strings.Contains(out, c.says) {
				t.Errorf("hook %s with the helper exiting %d: exit %d, want %d, saying %q", strings.Join(c.args, " "), c.helper, code, c.want, c.says)
			}
		})
	}
}
