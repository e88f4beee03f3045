package upgrade

import (
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"
)

// memFixture lays out /proc and /sys/fs/cgroup files under a temporary directory.
type memFixture struct {
	t   *testing.T
	src memorySource
}

func newMemFixture(t *testing.T) memFixture {
	dir := t.TempDir()
	return memFixture{t, memorySource{proc: filepath.Join(dir, "proc"), cgroup: filepath.Join(dir, "cgroup")}}
}

func (f memFixture) write(root, rel, text string) {
	p := filepath.Join(root, rel)
	if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
		f.t.Fatal(err)
	}
	if err := os.WriteFile(p, []byte(text), 0o644); err != nil {
		f.t.Fatal(err)
	}
}

// smapsRollup has the shape of a real /proc/PID/smaps_rollup (Debian 12): Pss_* lines follow Pss.
func smapsRollup(pssKB int) string {
	return "55d0c8a3e000-7ffd5e5f6000 ---p 00000000 00:00 0                          [rollup]\n" +
		"Rss:               12345 kB\n" + fmt.Sprintf("Pss:               %d kB\n", pssKB) +
		"Pss_Dirty:          1000 kB\nPss_Anon:            900 kB\nShared_Clean:       4000 kB\nSwap:                  0 kB\nSwapPss:               0 kB\n"
}

// generation writes meminfo, and a master 100 in cgroup cg with workers 101 and 102, whose Pss
// are 50, 10 and 10 MiB: a footprint of 70 MiB, a margin of 32 MiB (the floor), need 102 MiB.
func (f memFixture) generation(cg string, availableMiB int) []int {
	pids := []int{100, 101, 102}
	for i, pid := range pids {
		f.write(f.src.proc, filepath.Join(strconv.Itoa(pid), "smaps_rollup"), smapsRollup([]int{50, 10, 10}[i]<<10))
	}
	f.write(f.src.proc, "100/cgroup", "0::"+cg+"\n")
	f.write(f.src.proc, "meminfo", fmt.Sprintf("MemTotal:        8000000 kB\nMemFree:          100000 kB\nMemAvailable:   %d kB\nBuffers:  10000 kB\n", availableMiB<<10))
	return pids
}

// measure is the check's two reads in turn: master 100's generation, pids, then what is available.
func (m memorySource) measure(pids []int) (headroom, error) {
	fp, err := m.footprint(pids)
	if err != nil {
		return headroom{}, err
	}
	return m.headroom(100, fp)
}

func (f memFixture) measure(pids []int) headroom {
	f.t.Helper()
	h, err := f.src.measure(pids)
	if err != nil {
		f.t.Fatal(err)
	}
	return h
}

func TestHeadroomComparesMemAvailableWithPssPlusMargin(t *testing.T) {
	f := newMemFixture(t)
	pids := f.generation("/", 103) // no cgroup files: no limit
	h := f.measure(pids)
	if h.footprint != 70<<20 || h.margin != 32<<20 || h.need() != 102<<20 || h.available != 103<<20 || !h.enough() {
		t.Fatalf("headroom %+v, want footprint 70 MiB, margin 32 MiB, 103 MiB available: enough", h)
	}
	f.generation("/", 101)
	if h := f.measure(pids); h.enough() || h.String() != "need 102.0 MiB (old generation 70.0 MiB + margin 32.0 MiB), available 101.0 MiB (MemAvailable 101.0 MiB)" {
		t.Fatalf("headroom %s (enough %v), want not enough, in those words", h, h.enough())
	}
}

