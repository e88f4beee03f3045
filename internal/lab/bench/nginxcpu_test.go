package bench

import (
	"os"
	"testing"
	"time"
)

func TestCPUPctBetweenSamplesInTheWindow(t *testing.T) {
	s := []cpuSample{{0, 0}, {time.Second, 500 * time.Millisecond}, {2 * time.Second, 700 * time.Millisecond}, {3 * time.Second, 2700 * time.Millisecond}}
	if got := cpuPct(s, 0, 2500*time.Millisecond); got != 35 {
		t.Errorf("cpuPct over the first 2 s = %v, want 35", got)
	}
	if got := cpuPct(s, 2*time.Second, 4*time.Second); got != 200 {
		t.Errorf("cpuPct over the last second = %v, want 200", got)
	}
	if got := cpuPct(s, 5*time.Second, 6*time.Second); got != -1 {
		t.Errorf("cpuPct of an empty window = %v, want -1", got)
	}
}

func TestOwnCPUReadsThisProcess(t *testing.T) {
	deadline := time.Now().Add(200 * time.Millisecond)
	for time.Now().Before(deadline) { // burn a little CPU: at least some ticks
	}
	if c, err := ownCPU(os.Getpid()); err != nil || c <= 0 {
		t.Fatalf("ownCPU(self) = %v, %v; want some CPU", c, err)
	}
}
