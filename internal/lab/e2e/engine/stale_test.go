//go:build e2e

package engine

import (
	"encoding/json"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/nginx-upgrade/nginx-upgrade/internal/audit"
	"github.com/nginx-upgrade/nginx-upgrade/internal/lab/labtest"
	"github.com/nginx-upgrade/nginx-upgrade/internal/lab/testbed"
	"github.com/nginx-upgrade/nginx-upgrade/internal/nginx"
	"github.com/nginx-upgrade/nginx-upgrade/internal/upgrade"
)

// A module replaced on disk (as dpkg does: a new file renamed over the old) leaves nginx running
// the old code: status lists it and says re-exec pending; upgrade re-executes the same binary
// under load, REASON=modules in the trail, and then nothing is stale.
func TestReplacedModuleIsReexecutedWithoutLoss(t *testing.T) {
	b, n, mod := moduleNginx(t, testbed.Config{})
	old := n.Master()
	installByRename(t, mod, mod)

	st := status(t, n)
	if !st.ReexecPending || !mapsStale(st, mod, nginx.KindModule) {
		t.Fatalf("status before: reexec_pending %v, stale %+v; want %s listed as a module", st.ReexecPending, st.Masters[0].Stale, mod)
	}
	if text := ctl(t, "status", "--pid-file", n.PidFile); text.code != 0 || !strings.Contains(text.stdout, "re-exec pending") || !strings.Contains(text.stdout, mod) {
		t.Fatalf("status: exit %d, want 0 naming %s and saying re-exec pending", text.code, mod)
	}
	tr := testbed.TrafficT(t, n.Site(), testbed.TrafficConfig{})

	r := ctl(t, "upgrade", "--pid-file", n.PidFile, "--soak", "2s", "--health", n.URL("/health"), "--json")

	labtest.NoLoss(t, tr)
	if r.code != 0 || r.json.Outcome != upgrade.Success || r.json.NewMasterPID == old {
		t.Fatalf("exit %d outcome %s, masters %d → %d: want 0 success and a new master", r.code, r.json.Outcome, old, r.json.NewMasterPID)
	}
	if !slices.Equal(r.json.Reasons, []string{"modules"}) || !slices.Equal(r.json.Replaced, []string{mod}) {
		t.Errorf("reasons %v, replaced %v; want [modules] and [%s]", r.json.Reasons, r.json.Replaced, mod)
	}
	servingAlone(t, n, r.json.NewMasterPID, b.New)
	if st := status(t, n); st.ReexecPending || len(st.Masters[0].Stale) > 0 {
		t.Errorf("status after: reexec_pending %v, stale %+v; want nothing stale", st.ReexecPending, st.Masters[0].Stale)
	}
	runs := history(t)
	if last := runs[len(runs)-1]; last.Reason != "modules" || !slices.Equal(last.ReplacedPaths, []string{mod}) {
		t.Errorf("history: reason %q, replaced %v; want modules and [%s]", last.Reason, last.ReplacedPaths, mod)
	}
}

// Libraries: an update of one nginx does not map signals nothing; an update of one it maps is
// applied by a live re-exec. The host's libraries are never touched: nginx runs with
// LD_LIBRARY_PATH on a private copy of zlib (kept for the new master by an env directive).
func TestLibraryUpdatesReexecOnlyWhenNginxMapsTheLibrary(t *testing.T) {
	b := testbed.BuildsT(t)
	libs := t.TempDir()
	system, err := filepath.EvalSymlinks("/usr/lib/x86_64-linux-gnu/libz.so.1")
	if err != nil {
		t.Fatal(err)
	}
	zlib, unused := filepath.Join(libs, "libz.so.1"), filepath.Join(libs, "libunused.so.1")
	installByRename(t, system, zlib)
	installByRename(t, system, unused)
	n := testbed.StartT(t, b.New, testbed.Config{Env: []string{"LD_LIBRARY_PATH=" + libs}})
	old := n.Master()
	if maps, err := nginx.ReadMaps(old); err != nil || !slices.ContainsFunc(maps, func(m nginx.Mapping) bool { return m.Path == zlib }) {
		t.Fatalf("master %d does not map %s (%v): the test proves nothing", old, zlib, err)
	}
	workers, _, _ := nginx.Workers(old)

	installByRename(t, unused, unused)
	noop := ctl(t, "upgrade", "--pid-file", n.PidFile, "--json")

	now, _, _ := nginx.Workers(old)
	if noop.code != 0 || noop.json.Outcome != upgrade.Noop || n.Master() != old || !samePids(workers, now) {
		t.Fatalf("unmapped library replaced: exit %d outcome %s, master %d → %d, workers %v → %v; want 0 noop, nothing signalled",
			noop.code, noop.json.Outcome, old, n.Master(), workers, now)
	}

	installByRename(t, zlib, zlib)
	tr := testbed.TrafficT(t, n.Site(), testbed.TrafficConfig{})
	r := ctl(t, "upgrade", "--pid-file", n.PidFile, "--soak", "1s", "--json")

	labtest.NoLoss(t, tr)
	if r.code != 0 || r.json.Outcome != upgrade.Success || !slices.Equal(r.json.Reasons, []string{"libraries"}) || !slices.Equal(r.json.Replaced, []string{zlib}) {
		t.Fatalf("exit %d outcome %s reasons %v replaced %v; want 0 success, [libraries], [%s]", r.code, r.json.Outcome, r.json.Reasons, r.json.Replaced, zlib)
	}
	servingAlone(t, n, r.json.NewMasterPID, b.New)
	if st := status(t, n); st.ReexecPending {
		t.Errorf("status after: still stale %+v", st.Masters[0].Stale)
	}
}

