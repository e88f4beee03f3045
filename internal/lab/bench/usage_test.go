package bench

import (
	"os/exec"
	"testing"
	"time"
)

func TestParseVmHWM(t *testing.T) {
	v, err := parseVmHWM("Name:\tnginx-upgradectl\nVmPeak:\t 1247040 kB\nVmHWM:\t   14560 kB\nVmRSS:\t   14012 kB\n")
	if err != nil || v != 14560 {
		t.Errorf("parseVmHWM = %d, %v; want 14560", v, err)
	}
	if _, err := parseVmHWM("Name:\tkthreadd\nState:\tS (sleeping)\n"); err == nil {
		t.Error("no VmHWM line accepted")
	}
}

func TestRunMeasuredTellsOwnCPUFromChildrens(t *testing.T) {
	// The subshell burns the CPU, as nginx's -T does for the helper; sh only waits for it.
	cmd := exec.Command("sh", "-c", `(i=0; while [ $i -lt 400000 ]; do i=$((i+1)); done)`)
	u, err := runMeasured(cmd)
	if err != nil {
		t.Fatal(err)
	}
	if u.CPU < 100*time.Millisecond || u.OwnCPU > u.CPU/4 {
		t.Fatalf("CPU %s, own %s; want the child's CPU counted in CPU only", u.CPU, u.OwnCPU)
	}
}
