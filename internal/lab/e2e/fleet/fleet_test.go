//go:build e2e

package fleet

import (
	"cmp"
	"context"
	"encoding/json"
	"fmt"
	"maps"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/nginx-upgrade/nginx-upgrade/internal/audit"
	"github.com/nginx-upgrade/nginx-upgrade/internal/lab/labtest"
	"github.com/nginx-upgrade/nginx-upgrade/internal/lab/nspawn"
	"github.com/nginx-upgrade/nginx-upgrade/internal/lab/testbed"
)

func TestMain(m *testing.M) { labtest.Main(m) }

// A fleet for the Ansible role (packaging/ansible): hosts that are each a real systemd in a box
// with a network of its own, Debian's older nginx serving on its port 80, our package installed,
// and apt pointed at a local repository that offers the NEW nginx (and, for the failure test, a
// rebuild of it whose workers die). ansible-playbook from Debian reaches them with the
// community.docker.nsenter connection from Debian's collections.

// fleetReleases are the fleet's hosts, web1 first: a Debian 12 fleet with one Debian 13 host, as
// fleets are while their hosts go to 13. The 13 host comes last, so every test meets it after
// a 12 host: the rolling swap swaps it in the last batch, the stop at a bad host (web2) leaves
// it untouched until the resumed play swaps it, and in check mode it is a host with a swap
// pending on disk.
var fleetReleases = []nspawn.Release{nspawn.Bookworm, nspawn.Bookworm, nspawn.Trixie}

// fleetHost is one host of a fleet.
type fleetHost struct {
	name string
	*testbed.Box
	before testbed.Unit // nginx.service when the fleet was ready
	tr     *testbed.Traffic
}

type fleet struct {
	hosts []*fleetHost
}

// brokenVersion is the version of the repository's rebuild of NEW whose workers die.
func brokenVersion(b testbed.Builds) string { return b.NewVersion + "+workersdie1" }

// releaseRepo makes the local apt repository of release r: its NEW, its OLD (rolling the fleet
// back installs it again) and its NEW rebuilt with workers that die. Each release's own: a
// release's nginx packages depend on its libraries (libssl3 on 12, libssl3t64 on 13), so
// neither installs on the other.
func releaseRepo(t *testing.T, r nspawn.Release) (string, labtest.BrokenDeb) {
	t.Helper()
	b := testbed.ReleaseBuildsT(t, r)
	broken := labtest.NewBrokenDeb(t, b, brokenVersion(b))
	olds, _ := filepath.Glob(filepath.Join(b.OldDebs, "*.deb"))
	return labtest.LocalRepo(t, b, append(olds, broken.Deb)...), broken
}

// fleetT brings up the hosts of fleetReleases, one after another (each boot takes the machine's
// two cores), each with the repository of its release at /srv/repo; with ours, our .deb is
// installed on each, else the role installs it.
func fleetT(t *testing.T, ours bool) *fleet {
	t.Helper()
	type repo struct {
		dir    string
		broken labtest.BrokenDeb
	}
	repos := map[nspawn.Release]repo{}
	deb := ""
	if ours {
		deb = labtest.PackageT(t, "deb")
	}
	f := &fleet{}
	for i, r := range fleetReleases {
		if _, ok := repos[r]; !ok {
			dir, broken := releaseRepo(t, r)
			repos[r] = repo{dir, broken}
		}
		box := testbed.BoxWithT(t, testbed.BoxOptions{
			Release:    r,
			OwnNetwork: true,
			Binds:      []nspawn.Bind{{Host: repos[r].dir, Container: "/srv/repo", ReadOnly: true}},
			Deb:        deb,
		})
		repos[r].broken.AddFaultLib(box)
		// The fleet's only package source: the local repository.
		box.Sh("rm -f /etc/apt/sources.list.d/* && echo 'deb [trusted=yes] file:/srv/repo ./' >/etc/apt/sources.list && apt-get -q update >/dev/null")
		h := &fleetHost{name: fmt.Sprintf("web%d", i+1), Box: box, before: box.Unit("nginx")}
		t.Logf("%s: %s, nginx %s serving, %s offered", h.name, r.Name(), box.Builds.OldVersion, box.Builds.NewVersion)
		f.hosts = append(f.hosts, h)
	}
	return f
}