// A re-exec that fails: the module on disk is replaced by one whose workers die at start. The
// run rolls back, the old master serves, no request is lost, and status still lists the module.
func TestFailingReexecIsRolledBackAndStaysPending(t *testing.T) {
	b, n, mod := moduleNginx(t, testbed.Config{})
	old := n.Master()
	broken, err := testbed.ModuleWorkersDie(t.TempDir(), mod)
	if err != nil {
		t.Fatal(err)
	}
	installByRename(t, broken, mod)
	tr := testbed.TrafficT(t, n.Site(), testbed.TrafficConfig{})

	r := ctl(t, "upgrade", "--pid-file", n.PidFile, "--soak", "1s", "--json")

	labtest.NoLoss(t, tr)
	if r.code != 1 || r.json.Outcome != upgrade.RolledBack || !slices.Equal(r.json.Reasons, []string{"modules"}) {
		t.Fatalf("exit %d outcome %s reasons %v, want 1 rolled_back [modules]", r.code, r.json.Outcome, r.json.Reasons)
	}
	servingAlone(t, n, old, b.New)
	if st := status(t, n); !st.ReexecPending || !mapsStale(st, mod, nginx.KindModule) {
		t.Errorf("status after the rollback: reexec_pending %v, stale %+v; want %s still listed", st.ReexecPending, st.Masters[0].Stale, mod)
	}
}

// moduleNginx starts the new build, shaped by cfg, with ngx_stream_module (of its own version)
// loaded from a private copy, which the test may replace.
func moduleNginx(t *testing.T, cfg testbed.Config) (testbed.Builds, *testbed.Nginx, string) {
	t.Helper()
	b := testbed.BuildsT(t)
	cached, err := testbed.StreamModule(b)
	if err != nil {
		t.Fatal(err)
	}
	mod := filepath.Join(t.TempDir(), "ngx_stream_module.so")
	installByRename(t, cached, mod)
	cfg.Modules = append(cfg.Modules, mod)
	return b, testbed.StartT(t, b.New, cfg), mod
}

// installByRename puts a copy of src at dst the way dpkg does: a new file renamed over the old,
// which a process mapping the old one keeps running.
func installByRename(t *testing.T, src, dst string) {
	t.Helper()
	data, err := os.ReadFile(src)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(dst+".dpkg-new", data, 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(dst+".dpkg-new", dst); err != nil {
		t.Fatal(err)
	}
}

// status runs status --json, which must exit 0: stale code is no problem of state.
func status(t *testing.T, n *testbed.Nginx) upgrade.Status {
	t.Helper()
	r := ctl(t, "status", "--pid-file", n.PidFile, "--json")
	var st upgrade.Status
	if err := json.Unmarshal([]byte(r.stdout), &st); err != nil || r.code != 0 || len(st.Masters) != 1 {
		t.Fatalf("status: exit %d, %v; want 0 and one master:\n%s", r.code, err, r.stdout)
	}
	return st
}

// mapsStale reports whether status lists path, of kind, as mapped by the master and its workers.
func mapsStale(st upgrade.Status, path string, kind nginx.FileKind) bool {
	m := st.Masters[0]
	return slices.ContainsFunc(m.Stale, func(f upgrade.StaleFile) bool {
		return f.Path == path && f.Kind == kind && slices.Contains(f.Pids, m.Pid) && len(f.Pids) > len(m.Workers)
	})
}

func history(t *testing.T) []audit.Run {
	t.Helper()
	h := ctl(t, "history", "--json")
	var runs []audit.Run
	if err := json.Unmarshal([]byte(h.stdout), &runs); err != nil || len(runs) == 0 {
		t.Fatalf("history --json: %v, %d runs", err, len(runs))
	}
	return runs
}

// The module replaced again while the re-exec soaks: the new master loaded the file of the run's
// start, so the swap stands, and the run and status say another one is due.
func TestModuleReplacedAgainDuringTheReexec(t *testing.T) {
	_, n, mod := moduleNginx(t, testbed.Config{})
	installByRename(t, mod, mod)
	tr := testbed.TrafficT(t, n.Site(), testbed.TrafficConfig{})

	r := duringSoak(t, n, "2s", func(upgrade.Snapshot, *os.Process) { installByRename(t, mod, mod) })

	labtest.NoLoss(t, tr)
	if r.code != 0 || r.json.Outcome != upgrade.Success || !strings.Contains(lastMessage(r), mod+" replaced again during the run") {
		t.Fatalf("exit %d outcome %s, message %q: want 0 success saying %s was replaced again", r.code, r.json.Outcome, lastMessage(r), mod)
	}
	if st := status(t, n); !st.ReexecPending || !mapsStale(st, mod, nginx.KindModule) || st.Masters[0].Pid != r.json.NewMasterPID {
		t.Errorf("status after: master %d, reexec_pending %v, stale %+v; want master %d still mapping the old %s", st.Masters[0].Pid, st.ReexecPending, st.Masters[0].Stale, r.json.NewMasterPID, mod)
	}
}
