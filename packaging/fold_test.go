package packaging

import (
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
)

// The reload nginx's nginx-reload trigger asks for (a libnginx-mod-* package's scripts) is
// refused by policy-rc.d during the package run and noted by our trigger (hook reload-asked); at
// the end of the run, post-invoke folds it into the swap when one happened, or reloads nginx.

// newFoldRoot is a reexec root with a fake invoke-rc.d that records its arguments.
func newFoldRoot(t *testing.T) hookRoot {
	t.Helper()
	r := newReexecRoot(t, "")
	fake := "#!/bin/sh\nprintf '%s ' \"$@\" >>\"$NGINX_UPGRADE_HOOK_ROOT/invoke-rc.d\"\nexit \"${FAKE_INVOKE_RC:-0}\"\n"
	if err := os.WriteFile(filepath.Join(r.dir, "fakebin/invoke-rc.d"), []byte(fake), 0o755); err != nil {
		t.Fatal(err)
	}
	return r
}

func (r hookRoot) invokeRCD(t *testing.T) string {
	t.Helper()
	b, _ := os.ReadFile(filepath.Join(r.dir, "invoke-rc.d"))
	return strings.TrimSpace(string(b))
}

func (r hookRoot) policyOn(t *testing.T) {
	t.Helper()
	for _, d := range []string{"etc/service-policy.d", "usr/share/nginx-upgrade"} {
		if err := os.MkdirAll(filepath.Join(r.dir, d), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	pol, err := os.ReadFile("nginx-upgrade.pol")
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(r.dir, "usr/share/nginx-upgrade/nginx-upgrade.pol"), pol, 0o644); err != nil {
		t.Fatal(err)
	}
	if _, code := r.runEnv(t, nil, 0, "policy-on"); code != 0 {
		t.Fatalf("policy-on exited %d", code)
	}
}

// The rule that refuses nginx's trigger reload is among those policy-on puts in place.
func TestPolicyRefusesTheTriggerReload(t *testing.T) {
	pol, err := os.ReadFile("nginx-upgrade.pol")
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(pol), "^nginx$\t^reload$\tdeny") {
		t.Fatalf("nginx-upgrade.pol does not refuse `invoke-rc.d nginx reload`:\n%s", pol)
	}
}

// No swap in the run: the same master serves at the end, so the held-back reload is done then.
func TestHeldBackReloadIsDoneWhenNothingSwapped(t *testing.T) {
	r := newFoldRoot(t)
	r.policyOn(t)
	if out, _ := r.runEnv(t, nil, 0, "reload-asked"); !strings.Contains(out, "held back until the end of the package run") {
		t.Errorf("reload-asked does not say the reload is held back")
	}

	out, code := r.runEnv(t, nil, 0, "post-invoke", "dpkg")

	if code != 0 || !strings.Contains(out, "reloaded, as the package scripts asked") {
		t.Fatalf("post-invoke exited %d, want 0 and the reload done", code)
	}
	if got := r.invokeRCD(t); got != "nginx reload" {
		t.Errorf("invoke-rc.d ran with %q, want nginx reload", got)
	}
	if _, err := os.Stat(filepath.Join(r.dir, "run/nginx-upgrade/reload-asked")); !os.IsNotExist(err) {
		t.Errorf("the note of the reload is left behind (%v): the next package run would reload again", err)
	}
	// Done once: the next package run has nothing held back.
	os.Remove(filepath.Join(r.dir, "invoke-rc.d"))
	r.runEnv(t, nil, 0, "post-invoke", "dpkg")
	if got := r.invokeRCD(t); got != "" {
		t.Errorf("a second package run reloaded again: invoke-rc.d %s", got)
	}
}

// A swap in the run: another master serves at the end and read the configuration; no reload.
func TestHeldBackReloadIsFoldedIntoASwap(t *testing.T) {
	r := newFoldRoot(t)
	r.policyOn(t)
	r.runEnv(t, nil, 0, "reload-asked")
	// The swap: the pid file names a new master (here: this test's parent, alive).
	if err := os.WriteFile(r.pidFile, []byte(strconv.Itoa(os.Getppid())+"\n"), 0o644); err != nil {
		t.Fatal(err)
	}

	out, code := r.runEnv(t, nil, 0, "post-invoke", "dpkg")

	if code != 0 || !strings.Contains(out, "folded into the live swap: new master") {
		t.Fatalf("post-invoke exited %d, want 0 and the reload folded into the swap", code)
	}
	if got := r.invokeRCD(t); got != "" {
		t.Errorf("invoke-rc.d ran (%q) although the new master read the configuration", got)
	}
}

// Without our policy in place (AUTO_SWAP=no, or a trigger outside a package run we hooked),
// nginx's own trigger reloaded nginx: nothing is noted, nothing reloaded twice.
func TestReloadAskedWithoutThePolicyIsNginxsOwn(t *testing.T) {
	r := newFoldRoot(t)
	out, _ := r.runEnv(t, nil, 0, "reload-asked")
	r.runEnv(t, nil, 0, "post-invoke", "dpkg")
	if strings.TrimSpace(out) != "" || r.invokeRCD(t) != "" {
		t.Errorf("reload-asked without the policy said %q and invoke-rc.d ran %q, want nothing", out, r.invokeRCD(t))
	}
}

// A reload that fails says so, and never fails the package run.
func TestHeldBackReloadThatFailsSaysSo(t *testing.T) {
	r := newFoldRoot(t)
	r.policyOn(t)
	r.runEnv(t, nil, 0, "reload-asked")
	out, code := r.runEnv(t, []string{"FAKE_INVOKE_RC=1"}, 0, "post-invoke", "dpkg")
	if code != 0 || !strings.Contains(out, "FAILED: the nginx reload the package scripts asked for did not succeed") {
		t.Fatalf("post-invoke exited %d, want 0 and the failure said", code)
	}
}