// startTraffic puts load on every host, each on its own loopback, until stopTraffic.
func (f *fleet) startTraffic(t *testing.T) {
	t.Helper()
	for i, h := range f.hosts {
		// Modest per host: three hosts, ansible and the swaps share two cores. wrk's pressure on
		// web1 alone: on every host it took both cores, and ansible-playbook's tasks crawled
		// (a rolling swap took 6 minutes instead of 2). The open-loop stream on every host
		// still sees any stall.
		h.tr = testbed.TrafficT(t, h.Site, testbed.TrafficConfig{
			Rate: 100, WrkConns: 2, WrkDuration: 10 * time.Minute, KeepDownloading: true, NoWrk: i > 0,
		})
	}
}

// stopTraffic stops the load on every host and asserts that none of it failed.
func (f *fleet) stopTraffic(t *testing.T) {
	t.Helper()
	for _, h := range f.hosts {
		r := h.tr.StopNow()
		t.Logf("%s traffic:\n%s", h.name, r)
		if r.Failed() != 0 {
			t.Errorf("%s: %d requests or downloads failed, want 0", h.name, r.Failed())
		}
		if r.Stream.OK == 0 || (r.WrkRan && r.Wrk.Requests == 0) || len(r.Downloads) == 0 {
			t.Errorf("%s: no traffic measured (stream ok %d, wrk %d, downloads %d)", h.name, r.Stream.OK, r.Wrk.Requests, len(r.Downloads))
		}
	}
}

// inventory writes an Ansible inventory of the fleet (YAML, as JSON): every host reached by
// nsenter into its box, with the role's variables for all and, when perHost is not nil, each
// host's own.
func (f *fleet) inventory(t *testing.T, all map[string]any, perHost func(h *fleetHost) map[string]any) string {
	t.Helper()
	hosts := map[string]any{}
	for _, h := range f.hosts {
		vars := map[string]any{"ansible_nsenter_pid": h.Leader()}
		if perHost != nil {
			maps.Copy(vars, perHost(h))
		}
		hosts[h.name] = vars
	}
	vars := map[string]any{
		"ansible_connection":         "community.docker.nsenter",
		"ansible_python_interpreter": "/usr/bin/python3",
		// nsenter runs as root already; the boxes, like minimal hosts, have no sudo.
		"ansible_become": false,
		// Quick swaps, checked through the test site's health URL on each host's own loopback.
		"nginx_upgrade_soak":        "2s",
		"nginx_upgrade_health_urls": []string{"http://127.0.0.1/health"},
	}
	maps.Copy(vars, all)
	inv, err := json.MarshalIndent(map[string]any{"nginx": map[string]any{"hosts": hosts, "vars": vars}}, "", "  ")
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(t.TempDir(), "inventory.yml")
	if err := os.WriteFile(path, inv, 0o644); err != nil {
		t.Fatal(err)
	}
	return path
}

// nginxPackages are the role's variables that name apt specs for nginx and nginx-common at
// version (nginx's own version: nginxVersion, when it differs, as for the broken rebuild).
func nginxPackages(version, nginxVersion string) map[string]any {
	return map[string]any{"nginx_upgrade_nginx_packages": []string{"nginx=" + cmp.Or(nginxVersion, version), "nginx-common=" + version}}
}

// newPackages and oldPackages are inventory's perHost: each host named the NEW (OLD) packages
// of its own release.
func newPackages(h *fleetHost) map[string]any { return nginxPackages(h.Builds.NewVersion, "") }
func oldPackages(h *fleetHost) map[string]any { return nginxPackages(h.Builds.OldVersion, "") }

// play is one ansible-playbook run, read through the ansible.posix.json callback.
type play struct {
	rc  int
	raw string
	out struct {
		Plays []struct {
			// With serial, each batch is a play of its own.
			Play struct {
				Duration struct{ Start, End string }
			}
			Tasks []struct {
				Task  struct{ Name string }
				Hosts map[string]map[string]any
			}
		}
		// The play recap.
		Stats map[string]struct{ Ok, Changed, Failures, Unreachable, Skipped int }
	}
}

