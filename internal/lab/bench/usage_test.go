package bench

import "testing"

func TestParseVmHWM(t *testing.T) {
	v, err := parseVmHWM("Name:\tnginx-upgradectl\nVmPeak:\t 1247040 kB\nVmHWM:\t   14560 kB\nVmRSS:\t   14012 kB\n")
	if err != nil || v != 14560 {
		t.Errorf("parseVmHWM = %d, %v; want 14560", v, err)
	}
	if _, err := parseVmHWM("Name:\tkthreadd\nState:\tS (sleeping)\n"); err == nil {
		t.Error("no VmHWM line accepted")
	}
}