func TestHeadroomTakesTheTightestCgroupLimitUpToTheRoot(t *testing.T) {
	f := newMemFixture(t)
	pids := f.generation("/system.slice/nginx.service", 4000)
	unit, slice := "system.slice/nginx.service", "system.slice"
	f.write(f.src.cgroup, unit+"/memory.max", "314572800\n")     // 300 MiB
	f.write(f.src.cgroup, unit+"/memory.current", "209715200\n") // 200 MiB: 100 MiB left
	f.write(f.src.cgroup, slice+"/memory.max", "max\n")
	f.write(f.src.cgroup, slice+"/memory.current", "5000000000\n")
	h := f.measure(pids)
	if h.available != 100<<20 || h.enough() || !strings.Contains(h.limitedBy, "cgroup /system.slice/nginx.service: memory.max 300.0 MiB - memory.current 200.0 MiB") {
		t.Fatalf("headroom %s, want 100 MiB left by the unit's cgroup", h)
	}
	// Page cache the kernel reclaims first (files served and logged) is room, not usage.
	f.write(f.src.cgroup, unit+"/memory.stat", "anon 52428800\nfile 157286400\nactive_file 10485760\ninactive_file 146800640\n")
	if h := f.measure(pids); h.available != 240<<20 || !h.enough() || !strings.HasSuffix(h.limitedBy, "(of which inactive_file 140.0 MiB, reclaimable)") {
		t.Fatalf("headroom %s, want 240 MiB: 200 MiB used, 140 MiB of it inactive file cache", h)
	}
	if err := os.Remove(filepath.Join(f.src.cgroup, unit, "memory.stat")); err != nil {
		t.Fatal(err)
	}
	// A parent slice with less room left binds the unit as much.
	f.write(f.src.cgroup, slice+"/memory.max", "5100000000\n")
	if h := f.measure(pids); h.available != 100000000 || !strings.Contains(h.limitedBy, "cgroup /system.slice:") {
		t.Fatalf("headroom %s, want 100,000,000 bytes left by the slice", h)
	}
	// Over the limit (the kernel lets memory.current pass memory.max briefly): no room, not a wrap.
	f.write(f.src.cgroup, unit+"/memory.current", "400000000\n")
	if h := f.measure(pids); h.available != 0 {
		t.Fatalf("headroom %s, want 0 available", h)
	}
	// Lots of room in the cgroup, little on the host: MemAvailable binds.
	f.write(f.src.cgroup, unit+"/memory.max", "max\n")
	f.write(f.src.cgroup, slice+"/memory.max", "max\n")
	f.generation("/system.slice/nginx.service", 90)
	if h := f.measure(pids); h.available != 90<<20 || h.limitedBy != "MemAvailable 90.0 MiB" {
		t.Fatalf("headroom %s, want MemAvailable's 90 MiB", h)
	}
}

func TestMemoryFilesThatDoNotParseAreErrors(t *testing.T) {
	for _, s := range []string{"", "Pss: 12\n", "Pss: x kB\n", "Pss: 12 MB\n", "Pss: -1 kB\n", "Rss: 12 kB\n", "Pss: 99999999999999999999 kB\n"} {
		if v, err := kbField([]byte(s), "Pss:"); err == nil {
			t.Errorf("kbField(%q) = %d, want an error", s, v)
		}
	}
	f := newMemFixture(t)
	pids := f.generation("/system.slice/nginx.service", 4000)
	f.write(f.src.cgroup, "system.slice/nginx.service/memory.max", "lots\n")
	if _, err := f.src.measure(pids); err == nil || !strings.Contains(err.Error(), "memory.max") {
		t.Errorf("measure with memory.max %q = %v, want an error naming it", "lots", err)
	}
	if _, err := f.src.measure([]int{100, 999}); err == nil || !strings.Contains(err.Error(), "pid 999") {
		t.Errorf("measure of a gone worker = %v, want an error naming it", err)
	}
}