// runPlaybook runs the shipped packaging/ansible/rolling-swap.yml on the fleet, with extra
// arguments (-e, --check), within a deadline.
func (f *fleet) runPlaybook(t *testing.T, inventory string, args ...string) play {
	t.Helper()
	root, err := testbed.RepoRoot()
	if err != nil {
		t.Fatal(err)
	}
	dir := filepath.Join(root, "packaging", "ansible")
	ctx, cancel := context.WithTimeout(t.Context(), 10*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, "ansible-playbook", append([]string{"-i", inventory, "rolling-swap.yml"}, args...)...)
	cmd.Dir = dir // its ansible.cfg, as a user runs it
	home := t.TempDir()
	cmd.Env = append(os.Environ(),
		"ANSIBLE_STDOUT_CALLBACK=ansible.posix.json",
		"ANSIBLE_HOME="+home, "ANSIBLE_LOCAL_TEMP="+filepath.Join(home, "tmp"),
		"ANSIBLE_NOCOLOR=1",
	)
	var stdout, stderr strings.Builder
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	start := time.Now()
	err = cmd.Run()
	p := play{rc: cmd.ProcessState.ExitCode(), raw: stdout.String()}
	if err != nil && p.rc < 0 {
		t.Fatalf("ansible-playbook: %v\n%s", err, stderr.String())
	}
	if err := json.Unmarshal([]byte(p.raw), &p.out); err != nil {
		t.Fatalf("ansible-playbook %v: exit %d, output is not the json callback's: %v\n%s\n%s", args, p.rc, err, p.raw, stderr.String())
	}
	t.Logf("ansible-playbook %v → exit %d in %s; recap %+v", args, p.rc, time.Since(start).Round(time.Millisecond), p.out.Stats)
	if stderr.Len() > 0 {
		t.Logf("ansible-playbook stderr:\n%s", stderr.String())
	}
	for _, b := range p.batches() {
		t.Logf("batch %s: %s", b.hosts, b.took)
	}
	for host, st := range p.out.Stats {
		if st.Failures+st.Unreachable > 0 {
			t.Logf("%s failed:\n%s", host, strings.Join(p.messages(host), "\n"))
		}
	}
	return p
}

// batch is one batch of a play: its hosts and how long it took, which tells a slow host (such
// as the fleet's Debian 13 one) from a slow fleet.
type batch struct {
	hosts []string
	took  time.Duration
}

func (p play) batches() []batch {
	var bs []batch
	for _, pl := range p.out.Plays {
		start, err1 := time.Parse(time.RFC3339Nano, pl.Play.Duration.Start)
		end, err2 := time.Parse(time.RFC3339Nano, pl.Play.Duration.End)
		var hosts []string
		for _, task := range pl.Tasks {
			for h := range task.Hosts {
				if !slices.Contains(hosts, h) {
					hosts = append(hosts, h)
				}
			}
		}
		if err1 != nil || err2 != nil || len(hosts) == 0 {
			continue // a batch that ran no task (the play had stopped)
		}
		slices.Sort(hosts)
		bs = append(bs, batch{hosts, end.Sub(start).Round(100 * time.Millisecond)})
	}
	return bs
}

// fact returns what each host's tasks set as the fact key (such as
// nginx_upgrade_result), the last one per host.
func (p play) fact(key string) map[string]map[string]any {
	got := map[string]map[string]any{}
	for _, pl := range p.out.Plays {
		for _, task := range pl.Tasks {
			for host, res := range task.Hosts {
				facts, _ := res["ansible_facts"].(map[string]any)
				if v, ok := facts[key].(map[string]any); ok && len(v) > 0 {
					got[host] = v
				}
			}
		}
	}
	return got
}

// messages returns every message a host's tasks printed or failed with, in order.
func (p play) messages(host string) []string {
	var msgs []string
	for _, pl := range p.out.Plays {
		for _, task := range pl.Tasks {
			res := task.Hosts[host]
			if m, ok := res["msg"].(string); ok {
				msgs = append(msgs, task.Task.Name+": "+m)
			}
			if m, ok := res["module_stderr"].(string); ok && m != "" {
				msgs = append(msgs, task.Task.Name+": module stderr: "+m)
			}
		}
	}
	return msgs
}

// history reads the helper's audit trail in a host's journal, as an operator would.
func (h *fleetHost) history(t *testing.T) []audit.Run {
	t.Helper()
	var runs []audit.Run
	if err := json.Unmarshal([]byte(h.Sh("nginx-upgradectl history --json")), &runs); err != nil {
		t.Fatalf("%s: history --json: %v", h.name, err)
	}
	return runs
}

// installedVersion is the version of nginx dpkg has installed on a host.
func (h *fleetHost) installedVersion() string {
	return strings.TrimSpace(h.Sh("dpkg-query -W -f '${Version}' nginx"))
}

// agree asserts that what the play printed for a host (the role's nginx_upgrade_result) and the
// host's own history tell the same run.
func agree(t *testing.T, h *fleetHost, res map[string]any, outcome string) audit.Run {
	t.Helper()
	runs := h.history(t)
	if len(runs) != 1 {
		t.Fatalf("%s: history has %d runs, want the play's one: %+v", h.name, len(runs), runs)
	}
	run := runs[0]
	str := func(k string) string { return fmt.Sprint(res[k]) }
	if str("outcome") != outcome || run.Outcome != outcome || str("upgrade_id") != run.UpgradeID || run.UpgradeID == "" {
		t.Errorf("%s: the play says %s (upgrade_id %s), the journal %s (%s); want both %s", h.name, str("outcome"), str("upgrade_id"), run.Outcome, run.UpgradeID, outcome)
	}
	if str("old_master_pid") != strconv.Itoa(run.OldMasterPID) || (outcome == "success" && str("new_master_pid") != strconv.Itoa(run.NewMasterPID)) {
		t.Errorf("%s: the play says master %s → %s, the journal %d → %d", h.name, str("old_master_pid"), str("new_master_pid"), run.OldMasterPID, run.NewMasterPID)
	}
	if !strings.HasPrefix(run.OldSHA256, str("old_sha256")) || !strings.HasPrefix(run.NewSHA256, str("new_sha256")) || len(str("new_sha256")) < 12 {
		t.Errorf("%s: the play says sha %s → %s, the journal %s → %s", h.name, str("old_sha256"), str("new_sha256"), run.OldSHA256, run.NewSHA256)
	}
	if !strings.HasPrefix(run.InvokedBy, "ansible:") {
		t.Errorf("%s: INVOKED_BY %q, want ansible:PLAY", h.name, run.InvokedBy)
	}
	return run
}

// A rolling swap of every host, one batch after another, under load on each: every host on
// the new build of its release (the Debian 13 host, web3, on 13's), MainPID handed over, no
// restart, nothing failed; the play and each host's journal tell the same runs.
func TestFleetRollingSwapOfAllHosts(t *testing.T) {
	// The role installs our package first, from the .deb on the controller.
	f := fleetT(t, false)
	ours := map[string]any{"nginx_upgrade_deb": labtest.PackageT(t, "deb")}
	inv := f.inventory(t, ours, newPackages)
	f.startTraffic(t)
	p := f.runPlaybook(t, inv)
	f.stopTraffic(t)
	if p.rc != 0 {
		t.Fatalf("ansible-playbook exited %d, want 0", p.rc)
	}

	results := p.fact("nginx_upgrade_result")
	var runs []audit.Run
	for _, h := range f.hosts {
		if st := p.out.Stats[h.name]; st.Failures != 0 || st.Unreachable != 0 || st.Changed == 0 {
			t.Errorf("%s: recap %+v, want changed and no failures", h.name, st)
		}
		master := labtest.OneMasterOn(t, h.Box, h.Builds.New, h.before)
		if got := h.installedVersion(); got != h.Builds.NewVersion {
			t.Errorf("%s: nginx %s installed, want %s", h.name, got, h.Builds.NewVersion)
		}
		if got := h.Sh("dpkg-query -W -f '${db:Status-Abbrev}' nginx-upgrade"); strings.TrimSpace(got) != "ii" {
			t.Errorf("%s: nginx-upgrade package %q, want installed by the role", h.name, got)
		}
		run := agree(t, h, results[h.name], "success")
		if run.NewMasterPID != master {
			t.Errorf("%s: the journal's new master %d, MainPID %d", h.name, run.NewMasterPID, master)
		}
		t.Logf("%s: %q", h.name, p.messages(h.name))
		runs = append(runs, run)
	}
	// serial: [1, "25%"] of three hosts is three batches: each swap ends before the next begins.
	for i := 1; i < len(runs); i++ {
		if !runs[i-1].End.Before(runs[i].Start) {
			t.Errorf("%s swapped %s–%s, %s from %s: want one batch after another", f.hosts[i-1].name,
				runs[i-1].Start.Format(time.StampMilli), runs[i-1].End.Format(time.StampMilli), f.hosts[i].name, runs[i].Start.Format(time.StampMilli))
		}
	}
	if t.Failed() {
		return
	}

	// The whole fleet back: the same play, naming each host's old packages.
	swapped := map[string]testbed.Unit{}
	for _, h := range f.hosts {
		swapped[h.name] = h.Unit("nginx")
	}
	inv = f.inventory(t, ours, oldPackages)
	f.startTraffic(t)
	p = f.runPlaybook(t, inv)
	f.stopTraffic(t)
	if p.rc != 0 {
		t.Fatalf("rolling back: ansible-playbook exited %d, want 0", p.rc)
	}
	for _, h := range f.hosts {
		labtest.OneMasterOn(t, h.Box, h.Builds.Old, swapped[h.name])
		if got := h.installedVersion(); got != h.Builds.OldVersion {
			t.Errorf("%s: nginx %s installed after the rollback play, want %s", h.name, got, h.Builds.OldVersion)
		}
	}
}