func TestCgroupLimitsReadsV2AndTheV1MemoryController(t *testing.T) {
	hybrid := "9:name=systemd:/\n4:memory:/process_api/1c1f\n3:cpu,cpuacct:/x\n0::/\n"
	got := cgroupLimits([]byte(hybrid))
	want := []cgroupLimit{
		{mount: "memory", dir: "/process_api/1c1f", max: "memory.limit_in_bytes", usage: "memory.usage_in_bytes", inactive: "total_inactive_file"},
		{dir: "/", max: "memory.max", usage: "memory.current", inactive: "inactive_file"},
	}
	if !slices.Equal(got, want) {
		t.Errorf("cgroupLimits(%q) = %+v, want %+v", hybrid, got, want)
	}
	if got := cgroupLimits([]byte("12:cpu,memory:/a/b/\n")); len(got) != 1 || got[0].dir != "/a/b" || got[0].mount != "memory" {
		t.Errorf("a joint v1 controller: %+v", got)
	}
	if got := cgroupLimits([]byte("garbage\n1:pids:/\n")); len(got) != 0 {
		t.Errorf("no memory hierarchy: %+v", got)
	}
}

func TestHeadroomReadsTheV1MemoryController(t *testing.T) {
	f := newMemFixture(t)
	pids := f.generation("/", 4000)
	f.write(f.src.proc, "100/cgroup", "4:memory:/process_api/1c1f\n0::/\n")
	f.write(f.src.cgroup, "memory/memory.limit_in_bytes", "9223372036854771712\n") // v1's "no limit"
	f.write(f.src.cgroup, "memory/memory.usage_in_bytes", "5000000000\n")
	f.write(f.src.cgroup, "memory/process_api/memory.limit_in_bytes", "9223372036854771712\n")
	f.write(f.src.cgroup, "memory/process_api/memory.usage_in_bytes", "5000000000\n")
	f.write(f.src.cgroup, "memory/process_api/1c1f/memory.limit_in_bytes", "209715200\n")
	f.write(f.src.cgroup, "memory/process_api/1c1f/memory.usage_in_bytes", "146800640\n")
	if h := f.measure(pids); h.available != 60<<20 || h.enough() || h.limitedBy != "cgroup /process_api/1c1f: memory.limit_in_bytes 200.0 MiB - memory.usage_in_bytes 140.0 MiB" {
		t.Fatalf("headroom %s, want 60 MiB left under the v1 limit", h)
	}
}

func TestMarginIsATenthAndAtLeast32MiB(t *testing.T) {
	for fp, want := range map[uint64]uint64{0: 32 << 20, 100 << 20: 32 << 20, 1 << 30: (1 << 30) / 10} {
		if got := memoryMargin(fp); got != want {
			t.Errorf("memoryMargin(%d) = %d, want %d", fp, got, want)
		}
	}
}

func TestDeadlinesScaleFromTheTestWithTheFloor(t *testing.T) {
	if d, why := scaled(15*time.Second, startPerTest, 12*time.Second); d != 36*time.Second || why != "3 × the test, above the 15s floor" {
		t.Errorf("scaled(15s, 3, 12s) = %s, %q", d, why)
	}
	if d, why := scaled(15*time.Second, startPerTest, 2*time.Second); d != 15*time.Second || why != "the floor; 3 × the test is less" {
		t.Errorf("scaled(15s, 3, 2s) = %s, %q", d, why)
	}
}

func TestPreflightScalesTheWaitsAfterUSR2(t *testing.T) {
	r := &run{opts: Options{StartTimeout: 15 * time.Second, HealthTimeout: 10 * time.Second}, rec: newRecorder(nil)}
	r.scaleDeadlines(12 * time.Second)
	if r.opts.StartTimeout != 36*time.Second || r.opts.HealthTimeout != 12*time.Second {
		t.Fatalf("start %s, health %s after a 12s -T; want 36s and 12s", r.opts.StartTimeout, r.opts.HealthTimeout)
	}
	want := "nginx -T took 12s: start and settle deadline 36s (3 × the test, above the 15s floor), health round deadline 12s (1 × the test, above the 10s floor)"
	if got := r.rec.events[0].Message; got != want {
		t.Errorf("step line %q, want %q", got, want)
	}
}