// The second host is offered a build whose workers die: the helper rolls it back and the host
// fails, the play stops there (max_fail_percentage 0): the first host stays on the new build,
// the third (Debian 13) is untouched, and no request fails anywhere. Resumed, the play swaps
// the second and the third.
func TestFleetStopsAtTheFirstBadHost(t *testing.T) {
	f := fleetT(t, true)
	web1, web2, web3 := f.hosts[0], f.hosts[1], f.hosts[2]
	inv := f.inventory(t, nil, func(h *fleetHost) map[string]any {
		if h == web2 {
			return nginxPackages(h.Builds.NewVersion, brokenVersion(h.Builds))
		}
		return newPackages(h)
	})
	f.startTraffic(t)
	p := f.runPlaybook(t, inv)
	f.stopTraffic(t)
	if p.rc == 0 {
		t.Fatalf("ansible-playbook exited 0 with a broken build on web2")
	}
	results := p.fact("nginx_upgrade_result")

	if st := p.out.Stats["web1"]; st.Failures != 0 || st.Changed == 0 {
		t.Errorf("web1: recap %+v, want swapped", st)
	}
	labtest.OneMasterOn(t, web1.Box, web1.Builds.New, web1.before)
	agree(t, web1, results["web1"], "success")

	if st := p.out.Stats["web2"]; st.Failures != 1 {
		t.Errorf("web2: recap %+v, want one failure", st)
	}
	if master := labtest.OneMasterOn(t, web2.Box, web2.Builds.Old, web2.before); master != web2.before.MainPID {
		t.Errorf("web2: MainPID %d, want the old master %d", master, web2.before.MainPID)
	}
	if got := web2.installedVersion(); got != brokenVersion(web2.Builds) {
		t.Errorf("web2: nginx %s installed, want the broken %s (installed, not running)", got, brokenVersion(web2.Builds))
	}
	agree(t, web2, results["web2"], "rolled_back")
	labtest.MustContain(t, "web2's failure", strings.Join(p.messages("web2"), "\n"), "rolled back", "nginx-upgradectl history")

	if st, ran := p.out.Stats["web3"]; ran && st.Ok+st.Changed+st.Failures > 0 {
		t.Errorf("web3: recap %+v, want untouched", st)
	}
	if master := labtest.OneMasterOn(t, web3.Box, web3.Builds.Old, web3.before); master != web3.before.MainPID {
		t.Errorf("web3: MainPID %d, want %d", master, web3.before.MainPID)
	}
	if got := web3.installedVersion(); got != web3.Builds.OldVersion {
		t.Errorf("web3: nginx %s installed, want %s untouched", got, web3.Builds.OldVersion)
	}
	if runs := web3.history(t); len(runs) != 0 {
		t.Errorf("web3: %d runs in its journal, want none", len(runs))
	}
	if t.Failed() {
		return
	}

	// Resume: with web2 offered the good build, the same play again. web1 is already there (no
	// change, no run), web2 and web3 swap.
	f.startTraffic(t)
	p = f.runPlaybook(t, f.inventory(t, nil, newPackages))
	f.stopTraffic(t)
	if p.rc != 0 {
		t.Fatalf("resuming: ansible-playbook exited %d, want 0", p.rc)
	}
	if st := p.out.Stats["web1"]; st.Changed != 0 || st.Failures != 0 {
		t.Errorf("web1: recap %+v when resuming, want no change", st)
	}
	if runs := web1.history(t); len(runs) != 1 {
		t.Errorf("web1: %d runs after resuming, want still 1", len(runs))
	}
	for _, h := range []*fleetHost{web2, web3} {
		if st := p.out.Stats[h.name]; st.Changed == 0 || st.Failures != 0 {
			t.Errorf("%s: recap %+v when resuming, want swapped", h.name, st)
		}
		labtest.OneMasterOn(t, h.Box, h.Builds.New, h.before)
	}
	// web3's one run is the resumed play's.
	if run := agree(t, web3, p.fact("nginx_upgrade_result")["web3"], "success"); run.NewMasterPID != web3.Unit("nginx").MainPID {
		t.Errorf("web3: the journal's new master %d, MainPID %d", run.NewMasterPID, web3.Unit("nginx").MainPID)
	}
}

// --check on a mixed fleet: web1 and web3 (Debian 13) have the new build of their release on
// disk, installed without a swap; web2 runs what is on disk. Taking the binary on disk, exactly
// web1 and web3 would swap; naming the new packages, web2 would too. Nothing changes.
func TestFleetCheckModeReportsTheHostsThatWouldSwap(t *testing.T) {
	f := fleetT(t, true)
	for _, h := range []*fleetHost{f.hosts[0], f.hosts[2]} {
		// As the role installs packages: the restart refused, the swap left to the caller.
		out, rc := labtest.BoxRun(t, h.Box, "NGINX_UPGRADE_DEFER=1 DEBIAN_FRONTEND=noninteractive dpkg -i "+labtest.NewDebs(h.Box))
		if rc != 0 {
			t.Fatalf("%s: dpkg -i exited %d", h.name, rc)
		}
		labtest.MustContain(t, h.name+"'s dpkg output", out, "swap left to the caller (NGINX_UPGRADE_DEFER=1)")
		// The .path unit sees the new binary too, and leaves it alone.
		labtest.PathUnitSays(t, h.Box, "left to its caller already")
	}
	f.startTraffic(t)
	pending := map[string]bool{"web1": true, "web3": true}
	for _, c := range []struct {
		name  string
		vars  func(*fleetHost) map[string]any
		swaps map[string]bool
	}{
		{"the binary on disk", nil, pending},
		{"the new packages", newPackages, map[string]bool{"web1": true, "web2": true, "web3": true}},
	} {
		p := f.runPlaybook(t, f.inventory(t, nil, c.vars), "--check")
		if p.rc != 0 {
			t.Fatalf("%s: ansible-playbook --check exited %d", c.name, p.rc)
		}
		for _, h := range f.hosts {
			if st := p.out.Stats[h.name]; st.Failures != 0 || (st.Changed > 0) != c.swaps[h.name] {
				t.Errorf("%s: %s: recap %+v, want changed=%v", c.name, h.name, st, c.swaps[h.name])
			}
		}
	}
	f.stopTraffic(t)

	for _, h := range f.hosts {
		if u := h.Unit("nginx"); u != h.before {
			t.Errorf("%s: nginx.service %+v after --check, before %+v", h.name, u, h.before)
		}
		if runs := h.history(t); len(runs) != 0 {
			t.Errorf("%s: %d runs in the journal after --check, want none", h.name, len(runs))
		}
		var st struct {
			UpgradePending bool `json:"upgrade_pending"`
		}
		json.Unmarshal([]byte(h.Sh("nginx-upgradectl status --json || true")), &st)
		want, version := pending[h.name], h.Builds.OldVersion
		if want {
			version = h.Builds.NewVersion
		}
		if st.UpgradePending != want || h.installedVersion() != version {
			t.Errorf("%s: upgrade pending %v, nginx %s installed; want %v, %s as before --check", h.name, st.UpgradePending, h.installedVersion(), want, version)
		}
	}
}
